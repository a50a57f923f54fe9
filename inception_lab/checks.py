"""Feedback for the notebooks' exercises.

Each check prints a short pass message, or raises an AssertionError whose message is a hint:
it says what to look at, never the answer. The checks compute the expected result independently
(hand formulas, the library's reference implementation, PyTorch's own layers).

One section per lesson; a notebook calls `checks.<name>(...)` right after its exercise cell.
"""

from __future__ import annotations


def passed(message: str) -> None:
    """Print the pass message of a check."""
    print(f"Correct: {message}")


def require(condition: bool, hint: str) -> None:
    """Raise an AssertionError carrying `hint` unless `condition` holds."""
    if not condition:
        raise AssertionError(f"Not yet. Hint: {hint}")


# --- Lesson 01 ---
# Exercise 1 builds a naive module's forward pass; exercise 2 predicts its width and size by hand.
# The reference is `blocks.NaiveInception`, run on the same weights and input as the learner's.
# Distinct branch widths, so that a wrong concatenation order changes the channel layout.
_NAIVE_CFG = {"in_ch": 6, "ch1x1": 4, "ch3x3": 5, "ch5x5": 3}


def naive_forward(module_class) -> None:
    """Check a learner's naive Inception module against `blocks.NaiveInception`.

    `module_class(in_ch, ch1x1, ch3x3, ch5x5)` must create `conv1x1`, `conv3x3`, `conv5x5`
    (nn.Conv2d with bias, "same" padding) and `pool`; its forward is the exercise. The check
    copies the reference weights into it and compares outputs on a random (2, 6, 9, 9) batch.
    """
    import itertools

    import torch

    from inception_lab import blocks

    cfg = _NAIVE_CFG
    with torch.random.fork_rng(devices=[]):  # leave the notebook's random stream untouched
        torch.manual_seed(0)
        ref = blocks.NaiveInception(**cfg).eval()
        x = torch.randn(2, cfg["in_ch"], 9, 9)
        mine = module_class(*cfg.values())
    for name in ("conv1x1", "conv3x3", "conv5x5", "pool"):
        require(hasattr(mine, name), f"keep the layers the given __init__ creates (.{name})")
    with torch.no_grad():
        for name in ("1x1", "3x3", "5x5"):
            conv = ref.branches[f"branch{name}"][0].conv
            getattr(mine, f"conv{name}").weight.copy_(conv.weight)
            getattr(mine, f"conv{name}").bias.copy_(conv.bias)
        try:
            out = mine(x.clone())
        except NotImplementedError:
            raise  # the student edition's stub: let "Exercise 1: ..." reach the learner as is
        except (RuntimeError, TypeError, AttributeError) as err:
            raise AssertionError(
                f"Not yet. Hint: your forward raised {type(err).__name__}: {err}. Run each "
                "branch on x, then torch.cat the four outputs along dim=1 (the channel axis)"
            ) from err
        want = ref(x)
        # Each branch on its own, with and without the ReLU, to say *which* part is wrong.
        convs = [ref.branches[f"branch{n}"][0].conv(x) for n in ("1x1", "3x3", "5x5")]
        pooled = ref.branches["branch_pool"](x)
    require(
        isinstance(out, torch.Tensor),
        f"forward must return a tensor, it returned {type(out).__name__} (a missing `return`?)",
    )
    if out.dim() == 4 and out.shape[0] == 2 and out.shape[2:] == (9, 9):
        require(
            out.shape[1] != want.shape[1] - cfg["in_ch"],
            "the output is missing the pool branch: the max-pooled input is concatenated too",
        )
    require(
        tuple(out.shape) == tuple(want.shape),
        f"for an input of shape {tuple(x.shape)} the output should have shape "
        f"{tuple(want.shape)}, got {tuple(out.shape)}. Concatenate along the channel axis: "
        "in (N, C, H, W) that is dim=1",
    )
    if torch.allclose(out, want, atol=1e-5):
        passed(
            f"your module matches blocks.NaiveInception: {cfg['in_ch']} channels in, "
            f"{out.shape[1]} out, the spatial size kept by every branch."
        )
        return
    parts = [torch.relu(c) for c in convs] + [pooled]
    widths = [p.shape[1] for p in parts]
    for order in list(itertools.permutations(range(4)))[1:]:  # every order but the right one
        cand = torch.cat([parts[i] for i in order], dim=1)
        require(
            not torch.allclose(out, cand, atol=1e-5),
            "all four branches are there but in another order: concatenate them as "
            "1x1, 3x3, 5x5, pool (the order of `blocks.NaiveInception.branches`)",
        )
    names = ["1x1 conv", "3x3 conv", "5x5 conv", "max pool"]
    slices = torch.split(out, widths, dim=1)
    for i, (got, part) in enumerate(zip(slices, parts)):
        if torch.allclose(got, part, atol=1e-5):
            continue
        if i < 3:
            require(
                not torch.allclose(got, convs[i], atol=1e-5),
                f"the {names[i]} branch is missing its ReLU: apply torch.relu to each conv output",
            )
        else:
            require(
                not torch.allclose(got, torch.relu(pooled), atol=1e-5),
                "the pool branch has no ReLU in blocks.NaiveInception: return the pooled input "
                "as it is",
            )
        start = sum(widths[:i])
        require(
            False,
            f"channels {start}..{start + widths[i] - 1} of the output should be the {names[i]} "
            f"branch applied to x; check that this branch runs on the module's input (use "
            f"self.{['conv1x1', 'conv3x3', 'conv5x5', 'pool'][i]}(x)).",
        )
    require(False, "the output differs from blocks.NaiveInception; compare it branch by branch")


def naive_counts(
    out_channels: int, n_params: int, *, in_ch: int, ch1x1: int, ch3x3: int, ch5x5: int
) -> None:
    """Check a hand count of a naive module's output channels and parameters (weights + biases).

    The expected values are counted on a real `blocks.NaiveInception` (sum of `p.numel()`).
    """
    from inception_lab import blocks

    for name, value in (("out_channels", out_channels), ("n_params", n_params)):
        require(
            isinstance(value, int) and not isinstance(value, bool),
            f"{name} should be a whole number (an int), got {value!r}",
        )
    module = blocks.NaiveInception(in_ch, ch1x1, ch3x3, ch5x5)
    want_ch = module.out_ch
    want_params = sum(p.numel() for p in module.parameters())
    convs = {1: ch1x1, 3: ch3x3, 5: ch5x5}
    require(
        out_channels != ch1x1 + ch3x3 + ch5x5,
        "you added up the three conv branches; the pool branch also feeds the concatenation, "
        "and pooling keeps every input channel",
    )
    require(
        out_channels == want_ch,
        "the output width is the sum of the widths of all four branches; what width does "
        "a 3x3 max pool (stride 1) output for a 'in_ch'-channel input?",
    )
    weights = sum(k * k * in_ch * c for k, c in convs.items())
    require(
        n_params != weights,
        "you counted the weights; these convs also have a bias (no BatchNorm here): "
        "one per output channel",
    )
    require(
        n_params != sum(k * in_ch * c + c for k, c in convs.items()),
        "a k x k filter has k*k weights per input channel, not k",
    )
    require(
        n_params != sum((k * k + 1) * c for k, c in convs.items()),
        "each filter spans every input channel: multiply its k*k weights by in_ch",
    )
    require(
        n_params == want_params,
        f"out_channels is right; the parameter count is not ({n_params:,}). Count conv by conv: "
        "each output channel owns one k x k filter over all input channels plus one bias; the "
        "max pool has no parameters",
    )
    in_5x5 = sum(p.numel() for p in module.branches["branch5x5"].parameters())
    passed(
        f"{out_channels} output channels and {n_params:,} parameters, "
        f"{100 * in_5x5 / n_params:.0f}% of them in the 5x5 branch alone."
    )


# --- Lesson 02 ---
# Exercise 1 writes the MAC formula of a conv layer; exercise 2 fits a module under a MAC budget.
# Both are checked against the counter, `profile` (FlopCounterMode), never against a hand formula.
_MAC_CASES = (  # (in_ch, out_ch, kernel, stride, input H, input W); padding k // 2
    (192, 96, 3, 1, 28, 28),  # the worked example: 130,056,192 MACs
    (3, 64, 7, 2, 224, 224),  # GoogLeNet's first conv: stride 2 halves the output grid
    (16, 32, 5, 1, 12, 20),  # a rectangular map: H_out and W_out differ
    (480, 64, 1, 1, 14, 14),  # a 1x1 projection
)


def conv_mac_formula(conv_macs) -> None:
    """Check `conv_macs(in_ch, out_ch, k, h_out, w_out)` against `profile.count_macs`.

    The function should return the multiply-accumulates of one k x k convolution (no groups) for
    one image whose output is h_out x w_out. Cases include a stride-2 conv and a non-square map.
    """
    import torch
    from torch import nn

    from inception_lab import profile

    for in_ch, out_ch, k, stride, h, w in _MAC_CASES:
        with torch.device("meta"):  # the counter needs no real weights
            conv = nn.Conv2d(in_ch, out_ch, k, stride=stride, padding=k // 2)
        h_out, w_out = (h + 2 * (k // 2) - k) // stride + 1, (w + 2 * (k // 2) - k) // stride + 1
        want = profile.count_macs(conv, (in_ch, h, w))
        what = (
            f"a {k}x{k} conv from {in_ch} to {out_ch} channels with a {h_out}x{w_out} output "
            f"(stride {stride}, input {h}x{w})"
        )
        try:
            got = conv_macs(in_ch, out_ch, k, h_out, w_out)
        except NotImplementedError:
            raise  # the student edition's stub: its message names the exercise
        except Exception as err:  # the learner's code: any error deserves a hint, not a trace
            raise AssertionError(
                f"Not yet. Hint: conv_macs({in_ch}, {out_ch}, {k}, {h_out}, {w_out}) raised "
                f"{type(err).__name__}: {err}"
            ) from err
        require(
            isinstance(got, int | float) and not isinstance(got, bool),
            f"conv_macs should return a number, it returned {type(got).__name__}",
        )
        if got == want:
            continue
        weights = in_ch * out_ch * k * k
        require(
            got != 2 * want,
            f"for {what} you got exactly twice the counter's MACs: you counted FLOPs (a "
            "multiply and an add each); one MAC is one multiply-add",
        )
        require(
            got != want + out_ch * h_out * w_out,
            "you added the biases; by convention (the papers, FlopCounterMode) a MAC count "
            "covers the weights only: one multiply-add per weight per output pixel",
        )
        require(
            got != in_ch * out_ch * k * h_out * w_out,
            "a k x k kernel has k*k taps per input channel, not k",
        )
        require(
            got != weights * h_out * h_out or h_out == w_out,
            f"for {what} your formula uses the height twice; the output has h_out x w_out pixels",
        )
        require(
            got != weights * h * w or (h, w) == (h_out, w_out),
            f"for {what} you counted the input's pixels; every weight is used once per OUTPUT "
            "pixel (a stride-2 conv has a quarter as many)",
        )
        require(
            False,
            f"for {what} your formula gives {got:,} but the counter measures {want:,} MACs. Count "
            "the layer's weights, then how many output pixels each weight is used at",
        )
    passed(
        f"your formula matches the counter on all {len(_MAC_CASES)} layers, including "
        f"{_MAC_CASES[0][2]}x{_MAC_CASES[0][2]} conv 192 -> 96 on 28x28: "
        f"{conv_macs(192, 96, 3, 28, 28):,} MACs."
    )


def reduction_budget(
    ch3x3red: int,
    ch5x5red: int,
    *,
    budget_macs: int,
    in_ch: int,
    size: int,
    ch1x1: int,
    ch3x3: int,
    ch5x5: int,
    pool_proj: int,
) -> None:
    """Check reduction widths for a `blocks.Inception` module on a size x size x in_ch input.

    The module must cost at most `budget_macs` (counted by `profile.count_macs`) and at least 90%
    of it (wider reductions keep more information, so spend the budget), and each reduction must
    keep at least a quarter of its branch's output width (GoogLeNet never squeezes harder).
    """
    import math

    from inception_lab import blocks, profile

    for name, value in (("ch3x3red", ch3x3red), ("ch5x5red", ch5x5red)):
        require(
            isinstance(value, int) and not isinstance(value, bool) and value > 0,
            f"{name} should be a positive whole number of channels, got {value!r}",
        )
    for name, value, out in (("ch3x3red", ch3x3red, ch3x3), ("ch5x5red", ch5x5red, ch5x5)):
        require(
            value >= math.ceil(out / 4),
            f"{name}={value} squeezes its branch too hard: keep at least a quarter of the "
            f"branch's output width ({out} channels); GoogLeNet never reduces further",
        )
    module = blocks.Inception(in_ch, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)
    table = profile.branch_costs(module, (in_ch, size, size))
    macs = table.total["macs"]
    share = ", ".join(f"{r['layer']} {r['macs'] / 1e6:.1f}M" for r in table.rows)
    require(
        macs <= budget_macs,
        f"the module costs {macs:,} MACs, {macs - budget_macs:,} over the budget "
        f"(per branch: {share}). Shrink the reduction in front of the most expensive conv",
    )
    require(
        macs >= 0.9 * budget_macs,
        f"the module costs {macs:,} MACs, only {macs / budget_macs:.1%} of the budget "
        f"(per branch: {share}). Wider reductions keep more information: spend at least 90%",
    )
    passed(
        f"ch3x3red={ch3x3red}, ch5x5red={ch5x5red}: {macs:,} MACs, "
        f"{macs / budget_macs:.1%} of the {budget_macs:,} budget."
    )


# --- Lesson 03 ---


def _private_rng(check):
    """Run a check on its own seeded random stream, leaving the notebook's stream untouched."""
    import functools

    @functools.wraps(check)
    def run(*args, **kwargs):
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return check(*args, **kwargs)

    return run


@_private_rng
def auxiliary_training(aux_4a, aux_4d, loss_fn) -> None:
    """Lesson 03, Exercise 1: GoogLeNet's two auxiliary heads and its weighted training loss.

    `aux_4a` / `aux_4d`: heads for the 14x14 outputs of inception 4a (512 channels) and 4d
    (528 channels) of the paper's GoogLeNet, mapping (N, C, 14, 14) -> (N, 1000).
    `loss_fn(outputs, labels)`: for a training-mode tuple `(logits, aux1, ...)` returns
    cross_entropy(logits) + 0.3 * sum of cross_entropy(aux_i); for a plain logits Tensor (what a
    model returns in eval mode) returns cross_entropy(logits). The reference is computed here with
    `torch.nn.functional.cross_entropy`, head by head.
    """
    import torch
    from torch import nn
    from torch.nn import functional as F

    for name, head, in_ch, block in (("aux_4a", aux_4a, 512, "4a"), ("aux_4d", aux_4d, 528, "4d")):
        require(
            isinstance(head, nn.Module),
            f"{name} should be a module (an nn.Module such as blocks.AuxClassifier), "
            f"got {type(head).__name__}",
        )
        head.eval()
        try:
            with torch.no_grad():
                out = head(torch.randn(2, in_ch, 14, 14))
        except NotImplementedError:
            raise  # the student edition's stub: its message names the exercise
        except Exception as err:  # noqa: BLE001 - any error in learner code becomes a hint
            raise AssertionError(
                f"Not yet. Hint: {name} failed on the output of inception {block} "
                f"(shape (N, C, 14, 14) with C = the module's output width: "
                f"ch1x1 + ch3x3 + ch5x5 + pool_proj from Table 1). The error was: {err}"
            ) from None
        require(
            tuple(out.shape) == (2, 1000),
            f"{name} should map a batch of {block} feature maps to one score per ImageNet class, "
            f"shape (N, 1000); it returned {tuple(out.shape)}",
        )

    g = torch.Generator().manual_seed(3)
    labels = torch.randint(0, 10, (8,), generator=g)
    heads = [torch.randn(8, 10, generator=g, requires_grad=True) for _ in range(3)]
    main, aux1, aux2 = (F.cross_entropy(h, labels) for h in heads)
    expected = main + 0.3 * (aux1 + aux2)

    got = loss_fn(tuple(heads), labels)
    require(
        isinstance(got, torch.Tensor) and got.dim() == 0,
        "loss_fn should return one scalar tensor (0-d), the sum of the weighted head losses; "
        f"got {type(got).__name__}"
        + (f" of shape {tuple(got.shape)}" if hasattr(got, "shape") else ""),
    )
    require(
        got.requires_grad,
        "the loss must carry gradients back to the model: don't call .item(), .detach() or "
        "float() on it",
    )
    value = got.item()

    def near(x: torch.Tensor) -> bool:
        return abs(value - x.item()) < 1e-5

    require(
        not near(main),
        "the auxiliary outputs are ignored: the training loss should also include the "
        "cross-entropy of each auxiliary head",
    )
    require(
        not near(main + aux1 + aux2),
        "all three heads count fully: the auxiliary losses are added with a small weight "
        "(the value the paper uses is in the text above)",
    )
    require(
        not near(0.3 * (main + aux1 + aux2)),
        "only the auxiliary losses are down-weighted; the main head keeps weight 1",
    )
    require(
        not near(main + 0.3 * (aux1 + aux2) / 2),
        "each auxiliary head adds its own weighted term: sum them, don't average them",
    )
    require(
        near(expected),
        "compute torch.nn.functional.cross_entropy(output, labels) for each head, then "
        "main + weight * (each auxiliary loss)",
    )
    got.backward()
    require(
        heads[1].grad is not None and heads[2].grad is not None,
        "the loss must depend on the auxiliary outputs so that their gradients flow",
    )

    one_aux = loss_fn((heads[0], heads[1]), labels)
    require(
        isinstance(one_aux, torch.Tensor)
        and abs(one_aux.item() - (main + 0.3 * aux1).item()) < 1e-5,
        "loop over all auxiliary outputs (everything after the first element of the tuple) "
        "instead of assuming exactly two: Inception v3 has a single auxiliary head",
    )
    try:
        eval_loss = loss_fn(heads[0], labels)
    except NotImplementedError:
        raise  # the student edition's stub: its message names the exercise
    except Exception as err:  # noqa: BLE001 - any error in learner code becomes a hint
        raise AssertionError(
            "Not yet. Hint: in eval mode a model returns only the logits Tensor, not a tuple; "
            f"handle that case too (isinstance(outputs, torch.Tensor)). The error was: {err}"
        ) from None
    require(
        isinstance(eval_loss, torch.Tensor) and abs(eval_loss.item() - main.item()) < 1e-5,
        "for a plain logits Tensor (eval mode) the loss is just the cross-entropy of the logits",
    )
    passed(
        "the heads accept the 4a and 4d feature maps, and the loss is main + 0.3 x each "
        "auxiliary cross-entropy (and plain cross-entropy in eval mode)."
    )


@_private_rng
def head_params(fc_head_params, gap_head_params) -> None:
    """Lesson 03, Exercise 2: parameter counts of a flatten+FC head and of a GAP+FC head.

    `fc_head_params(channels, height, width, num_classes)`: a Linear layer on the flattened
    (channels x height x width) map, weights and biases. `gap_head_params(channels, num_classes)`:
    global average pooling (no parameters) then a Linear layer on `channels` numbers. The
    reference counts the parameters of real `nn.Linear` layers.
    """
    from torch import nn

    def count(n_in: int, n_out: int) -> int:
        return sum(p.numel() for p in nn.Linear(n_in, n_out).parameters())

    for c, h, w, k in ((1024, 7, 7, 1000), (64, 4, 4, 10), (96, 3, 5, 7)):
        fc, gap = fc_head_params(c, h, w, k), gap_head_params(c, k)
        where = f" (for a {c} x {h} x {w} map and {k} classes)"
        require(
            isinstance(fc, int) and isinstance(gap, int),
            "both functions should return an int (a number of parameters)" + where,
        )
        require(
            fc != c * h * w * k,
            "fc_head_params counts the weights but not the biases: a Linear layer also has "
            "one bias per output" + where,
        )
        require(
            fc != c * k + k,
            "fc_head_params: without pooling, the FC layer is connected to every position of "
            "the h x w grid of every channel, not to one number per channel" + where,
        )
        require(
            fc == count(c * h * w, k),
            "fc_head_params: a Linear(n_in, n_out) layer has n_in * n_out weights plus n_out "
            "biases; what is n_in after flattening the map?" + where,
        )
        require(
            gap != c * k,
            "gap_head_params counts the weights but not the biases of the Linear layer" + where,
        )
        require(
            gap != fc,
            "gap_head_params: after global average pooling each channel is a single number, so "
            "the Linear layer no longer depends on the grid size" + where,
        )
        require(
            gap == count(c, k),
            "gap_head_params: pooling itself has no parameters; count the Linear layer that "
            "follows it (inputs: one number per channel)" + where,
        )
    passed("both head counts match real nn.Linear layers.")


# --- Lesson 04 ---


def _receptive_field(module, in_ch: int, size: int = 21) -> tuple[int, int]:
    """Height and width of the input window that one central output pixel of `module` sees.

    Works on a copy whose conv weights are all 1 and whose BN layers are identities in eval mode,
    so every ReLU passes its input and the input gradient is non-zero exactly on the window.
    """
    import copy

    import torch
    from torch import nn

    probe = copy.deepcopy(module).eval()
    for m in probe.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.ones_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            m.reset_parameters()
            m.reset_running_stats()
    x = torch.ones(1, in_ch, size, size, requires_grad=True)
    y = probe(x)
    y[0, :, y.shape[2] // 2, y.shape[3] // 2].sum().backward()
    rows = (x.grad[0].abs().sum(0).sum(1) > 0).nonzero()
    cols = (x.grad[0].abs().sum(0).sum(0) > 0).nonzero()
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


@_private_rng
def factorized_7x7(make_pair) -> None:
    """Lesson 04, Exercise 1: a 7x7 conv factorized into a 1x7 and a 7x1 `ConvBNAct`.

    `make_pair(in_ch, out_ch)` returns a module mapping (N, in_ch, H, W) -> (N, out_ch, H, W)
    made of two `blocks.ConvBNAct` with kernels (1, 7) and (7, 1), in either order. The check
    measures the output shape, the receptive field (it must stay 7x7) and the weight count
    (it must be below the 49 * in_ch * out_ch of one 7x7 conv).
    """
    import torch
    from torch import nn

    from inception_lab.blocks import ConvBNAct

    for in_ch, out_ch in ((8, 16), (12, 12)):
        pair = make_pair(in_ch, out_ch)
        where = f" (make_pair({in_ch}, {out_ch}))"
        require(
            isinstance(pair, nn.Module),
            f"make_pair should return a module (e.g. nn.Sequential), got {type(pair).__name__}",
        )
        convs = [m for m in pair.modules() if isinstance(m, nn.Conv2d)]
        kernels = sorted(tuple(c.kernel_size) for c in convs)
        require(
            kernels != [(7, 7)],
            "that is the unfactorized 7x7 conv; replace it by two thin convs, one kernel one "
            "pixel high and one kernel one pixel wide" + where,
        )
        require(
            kernels == [(1, 7), (7, 1)],
            "the pair needs exactly two convs, one with kernel_size=(1, 7) and one with "
            f"kernel_size=(7, 1); found kernels {kernels}" + where,
        )
        require(
            sum(isinstance(m, ConvBNAct) for m in pair.modules()) == 2,
            "build each conv with blocks.ConvBNAct so that BN and a ReLU follow each of them "
            "(the extra nonlinearity comes for free with the factorization)" + where,
        )
        try:
            with torch.no_grad():
                y = pair.eval()(torch.randn(2, in_ch, 20, 20))
        except NotImplementedError:
            raise  # the student edition's stub: its message names the exercise
        except Exception as err:  # noqa: BLE001 - any error in learner code becomes a hint
            raise AssertionError(
                "Not yet. Hint: the pair failed on an input of shape (2, in_ch, 20, 20); the "
                "first conv takes in_ch channels and the second takes what the first one "
                f"outputs{where}. The error was: {err}"
            ) from None
        require(
            y.shape[1] == out_ch,
            f"the pair should output out_ch = {out_ch} channels, got {y.shape[1]}" + where,
        )
        require(
            tuple(y.shape[2:]) == (20, 20),
            "the grid size changed: keep the default padding='same' (and stride 1) so that "
            f"20x20 stays 20x20; got {tuple(y.shape[2:])}" + where,
        )
        field = _receptive_field(pair, in_ch)
        require(
            field == (7, 7),
            f"one output pixel should see a 7x7 window of the input, it sees {field}" + where,
        )
        weights = sum(c.weight.numel() for c in convs)
        require(
            weights < 49 * in_ch * out_ch,
            f"the pair has {weights:,} conv weights, not fewer than one 7x7 conv "
            f"({49 * in_ch * out_ch:,}): keep the middle width at most max(in_ch, out_ch)" + where,
        )
    c = 192
    convs = [m for m in make_pair(c, c).modules() if isinstance(m, nn.Conv2d)]
    weights = sum(m.weight.numel() for m in convs)
    passed(
        f"same 7x7 window, same output shape; for {c} -> {c} channels the pair has "
        f"{weights:,} conv weights instead of {49 * c * c:,} ({1 - weights / (49 * c * c):.0%} "
        "fewer)."
    )


@_private_rng
def grid_reduction(block, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> None:
    """Lesson 04, Exercise 2: an efficient grid-reduction block with a given output shape.

    `block` must map a tensor of `in_shape` (N, C, H, W) to `out_shape` and halve the grid the
    efficient way: stride-2 conv branches in parallel with a stride-2 pool (v3 paper Figure 10),
    not a pool before the convs or a full-resolution conv before a pool.
    """
    import torch
    from torch import nn

    _, c_in, h_in, _ = in_shape
    _, c_out, h_out, _ = out_shape
    require(
        isinstance(block, nn.Module),
        f"block should be a module (e.g. blocks.GridReduction), got {type(block).__name__}",
    )
    try:
        with torch.no_grad():
            y = block.eval()(torch.randn(*in_shape))
    except NotImplementedError:
        raise  # the student edition's stub: its message names the exercise
    except Exception as err:  # noqa: BLE001 - any error in learner code becomes a hint
        raise AssertionError(
            f"Not yet. Hint: the block failed on an input of shape {tuple(in_shape)}: its "
            f"in_ch must be {c_in}. The error was: {err}"
        ) from None
    require(
        tuple(y.shape[2:]) == tuple(out_shape[2:]),
        f"the grid should go from {h_in}x{h_in} to {h_out}x{h_out}, it became "
        f"{tuple(y.shape[2:])}: a stride-2 3x3 with padding p maps H to (H + 2p - 3) // 2 + 1, "
        "and every branch, the pool included, must use the same padding",
    )
    require(
        y.shape[1] == c_out,
        f"the block outputs {y.shape[1]} channels, {c_out} were asked for: the pool branch "
        f"passes all {c_in} input channels through, so the conv branches' last widths must add "
        "up to the rest",
    )
    pools = [
        m
        for m in block.modules()
        if isinstance(m, nn.MaxPool2d | nn.AvgPool2d) and m.stride in (2, (2, 2))
    ]
    strided = [m for m in block.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    require(
        bool(pools) and bool(strided),
        "halve the grid inside the block: stride-2 conv branches side by side with a stride-2 "
        "pool branch (blocks.GridReduction), rather than pooling first or convolving at full "
        "size and pooling after",
    )
    passed(
        f"{tuple(in_shape)} -> {tuple(y.shape)} with {len(strided)} stride-2 conv(s) in parallel "
        "with a stride-2 pool."
    )


# --- Lesson 05 ---


def _tensors_close(a, b, atol: float = 1e-5) -> bool:
    """True when two tensors have the same shape and values (to float32 rounding)."""
    import torch

    return (
        isinstance(a, torch.Tensor)
        and a.shape == b.shape
        and torch.allclose(a.detach().double(), b.detach().double(), rtol=1e-4, atol=atol)
    )


def _bn_reference(x, mean, var, weight, bias, eps):
    """Normalize x (N, C, H, W) with per-channel `mean` and `var` (C,), then scale and shift."""
    shape = (1, -1, 1, 1)
    return (x - mean.view(shape)) / (var.view(shape) + eps).sqrt() * weight.view(shape) + bias.view(
        shape
    )


def batch_norm_forward(batch_norm) -> None:
    """Check a from-scratch `batch_norm(x, running_mean, running_var, weight, bias, training,
    momentum, eps)` against `nn.BatchNorm2d`: the output in training mode (batch statistics),
    the in-place update of the running statistics, the gradient, and evaluation mode.

    x: (N, C, H, W); running_mean, running_var, weight, bias: (C,). Returns y, shaped like x.
    """
    import torch
    from torch import nn

    g = torch.Generator().manual_seed(5)
    n, c, h, w = 6, 3, 5, 4
    momentum, eps = 0.2, 1e-3  # not PyTorch's defaults, so hard-coded defaults show up
    # Channel 2 has a tiny spread (variance ~1e-4 < eps): there eps changes the answer.
    spread = torch.tensor([2.0, 0.5, 0.01]).view(1, c, 1, 1)
    offset = torch.tensor([1.0, -2.0, 0.5]).view(1, c, 1, 1)
    x = torch.randn(n, c, h, w, generator=g) * spread + offset
    weight, bias = torch.tensor([1.5, 0.7, 2.0]), torch.tensor([0.3, -0.1, 1.0])
    start_mean, start_var = torch.tensor([0.5, -1.0, 0.2]), torch.tensor([3.0, 0.2, 0.5])

    ref = nn.BatchNorm2d(c, eps=eps, momentum=momentum)
    with torch.no_grad():
        ref.weight.copy_(weight)
        ref.bias.copy_(bias)
        ref.running_mean.copy_(start_mean)
        ref.running_var.copy_(start_var)
    x_ref = x.clone().requires_grad_(True)
    y_ref = ref.train()(x_ref)

    # --- training mode: the output
    running_mean, running_var = start_mean.clone(), start_var.clone()
    x_in = x.clone().requires_grad_(True)
    y = batch_norm(x_in, running_mean, running_var, weight, bias, True, momentum, eps)
    require(
        isinstance(y, torch.Tensor) and y.shape == x.shape,
        f"return a tensor shaped like the input {tuple(x.shape)}, got "
        f"{tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__}.",
    )
    batch_mean = x.mean(dim=(0, 2, 3))
    biased_var = x.var(dim=(0, 2, 3), unbiased=False)
    unbiased_var = x.var(dim=(0, 2, 3), unbiased=True)
    whole = _bn_reference(x, x.mean().expand(c), x.var(unbiased=False).expand(c), weight, bias, eps)
    one = torch.ones(c)
    shape = (1, c, 1, 1)
    eps_outside = (x - batch_mean.view(shape)) / (
        biased_var.view(shape).sqrt() + eps
    ) * weight.view(shape) + bias.view(shape)
    if not _tensors_close(y, y_ref):
        require(
            not _tensors_close(y, _bn_reference(x, start_mean, start_var, weight, bias, eps)),
            "in training mode, normalize with the statistics of the current batch, not with "
            "the running statistics (those are for evaluation mode).",
        )
        require(
            not _tensors_close(y, whole),
            "batch norm keeps one mean and one variance per channel: average over the batch "
            "and spatial dimensions (N, H, W) but not over channels.",
        )
        require(
            not _tensors_close(y, _bn_reference(x, batch_mean, unbiased_var, weight, bias, eps)),
            "normalize with the biased batch variance (divide by n, as `unbiased=False` "
            "does); only the running variance uses the unbiased estimate.",
        )
        require(
            not _tensors_close(y, _bn_reference(x, batch_mean, biased_var, weight, bias, 0.0))
            and not _tensors_close(y, eps_outside),
            "look at eps: it is added to the variance inside the square root, "
            "sqrt(var + eps), and it matters for channels with a tiny variance.",
        )
        require(
            not _tensors_close(y, _bn_reference(x, batch_mean, biased_var, one, 0 * one, eps)),
            "after normalizing, scale by `weight` and shift by `bias` (one value per channel, "
            "reshaped to (1, C, 1, 1) so they broadcast).",
        )
        require(
            False,
            "in training mode: per-channel mean and biased variance over dims (0, 2, 3), "
            "x_hat = (x - mean) / sqrt(var + eps), y = weight * x_hat + bias, with the "
            "per-channel tensors reshaped to (1, C, 1, 1).",
        )

    # --- training mode: the running statistics
    require(
        not running_mean.requires_grad and not running_var.requires_grad,
        "the running statistics must not carry gradient history: update them with "
        "detached batch statistics (e.g. inside `with torch.no_grad():`).",
    )
    require(
        not (_tensors_close(running_mean, start_mean) and _tensors_close(running_var, start_var)),
        "in training mode, update running_mean and running_var in place (e.g. with "
        "`.mul_()` and `.add_()` or `.copy_()`): assigning a new tensor to the name inside "
        "your function does not change the caller's buffers.",
    )
    swapped = (1 - momentum) * batch_mean + momentum * start_mean
    require(
        not _tensors_close(running_mean, swapped),
        "PyTorch's momentum is the weight of the NEW batch statistic: "
        "running = (1 - momentum) * running + momentum * batch.",
    )
    require(
        _tensors_close(running_mean, ref.running_mean),
        "running_mean should move towards the batch mean: "
        "running = (1 - momentum) * running + momentum * batch.",
    )
    require(
        not _tensors_close(running_var, (1 - momentum) * start_var + momentum * biased_var),
        "the running variance uses the unbiased batch variance (divide by n - 1, "
        "`unbiased=True`), as nn.BatchNorm2d does; the normalization itself uses the biased one.",
    )
    require(
        _tensors_close(running_var, ref.running_var),
        "running_var should move towards the unbiased batch variance with the same momentum "
        "rule as running_mean.",
    )

    # --- the gradient flows through the batch statistics
    y_ref.pow(2).sum().backward()
    if y.requires_grad:
        y.pow(2).sum().backward()
    require(
        x_in.grad is not None and _tensors_close(x_in.grad, x_ref.grad, atol=1e-4),
        "the output must stay differentiable through the batch mean and variance: detach "
        "the statistics only for the running-statistics update, not for the normalization.",
    )

    # --- evaluation mode: running statistics, no update
    x_eval = torch.randn(4, c, h, w, generator=g) * spread + offset
    running_mean, running_var = start_mean.clone(), start_var.clone()
    with torch.no_grad():
        ref.running_mean.copy_(start_mean)
        ref.running_var.copy_(start_var)
        y_ref = ref.eval()(x_eval)
        y = batch_norm(x_eval, running_mean, running_var, weight, bias, False, momentum, eps)
    require(
        _tensors_close(running_mean, start_mean) and _tensors_close(running_var, start_var),
        "evaluation mode must leave the running statistics unchanged.",
    )
    eval_batch = _bn_reference(
        x_eval,
        x_eval.mean(dim=(0, 2, 3)),
        x_eval.var(dim=(0, 2, 3), unbiased=False),
        weight,
        bias,
        eps,
    )
    require(
        not _tensors_close(y, eval_batch),
        "in evaluation mode, normalize with running_mean and running_var instead of the "
        "batch's statistics, so a prediction does not depend on the rest of the batch.",
    )
    require(
        _tensors_close(y, y_ref),
        "in evaluation mode: y = weight * (x - running_mean) / sqrt(running_var + eps) + bias.",
    )
    passed(
        "matches nn.BatchNorm2d in training mode (output, gradient, running statistics) "
        "and in evaluation mode."
    )


# --- Lesson 06 ---


def smoothed_loss(smoothed_cross_entropy) -> None:
    """Check `smoothed_cross_entropy(logits, labels, eps)` -> mean loss over the batch (0-d
    tensor) against `nn.CrossEntropyLoss(label_smoothing=eps)`, including its gradient.

    logits: (N, K) float; labels: (N,) int64 in [0, K); targets are (1 - eps) * one_hot + eps / K.
    """
    import torch
    from torch.nn import functional as F

    g = torch.Generator().manual_seed(6)
    n, k = 7, 5
    logits = torch.randn(n, k, generator=g) * 3
    labels = torch.randint(0, k, (n,), generator=g)
    log_p = logits.log_softmax(dim=1)
    one_hot = F.one_hot(labels, k).float()

    def loss_with(targets):  # mean over the batch of -sum_k q_k log p_k
        return -(targets * log_p).sum(dim=1).mean()

    for eps in (0.1, 0.3, 0.0):
        z = logits.clone().requires_grad_(True)
        loss = smoothed_cross_entropy(z, labels, eps)
        expected = F.cross_entropy(logits, labels, label_smoothing=eps)
        require(
            isinstance(loss, torch.Tensor),
            f"return a torch tensor (the loss), got {type(loss).__name__}.",
        )
        require(
            not (loss.dim() == 1 and _tensors_close(loss.mean(), expected)),
            "return the mean of the per-example losses over the batch (a single number), "
            "as nn.CrossEntropyLoss does by default.",
        )
        require(
            loss.dim() == 0, f"return a 0-d tensor (one number), got shape {tuple(loss.shape)}."
        )
        if _tensors_close(loss, expected):
            continue
        require(
            not _tensors_close(loss, expected * n),
            "average over the batch instead of summing: nn.CrossEntropyLoss uses the mean.",
        )
        require(
            not _tensors_close(loss, -expected),
            "check the sign: the loss is MINUS the sum of target * log-probability, "
            "a positive number.",
        )
        require(
            not (eps > 0 and _tensors_close(loss, F.cross_entropy(logits, labels))),
            "eps seems to be ignored: the targets are (1 - eps) * one_hot + eps / K, "
            "not the one-hot labels.",
        )
        other = (1 - eps) * one_hot + eps / (k - 1) * (1 - one_hot)
        require(
            not _tensors_close(loss, loss_with(other)),
            "spread eps / K over EVERY class, the true one included: the true class gets "
            "1 - eps + eps / K, each other class eps / K (not eps / (K - 1)).",
        )
        require(
            not _tensors_close(loss, -(((1 - eps) * one_hot + eps / k) * logits).sum(1).mean()),
            "use log-probabilities, torch.log_softmax(logits, dim=1), not the raw logits.",
        )
        wrong_dim = -(((1 - eps) * one_hot + eps / k) * logits.log_softmax(dim=0)).sum(1).mean()
        require(
            not _tensors_close(loss, wrong_dim),
            "take the softmax over the classes (dim=1), not over the batch (dim=0).",
        )
        require(
            False,
            "build targets q = (1 - eps) * one_hot(labels, K) + eps / K, then return "
            "-(q * log_softmax(logits, dim=1)).sum(dim=1).mean().",
        )
    # The gradient, for a smoothed case.
    z = logits.clone().requires_grad_(True)
    loss = smoothed_cross_entropy(z, labels, 0.2)
    z_ref = logits.clone().requires_grad_(True)
    F.cross_entropy(z_ref, labels, label_smoothing=0.2).backward()
    if loss.requires_grad:
        loss.backward()
    require(
        z.grad is not None and _tensors_close(z.grad, z_ref.grad),
        "the loss must be differentiable with respect to the logits: build it from torch "
        "operations on `logits` only (no .detach(), .item() or numpy).",
    )
    # Numerical stability: with large logits, log(softmax(z)) underflows to -inf.
    big = torch.tensor([[200.0, 0.0, -200.0]])
    loss = smoothed_cross_entropy(big, torch.tensor([0]), 0.1)
    expected = F.cross_entropy(big, torch.tensor([0]), label_smoothing=0.1)
    require(
        bool(torch.isfinite(loss)) and _tensors_close(loss, expected, atol=1e-3),
        "with large logits (e.g. 200) the loss must stay finite: compute log-probabilities "
        "with torch.log_softmax, not torch.log(torch.softmax(...)), which underflows to -inf.",
    )
    passed("matches nn.CrossEntropyLoss(label_smoothing=eps) for eps = 0, 0.1, 0.3, gradient too.")


def _ece_reference(confidence, correct, n_bins: int, weighted=True, power=1) -> float:
    """Expected calibration error with equal-width confidence bins (lo, hi], written by hand.

    confidence: (N,) in [0, 1]; correct: (N,) bool, whether each prediction was right.
    `weighted=False` and `power=2` give two common mistakes, so that a check can name them.
    """
    correct, gaps, n = correct.double(), [], len(correct)
    for b in range(n_bins):
        in_bin = (confidence > b / n_bins) & (confidence <= (b + 1) / n_bins)
        if in_bin.any():
            gap = abs((correct[in_bin].mean() - confidence[in_bin].double().mean()).item())
            gaps.append((in_bin.sum().item() / n, gap**power))
    if not weighted:
        return sum(gap for _, gap in gaps) / len(gaps)
    return sum(w * gap for w, gap in gaps)


def calibration_error(expected_calibration_error) -> None:
    """Check `expected_calibration_error(probs, labels, n_bins)` -> float on hand-made cases
    and on random predictions, against an independent computation.

    probs: (N, K) rows summing to 1; labels: (N,) int64. ECE = sum over bins of
    (bin count / N) * |accuracy in bin - mean confidence in bin|, with n_bins equal-width bins
    of the confidence (the largest probability of each row).
    """
    import math

    import torch

    def near(a: float, b: float) -> bool:
        return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6)

    # 1. Ten predictions at confidence 0.8, half of them right: ECE = |0.5 - 0.8| = 0.3.
    # 2. Six at 0.95, all right (gap 0.05); two at 0.55, both wrong (gap 0.55):
    #    ECE = 6/8 * 0.05 + 2/8 * 0.55 = 0.175.
    # 3. Random predictions, with 10, 15 and 5 bins, against the hand-written reference.
    g = torch.Generator().manual_seed(60)
    n, k = 2000, 4
    probs = (torch.randn(n, k, generator=g, dtype=torch.float64) * 1.5).softmax(dim=1)
    labels = torch.where(
        torch.rand(n, generator=g, dtype=torch.float64) < 0.6,
        probs.argmax(dim=1),
        torch.randint(0, k, (n,), generator=g),
    )
    cases = [
        (torch.tensor([[0.8, 0.2]] * 10), torch.tensor([0, 1] * 5), 10),
        (
            torch.tensor([[0.95, 0.05]] * 6 + [[0.55, 0.45]] * 2),
            torch.tensor([0] * 6 + [1] * 2),
            10,
        ),
        (probs, labels, 10),
        (probs, labels, 15),
        (probs, labels, 5),
    ]
    for p, y, n_bins in cases:
        value = expected_calibration_error(p, y, n_bins)
        require(
            isinstance(value, float | int)
            or (isinstance(value, torch.Tensor) and value.numel() == 1),
            f"return one number (a float), got {type(value).__name__}.",
        )
        value = float(value)
        confidence, predicted = p.max(dim=1)
        correct = predicted == y
        expected = _ece_reference(confidence, correct, n_bins)
        if near(value, expected):
            continue
        true_class = p.gather(1, y[:, None])[:, 0]
        mistakes = [
            (100 * expected, "return a fraction between 0 and 1, not a percentage."),
            (
                _ece_reference(confidence, correct, n_bins, weighted=False),
                (
                    "weight each bin's gap by the fraction of predictions that fall in it "
                    "(bin count / N); a plain average over bins lets a nearly empty bin count "
                    "as much as a full one."
                ),
            ),
            (
                _ece_reference(confidence, correct, n_bins, power=2),
                "use the absolute gap |accuracy - confidence|, not its square.",
            ),
            (
                _ece_reference(true_class, correct, n_bins),
                (
                    "the confidence of a prediction is its LARGEST probability (the predicted "
                    "class), not the probability of the true class."
                ),
            ),
            (
                _ece_reference(confidence, correct, 10),
                "use the `n_bins` argument: the bins are n_bins equal-width intervals of [0, 1].",
            ),
        ]
        for wrong, hint in mistakes:
            require(not near(value, wrong), hint)
        require(
            False,
            f"for n_bins={n_bins}: split [0, 1] into n_bins equal-width bins, put each "
            "prediction in the bin of its confidence, and sum (bin count / N) * "
            "|accuracy in the bin - mean confidence in the bin| over the non-empty bins "
            f"(for {len(y)} predictions at confidence 0.8, half of them right, that is 0.3).",
        )
    passed("your ECE matches an independent computation on hand-made and random predictions.")


# --- Lesson 07 ---
# Exercise 1 writes the forward pass of a scaled residual block; exercise 2 finds the largest
# residual scale that trains without diverging in the lesson's setting.


def _residual_reference_block(scale: float):
    """A small `blocks.InceptionResNetBlock` (6 channels; branches 4 and 5 wide, so that a wrong
    concatenation order or a sum instead of a concatenation shows), in eval mode."""
    from inception_lab import blocks

    spec = {"branch1x1": [(4, 1)], "branch3x3": [(3, 1), (5, 3)]}
    return blocks.InceptionResNetBlock(6, spec, scale=scale).eval()


def scaled_residual_forward(scaled_residual) -> None:
    """Check `scaled_residual(x, branches, project, scale)` against `blocks.InceptionResNetBlock`.

    x: (N, C, H, W); branches: the block's branches in concatenation order (a list of modules,
    each (N, C, H, W) -> (N, C_i, H, W)); project: the linear 1x1 conv (N, sum C_i, H, W) ->
    (N, C, H, W); scale: a float. Must return ReLU(x + scale * project(concat(branches(x)))).
    """
    import torch

    with torch.random.fork_rng(devices=[]):  # leave the notebook's random stream untouched
        torch.manual_seed(7)
        blocks = {s: _residual_reference_block(s) for s in (0.2, 1.0, 0.5)}
        x = torch.randn(2, 6, 7, 7)  # negative values too, so a missing ReLU shows
    for scale, block in blocks.items():
        branches = list(block.branches.values())
        with torch.no_grad():
            try:
                out = scaled_residual(x.clone(), branches, block.project, scale)
            except NotImplementedError:
                raise  # the student edition's stub: let "Exercise 1: ..." reach the learner as is
            except (RuntimeError, ValueError, TypeError) as err:
                raise AssertionError(
                    f"Not yet. Hint: your function raised {type(err).__name__}: {err}. Run every "
                    "branch on x and torch.cat their outputs along dim=1 (channels) BEFORE the "
                    f"projection: `project` expects {block.project.in_ch} channels, the sum of "
                    "the branch widths."
                ) from err
            want = block(x)
            mixed = torch.cat([b(x) for b in branches], dim=1)
            res = block.project(mixed)
            reordered = block.project(torch.cat([b(x) for b in reversed(branches)], dim=1))
        require(
            isinstance(out, torch.Tensor),
            f"return a tensor, got {type(out).__name__} (a missing `return`?).",
        )
        require(
            tuple(out.shape) == tuple(x.shape),
            f"the output must have the input's shape {tuple(x.shape)} (so that blocks can be "
            f"stacked), got {tuple(out.shape)}.",
        )
        if torch.allclose(out, want, atol=1e-5):
            continue
        mistakes = [
            (
                x + scale * res,
                "the sum is right but the ReLU is missing: apply torch.relu to x + scaled branch.",
            ),
            (
                x + torch.relu(scale * res),
                "apply the ReLU AFTER the addition, to the sum, not to the branch alone.",
            ),
            (
                torch.relu(scale * (x + res)),
                "scale only the residual branch; the shortcut x is added unscaled.",
            ),
            (
                torch.relu(scale * x + res),
                "the scale multiplies the projected branch output, not the input x.",
            ),
            (torch.relu(scale * res), "add the input x back (the shortcut) before the ReLU."),
            (
                torch.relu(x + scale * reordered),
                "concatenate the branch outputs in the order given by `branches`.",
            ),
        ]
        if scale != 1.0:
            mistakes.append(
                (torch.relu(x + res), "multiply the projected branch output by `scale`.")
            )
        for wrong, hint in mistakes:
            require(not torch.allclose(out, wrong, atol=1e-5), hint)
        other = 0.2 if scale != 0.2 else 1.0
        require(
            not torch.allclose(out, torch.relu(x + other * res), atol=1e-5),
            "use the `scale` argument instead of a fixed number.",
        )
        require(
            False,
            f"for scale={scale} the output differs from blocks.InceptionResNetBlock: compute "
            "mixed = concat of the branch outputs (dim=1), then project(mixed), multiply by "
            "scale, add x, and apply ReLU.",
        )
    passed(
        "your forward matches blocks.InceptionResNetBlock for scales 0.2, 1.0 and 0.5: "
        "y = ReLU(x + scale * project(concat(branches(x))))."
    )


def largest_stable_scale(answer, candidates, model_kwargs, fit_kwargs, batches, seed=0) -> None:
    """Check the largest residual scale in `candidates` that trains without diverging.

    The setting: `models.mini_inception_resnet(scale=s, **model_kwargs)` built right after
    `torch.manual_seed(seed)`, then `train.fit(model, (batches, None), 1, **fit_kwargs)`; a scale
    is stable when no `train.TrainingDiverged` is raised. The check runs the setting itself for
    `answer` (must be stable) and for the next larger candidate (must diverge).
    """
    import numbers

    import torch

    from inception_lab import models, train

    def stable(scale: float) -> bool:
        with torch.random.fork_rng(devices=[]):  # leave the notebook's random stream untouched
            torch.manual_seed(seed)
            model = models.mini_inception_resnet(scale=scale, **model_kwargs)
            try:
                train.fit(model, (batches, None), 1, **{**fit_kwargs, "progress": False})
            except train.TrainingDiverged:
                return False
        return True

    options = sorted(candidates, reverse=True)
    require(
        answer is not None,
        "largest_stable is still None: set it to the first scale (going down from the largest "
        "candidate) whose training run does not raise train.TrainingDiverged.",
    )
    require(
        isinstance(answer, numbers.Real) and not isinstance(answer, bool),
        f"largest_stable should be a number (one of the candidate scales), got {answer!r}.",
    )
    require(
        answer in options,
        f"largest_stable should be one of the candidates {options}, got {answer!r}.",
    )
    require(
        stable(answer),
        f"with scale={answer} this setting diverges: training raises train.TrainingDiverged. "
        "A stable scale trains every step. Build each model right after "
        "torch.manual_seed(SEED) with the given settings, and catch the exception to move on "
        "to the next, smaller scale.",
    )
    larger = [s for s in options if s > answer]
    if larger:
        next_up = min(larger)
        require(
            not stable(next_up),
            f"scale={next_up}, which is larger than {answer}, also trains without diverging: "
            "look for the LARGEST stable scale, trying the candidates from the largest down "
            "and stopping at the first that trains.",
        )
    passed(
        f"scale {answer} is the largest candidate that trains in this setting"
        + (f"; {min(larger)} diverges." if larger else " (it is the largest candidate).")
    )


# --- Lesson 08 ---
# Exercise 1 turns step timings into images/s; exercise 2 writes the linear learning-rate scaling
# rule with warmup. Both are checked against hand formulas on several cases.


def _close(a: float, b: float) -> bool:
    import math

    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)


def _as_number(value, what: str) -> float:
    import numbers

    import torch

    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    require(
        isinstance(value, numbers.Real) and not isinstance(value, bool),
        f"return one number ({what}), got {type(value).__name__}.",
    )
    return float(value)


def throughput(images_per_second) -> None:
    """Check `images_per_second(step_seconds, batch_size, warmup, world_size)` -> float.

    step_seconds: the duration of each training step in seconds, in order; the first `warmup`
    steps are excluded (they include one-time set-up costs); every one of `world_size` processes
    handles `batch_size` images per step. Expected: world_size * batch_size * (number of timed
    steps) / (their total time).
    """
    cases = [
        ([2.0, 0.5, 0.25, 0.25, 0.5], 64, 2, 1),
        ([1.5, 0.1, 0.3, 0.2], 128, 1, 1),
        ([3.0, 1.0, 0.2, 0.2, 0.4, 0.2], 32, 2, 4),
        ([0.4, 0.1, 0.3], 256, 0, 2),
    ]
    for times, batch, warmup, world in cases:
        value = _as_number(images_per_second(list(times), batch, warmup, world), "images/s")
        timed = times[warmup:]
        want = world * batch * len(timed) / sum(timed)
        if _close(value, want):
            continue
        context = (
            f"for step times {times} s, batch_size={batch}, warmup={warmup}, "
            f"world_size={world}: got {value:g}. "
        )
        require(not _close(value, 1 / want), context + "images/s is images divided by seconds.")
        require(
            not _close(value, world * batch * len(times) / sum(times)) or warmup == 0,
            context + "leave out the first `warmup` steps: they include one-time costs "
            "(memory allocation, picking convolution algorithms) that a long run does not pay "
            "again.",
        )
        require(
            not _close(value, world * sum(batch / t for t in timed) / len(timed)),
            context + "do not average the per-step rates: a slow step then counts as much as a "
            "fast one. Divide all the images by all the time instead.",
        )
        require(
            not _close(value, batch * len(timed) / sum(timed)) or world == 1,
            context + "under torchrun every one of the `world_size` processes handles "
            "`batch_size` images per step, at the same time.",
        )
        require(
            not _close(value, world * batch / sum(timed)),
            context + "count the images of every timed step, not of one step.",
        )
        require(
            False,
            context + "images/s = world_size * batch_size * (number of timed steps) / (total "
            "time of the timed steps).",
        )
    passed("images/s = images processed by all processes / time, warm-up steps left out.")


def scaled_lr(scaled_learning_rate) -> None:
    """Check `scaled_learning_rate(step, batch_size, base_lr, base_batch, warmup_steps)` -> float.

    The linear scaling rule (Goyal et al. 2017) with gradual warmup: the target rate is
    base_lr * batch_size / base_batch; during the first `warmup_steps` steps (0-based `step`)
    the rate ramps linearly from base_lr (at step 0) to the target (reached at step
    warmup_steps), then stays there. warmup_steps=0 means no warmup.
    """

    def want(step, batch, base_lr, base_batch, warmup):
        target = base_lr * batch / base_batch
        if step >= warmup:
            return target
        return base_lr + (target - base_lr) * step / warmup

    cases = [
        (0, 1024, 0.1, 256, 100),
        (50, 1024, 0.1, 256, 100),
        (100, 1024, 0.1, 256, 100),
        (500, 1024, 0.1, 256, 100),
        (30, 512, 0.05, 128, 40),
        (10, 2048, 0.1, 256, 0),
        (7, 2048, 0.2, 256, 20),
    ]
    for step, batch, base_lr, base_batch, warmup in cases:
        try:
            value = scaled_learning_rate(step, batch, base_lr, base_batch, warmup)
        except ZeroDivisionError as err:
            raise AssertionError(
                "Not yet. Hint: with warmup_steps=0 there is no warmup: return the scaled rate "
                "directly instead of dividing by warmup_steps."
            ) from err
        value = _as_number(value, "a learning rate")
        expected = want(step, batch, base_lr, base_batch, warmup)
        if _close(value, expected):
            continue
        k = batch / base_batch
        context = (
            f"for step={step}, batch_size={batch}, base_lr={base_lr}, base_batch={base_batch}, "
            f"warmup_steps={warmup}: got {value:g}. "
        )
        ramp = min(step / warmup, 1.0) if warmup else 1.0
        mistakes = [
            (
                base_lr,
                (
                    "scale the learning rate with the batch: multiply base_lr by "
                    "batch_size / base_batch (once warmup is over)."
                ),
            ),
            (
                want(step, base_batch * base_batch / batch, base_lr, base_batch, warmup),
                "the ratio is upside down: a LARGER batch gets a LARGER learning rate.",
            ),
            (
                want(step, base_batch * k**0.5, base_lr, base_batch, warmup),
                (
                    "the linear rule multiplies by batch_size / base_batch itself, not by its "
                    "square root (that is another rule, used e.g. with Adam)."
                ),
            ),
            (
                base_lr * k * ramp,
                (
                    "the ramp starts at base_lr (the rate known to be safe for the small batch), "
                    "not at 0: at step 0 return base_lr."
                ),
            ),
            (
                base_lr * k,
                (
                    "during the first warmup_steps steps, ramp linearly from base_lr up to the "
                    "scaled rate instead of starting at the scaled rate."
                ),
            ),
            (
                base_lr + (base_lr * k - base_lr) * step / warmup if warmup else None,
                "after warmup_steps the rate stays at the scaled rate; do not keep ramping.",
            ),
            (
                want(step + 1, batch, base_lr, base_batch, warmup),
                (
                    "count steps from 0: step 0 gets base_lr, and the scaled rate is reached at "
                    "step == warmup_steps."
                ),
            ),
        ]
        for wrong, hint in mistakes:
            require(wrong is None or not _close(value, wrong), context + hint)
        require(
            False,
            context + "target = base_lr * batch_size / base_batch; before warmup_steps, "
            "interpolate linearly between base_lr (step 0) and target (step warmup_steps).",
        )
    passed(
        "linear scaling with warmup: for batch 1024 (base 0.1 at 256) the rate ramps from "
        "0.1 to 0.4 over the warmup, then stays at 0.4."
    )


# --- Lesson 09 ---

# Exercise 1 designs the stages of a mini network (`models.mini_custom`) under a cost budget:
# `capstone_budget` counts it (instant), `capstone_challenge` also trains it and the baseline
# (the plain 3x3 CNN with BN, `models.mini_baseline(bn=True)`) briefly on the same data and
# checks that it wins. Exercise 2 computes the cost of a depthwise
# separable convolution by hand; the reference is the profiler on real grouped convolutions.
CAPSTONE_MAX_MACS = 5_500_000  # per 32x32 image; about half of the baseline's 11.2 M
CAPSTONE_MAX_PARAMS = 120_000  # about half of the baseline's 244 K
# The challenge's training: small and fixed, so that the check takes seconds and gives the same
# answer on every run. Both models get exactly this (same images, order, optimizer, schedule).
# AdamW at 0.01 without augmentation: what makes the BN minis learn fastest from few images.
CAPSTONE_TRAINING = {"train_size": 2000, "batch_size": 64, "epochs": 3, "optimizer": "adamw",
                     "lr": 1e-2, "augment": False, "val_batches": 8}  # fmt: skip


def _capstone_model(make_stage):
    """`models.mini_custom(make_stage)` built from seed 0, or an AssertionError with a hint."""
    import torch
    from torch import nn

    from inception_lab import models

    require(
        callable(make_stage) and not isinstance(make_stage, nn.Module),
        "pass your function itself (my_stage), not a module it returned; got "
        f"{type(make_stage).__name__}",
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        try:
            return models.mini_custom(make_stage)
        except NotImplementedError:
            raise
        except Exception as err:  # noqa: BLE001 - any error in learner code becomes a hint
            raise AssertionError(
                f"Not yet. Hint: the network could not be built from your stages: {err}"
            ) from None


def _stage_table(model) -> str:
    from inception_lab import profile

    table = profile.cost_table(model, (3, 32, 32))
    return "; ".join(
        f"{r['layer']} {r['params'] / 1e3:.0f}K params, {r['macs'] / 1e6:.2f}M MACs"
        for r in table.rows
        if r["params"]
    )


def _capstone_costs(make_stage) -> tuple[object, int, int]:
    """Build the learner's network and hold it to the budget; returns (model, params, MACs)."""
    from inception_lab import blocks, profile

    model = _capstone_model(make_stage)
    for grid in (16, 8, 4):
        stage = getattr(model, f"stage{grid}")
        multi = (blocks.MultiBranch, blocks.InceptionResNetBlock)
        require(
            any(isinstance(m, multi) for m in stage.modules()),
            f"the {grid}x{grid} stage has no multi-branch block: use at least one Inception "
            "module from inception_lab.blocks (Inception, InceptionA/B/C, InceptionResNetBlock, "
            "...) in every stage; a plain conv stack is the baseline you have to beat",
        )
    params, macs = profile.count_params(model), profile.count_macs(model, (3, 32, 32))
    require(
        macs <= CAPSTONE_MAX_MACS,
        f"your network costs {macs:,} MACs per image, {macs - CAPSTONE_MAX_MACS:,} over the "
        f"budget of {CAPSTONE_MAX_MACS:,}. Per layer: {_stage_table(model)}. A weight on the "
        "16x16 grid runs at 4x as many pixels as on 8x8 and 16x as many as on 4x4: keep the "
        "first stage narrow, put 1x1 reductions in front of the 3x3 and 5x5 convs, or "
        "factorize them",
    )
    require(
        params <= CAPSTONE_MAX_PARAMS,
        f"your network has {params:,} parameters, {params - CAPSTONE_MAX_PARAMS:,} over the "
        f"budget of {CAPSTONE_MAX_PARAMS:,}. Per layer: {_stage_table(model)}. Parameters pile "
        "up in the wide last stages: narrow their 3x3 convs, or reduce harder before them",
    )
    return model, params, macs


def capstone_budget(make_stage) -> None:
    """Lesson 09, Exercise 1 (cost part): `models.mini_custom(make_stage)` fits the budget.

    At most CAPSTONE_MAX_MACS MACs per 32x32 image and CAPSTONE_MAX_PARAMS parameters, counted by
    `profile`, and every stage holds at least one multi-branch block from `inception_lab.blocks`.
    """
    _, params, macs = _capstone_costs(make_stage)
    passed(
        f"your network has {params:,} parameters ({params / CAPSTONE_MAX_PARAMS:.0%} of the "
        f"budget) and costs {macs:,} MACs per image ({macs / CAPSTONE_MAX_MACS:.0%} of the "
        "budget). Whether it beats the baseline is checked after training (section 4)."
    )


def _brief_accuracy(model) -> float:
    """Train `model` with CAPSTONE_TRAINING and return its accuracy on validation images."""
    import torch

    from inception_lab import data, train

    cfg = CAPSTONE_TRAINING
    loaders = data.make_loaders(
        "shapes", batch_size=cfg["batch_size"], seed=0, train_size=cfg["train_size"],
        augment=cfg["augment"],
    )  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        train.fit(model, (loaders.train, None), cfg["epochs"], optimizer=cfg["optimizer"],
                  lr=cfg["lr"], seed=0, device="cpu", progress=False)  # fmt: skip
    return train.evaluate(model, loaders.val, max_batches=cfg["val_batches"])["acc"]


_BASELINE_ACCURACY: dict[tuple, float] = {}


def _baseline_accuracy() -> float:
    """The baseline's (plain 3x3 CNN with BN) accuracy under CAPSTONE_TRAINING, trained once per
    process."""
    import torch

    from inception_lab import models

    key = tuple(sorted(CAPSTONE_TRAINING.items()))
    if key not in _BASELINE_ACCURACY:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            baseline = models.mini_baseline(bn=True)
        _BASELINE_ACCURACY[key] = _brief_accuracy(baseline)
    return _BASELINE_ACCURACY[key]


def capstone_challenge(make_stage) -> None:
    """Lesson 09, Exercise 1 (the challenge): within the budget AND more accurate than the
    baseline (`models.mini_baseline(bn=True)`) when both get the same brief training,
    CAPSTONE_TRAINING.

    Deterministic: both networks start from seed 0 and see the same images in the same order.
    """
    import torch

    from inception_lab import models, profile

    model, params, macs = _capstone_costs(make_stage)
    with torch.device("meta"):
        baseline = models.mini_baseline(bn=True)
    base_params = profile.count_params(baseline)
    base_macs = profile.count_macs(baseline, (3, 32, 32))
    cfg = CAPSTONE_TRAINING
    mine, base = _brief_accuracy(model), _baseline_accuracy()
    n_val = cfg["val_batches"] * cfg["batch_size"]
    require(
        mine > base,
        f"within the budget, but after the same brief training ({cfg['train_size']:,} images, "
        f"{cfg['epochs']} epochs) your network reaches {mine:.1%} on {n_val} validation images "
        f"and the baseline {base:.1%}. Ideas from the course that make small networks learn "
        "fast: batch norm in every conv (bn=True), several kernel sizes side by side, and "
        "spending the budget on the later, cheaper grids",
    )
    passed(
        f"challenge met: {mine:.1%} versus the baseline's {base:.1%} on {n_val} validation "
        f"images after the same training, with {params:,} parameters and {macs:,} MACs "
        f"(the baseline: {base_params:,} and {base_macs:,})."
    )


_SEPARABLE_CASES = (  # (in_ch, out_ch, kernel, size): stride 1, "same" padding, no biases
    (192, 256, 3, 28),  # the width of GoogLeNet's inception 3a
    (32, 64, 3, 16),
    (64, 48, 5, 8),  # fewer outputs than inputs
    (3, 12, 7, 10),
)


def separable_conv_cost(separable_cost) -> None:
    """Lesson 09, Exercise 2: `separable_cost(in_ch, out_ch, k, size) -> (weights, macs)` of a
    depthwise separable convolution on a size x size map: a k x k depthwise conv (one filter per
    input channel, groups=in_ch) then a 1x1 pointwise conv to out_ch; no biases, stride 1, "same"
    padding. The reference counts real `nn.Conv2d` layers with `profile`.
    """
    import torch
    from torch import nn

    from inception_lab import profile

    for cin, cout, k, s in _SEPARABLE_CASES:
        with torch.device("meta"):  # counting needs shapes only
            layer = nn.Sequential(
                nn.Conv2d(cin, cin, k, padding=k // 2, groups=cin, bias=False),
                nn.Conv2d(cin, cout, 1, bias=False),
            )
        want_w, want_m = profile.count_params(layer), profile.count_macs(layer, (cin, s, s))
        where = f" (for in_ch={cin}, out_ch={cout}, k={k}, size={s})"
        try:
            got = separable_cost(cin, cout, k, s)
        except NotImplementedError:
            raise
        except Exception as err:  # noqa: BLE001 - any error in learner code becomes a hint
            raise AssertionError(
                f"Not yet. Hint: separable_cost({cin}, {cout}, {k}, {s}) raised "
                f"{type(err).__name__}: {err}"
            ) from None
        require(
            isinstance(got, tuple | list)
            and len(got) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in got),
            f"return a pair of whole numbers (weights, macs); got {got!r}" + where,
        )
        weights, macs = got
        depthwise, pointwise, pixels = cin * k * k, cin * cout, s * s
        require(
            weights != cin * cout * k * k,
            "that is the weight count of a standard k x k conv; the depthwise conv has one "
            "k x k filter per input channel, and the mixing of channels is left to the 1x1" + where,
        )
        require(
            weights != cin * cin * k * k + pointwise,
            "the depthwise conv does not mix channels: each input channel has ONE k x k filter "
            "of its own (groups = in_ch), not one per input channel" + where,
        )
        require(
            weights not in (depthwise, pointwise),
            "count both layers: the k x k depthwise conv and the 1x1 pointwise conv" + where,
        )
        require(
            weights == want_w,
            f"your weight count {weights:,} is off; add the depthwise filters' weights and the "
            "1x1 conv's weights (no biases)" + where,
        )
        require(
            macs != weights,
            "MACs are per output pixel: every weight is used once at each of the size x size "
            "positions" + where,
        )
        require(
            macs != 2 * want_m,
            "that is twice the MACs: you counted FLOPs (1 MAC = 2 FLOPs)" + where,
        )
        require(
            macs != cin * cout * k * k * pixels,
            "those are the MACs of a standard k x k conv, not of the separable one" + where,
        )
        require(
            macs == want_m,
            f"your MAC count {macs:,} is off; both layers run at every one of the size x size "
            "output positions, with stride 1" + where,
        )
    passed(
        f"your counts match the profiler on all {len(_SEPARABLE_CASES)} layers, e.g. "
        f"192 -> 256 channels, 3x3, on 28x28: {separable_cost(192, 256, 3, 28)[0]:,} weights "
        f"and {separable_cost(192, 256, 3, 28)[1]:,} MACs."
    )
