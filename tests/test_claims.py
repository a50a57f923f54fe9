"""The claims check of tools/check_notebooks.py: every number the prose reports is printed above it,
or cited (notebooks/README.md, "Numbers in the prose")."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

import check_notebooks


def printing(text: str) -> nbformat.NotebookNode:
    """A code cell whose stored output is `text` on stdout."""
    return new_code_cell(
        f"print({text!r})", outputs=[new_output("stream", name="stdout", text=text + "\n")]
    )


def problems(*cells) -> list[str]:
    """The claims problems of a notebook made of `cells` (strings are markdown cells)."""
    nb = new_notebook(cells=[new_markdown_cell(c) if isinstance(c, str) else c for c in cells])
    return check_notebooks.check_claims(nb, "lesson.ipynb")


def test_a_hand_typed_number_fails_naming_the_notebook_cell_and_number(tmp_path, capsys):
    nb = new_notebook(
        cells=[
            new_markdown_cell("# A lesson\n\n- one objective\n\n**Run time:** 1 s"),
            printing("validation accuracy 0.812"),
            new_markdown_cell("The network reaches 81.2% on the validation set."),
            new_markdown_cell("On the test set it reaches 79.4%, a planted number."),
        ]
    )
    path = tmp_path / "planted.ipynb"
    nbformat.write(nb, path)
    found = [p for p in check_notebooks.check_notebook(path) if "prose cites" in p]
    assert len(found) == 1, found
    assert "planted.ipynb, cell 3: the prose cites 79.4% but no output above prints it" in found[0]
    # `make check-notebooks` runs main(), which prints the same line and fails.
    assert check_notebooks.main([str(path)]) == 1
    assert "cell 3: the prose cites 79.4%" in capsys.readouterr().out


def test_a_commit_hash_in_an_output_is_no_number_that_breaks_the_check():
    # "78e556e35591" would read as 78 x 10^556 (a float overflow) if taken for a number
    output = "computed on Intel Xeon (cpu, 1 thread, commit 78e556e35591); accuracy 91.6%"
    assert problems(printing(output), "It reached 91.6% on the test set.") == []
    assert len(problems(printing(output), "It reached 93.0% on the test set.")) == 1


def test_a_number_counts_only_if_printed_above_the_prose():
    prose = "The module has 163,328 weights."
    assert problems(printing("weights: 163328"), prose) == []
    below = problems(prose, printing("weights: 163328"))
    assert len(below) == 1 and "cell 0: the prose cites 163,328" in below[0]


@pytest.mark.parametrize(
    "prose, output",
    [
        ("1,568 pixels", "1568"),  # thousands separators
        ("12288 values", "12,288"),
        ("a loss of 2.30", "loss 2.3026"),  # rounding to the shown precision
        ("88% accurate", "acc 0.8772"),  # percent and fraction
        ("87.7% accurate", "acc (%) 87.7"),
        ("an accuracy of 0.877", "acc 87.7%"),
        ("2.4x faster", "speed-up 2.37"),  # ratios
        ("2.4x faster", "2.4x"),
        ("6.8M parameters", "6,797,556"),  # units that scale
        ("303 million MACs", "303,464,448"),
        ("1.58 G MACs", "1.583 G"),
        ("1.5 billion", "1,502,000,000"),
        ("159K weights", "159,488"),
        ("between 167 and 263 thousand parameters", "167,146 ... 263,210"),  # a range's unit
        ("a deviation of 1.09e+04", "std 10912.3"),
    ],
)
def test_normalisations_match_what_is_printed(prose, output):
    assert problems(printing(output), prose) == []


@pytest.mark.parametrize(
    "prose, output",
    [
        ("87.73% accurate", "acc 0.877"),  # more digits than printed
        ("2.5x faster", "speed-up 2.37"),
        ("303 million MACs", "304,000,000"),
        ("1,568 pixels", "1,569"),
        ("0.3 points better", "23.1% and 22.8%"),  # a difference the reader computes
    ],
)
def test_numbers_that_differ_from_the_output_fail(prose, output):
    assert len(problems(printing(output), prose)) == 1


@pytest.mark.parametrize(
    "prose",
    [
        "A 3x3 conv and a 1x7 conv on a 299x299x3 image, 28×28 maps.",  # sizes
        "Published in 2015 and in 1998.",  # years
        "Lesson 5 and section 6 build on Lessons 1 and 2; see Table 14 and Figure 15.",
        "Three epochs of 8 steps, 12 classes, 0 errors.",  # small integers in prose
        "Set `lr=0.01` and `EPOCHS = 300`, then run\n\n```python\nfit(epochs=300)\n```",
        "The loss $\\ell = -\\log p_{123}$ and $$x^{256}$$.",  # math
        "See [the docs](https://example.org/v/2024/page123.html) and <https://x.org/77>.",
        "ResNet-50, Inception-v3, top-5 error, conv1, inception 4e, float32, x86-64.",
        "arXiv:1602.07261 and Section 4.2.1 of version 2.3.1.",
        "## 5. Results\n\n1. first\n2. second",  # heading and list numbers
        "**Run time:** about 75 s on a 2-core CPU (measured: 61 s to 80 s).",
        "| Lesson | Run time |\n|---|---|\n| 7 | about 2.5 min |\n| 8 | 95 s |",
    ],
)
def test_exempt_forms_pass_without_any_output(prose):
    assert problems(prose) == []


@pytest.mark.parametrize(
    "prose",
    [
        "The paper reports 21.2% top-1 error (Szegedy et al. 2015, Table 3).",
        "With BN it needed 14x fewer steps (Ioffe & Szegedy 2015, Figure 2).",
        "The paper's Table 1 lists 159K parameters for module 3a.",
        "It has about 13.6 million parameters (BN paper, Section 4.2).",
        "The v3 paper (Section 6) calls it 42 layers deep.",
        "The 14x comes from Figure 3 of the BN paper.",
        "A later paper, Szegedy et al. (2016, Figure 15), used 0.1 to 0.3.",
        "Its abstract of the v3 paper gives 5 billion multiply-adds.",
        "Keras lists 23.9M parameters (source: the Keras applications table).",
        "| Network | top-1 (Szegedy et al. 2016, Table 2) |\n|---|---|\n| v4 | 20.0% |",
    ],
)
def test_cited_numbers_pass(prose):
    assert problems(prose) == []


def test_a_citation_covers_only_its_own_sentence_and_needs_a_place():
    cited = "The paper measured 22.8% (Szegedy et al. 2015, Table 3). Ours reached 64.2%."
    found = problems(cited)
    assert len(found) == 1 and "64.2%" in found[0]
    # An author and year without the table or section is not a citation of a number.
    assert len(problems("Szegedy et al. 2015 report 22.8%.")) == 1


def test_each_number_is_reported_once_per_cell():
    assert len(problems("It took 186 steps; yes, 186 steps, and 90.8% accuracy.")) == 2


# --------------------------------------------------------------------------- verdicts
VERDICT = "[primary] test_acc: a - b: difference +3.0 points, 95% CI [+1.0, +5.0]: difference shown"


def verdict_problems(*cells) -> list[str]:
    nb = new_notebook(cells=[new_markdown_cell(c) if isinstance(c, str) else c for c in cells])
    return check_notebooks.check_verdicts(nb, "lesson.ipynb")


@pytest.mark.parametrize(
    "sentence",
    [
        "The reduced module was ahead on every seed.",
        "There is no difference between the two.",
        "BN is ahead of the plain network.",
        "The factorized network outperforms its twin.",
    ],
)
def test_a_verdict_needs_a_printed_comparison_above_it(sentence):
    title = "# Lesson\n\n- you will see which is ahead of the other"  # plans: exempt
    found = verdict_problems(title, sentence)
    assert len(found) == 1 and "cell 1: the prose states a verdict" in found[0], found
    assert verdict_problems(title, printing(VERDICT), sentence) == []
    assert len(verdict_problems(title, sentence, printing(VERDICT))) == 1  # below does not count


def test_sentences_without_a_verdict_and_code_pass():
    plain = "Each seed draws its own data. `compare(no difference)` is code, not prose."
    assert verdict_problems("# Lesson", plain) == []
