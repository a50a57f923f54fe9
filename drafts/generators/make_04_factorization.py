"""Generate notebooks/04_factorization.ipynb (run from anywhere; then execute it in place)."""

from nbgen import Notebook

nb = Notebook()

# ----------------------------------------------------------------------------- title
nb.md(
    """
    # 4. Factorized convolutions: from GoogLeNet to Inception v3

    GoogLeNet made the Inception module cheap by reducing channels. A year later, *Rethinking the
    Inception Architecture for Computer Vision* (Szegedy et al. 2015, "Inception v3") went after
    the other factor of a convolution's cost: the size of its kernel. This lesson follows that
    paper's reasoning and rebuilds its network from the course's blocks.

    **You will:**
    - state the four design principles of the v3 paper in your own words, and see where each
      one shows up in the network;
    - replace a 5x5 conv by two 3x3 convs (28% fewer weights) and an n x n conv by a 1 x n conv
      followed by an n x 1 conv (33% fewer for n = 3), and check with receptive-field pictures
      that they still see the same window;
    - factorize a 7x7 conv yourself (Exercise 1) and explore the trade-offs with a widget;
    - shrink a feature map without a representational bottleneck, and measure what the two
      naive ways cost; build such a grid-reduction block yourself (Exercise 2);
    - assemble Inception v3 from the blocks and check that it has exactly torchvision's
      23,834,568 parameters;
    - train a factorized and an unfactorized mini network on your CPU and compare them.

    **Run time:** about RUNTIME at `BUDGET="cpu"` on a 2-core laptop CPU (measured; the two
    training runs take most of it).
    """
)
nb.code(
    """
    BUDGET = "cpu"  # "cpu": minutes on a laptop CPU; "gpu": full-size runs on one GPU
    SEED = 0
    """,
    "parameters",
)
nb.code(
    """
    import matplotlib.pyplot as plt
    import torch
    import torchvision
    from torch import nn

    from inception_lab import blocks, checks, data, models, profile, train, viz, widgets

    torch.manual_seed(SEED)
    """
)

# ----------------------------------------------------------------------------- 1. principles
nb.md(
    """
    ## 1. Four design principles

    GoogLeNet's channel numbers came out of many experiments, and the paper gave few reasons
    for them. The v3 paper tried to say what had worked and why, as four rules of thumb (the
    authors call them guidelines, not laws). In our words:

    1. **Don't squeeze the information early.** Think of the tensor between two layers as a
       pipe the information flows through. If one layer's output is much smaller than what came
       before (a sharp drop in height x width x channels), whatever does not fit is lost and no
       later layer can recover it. The size of the representation should shrink gently from
       the image to the classifier, especially near the input. (Section 5 of this lesson.)
    2. **Wide representations are easier to work with locally.** More channels per position
       let the network separate features from each other, and such networks train faster. This
       is why v3's last modules, on the coarse 8x8 grid, widen instead of deepening. (Section 6.)
    3. **Reduce channels before spatial convolutions.** Neighbouring pixels are strongly
       correlated, so a 3x3 or 5x5 conv can work on a reduced, cheaper set of channels with
       little loss. This is GoogLeNet's 1x1 reduction from lesson 2, now justified.
    4. **Balance width and depth.** Given more compute, spend it on both more layers and more
       channels per layer; increasing only one of them gives less.

    The factorizations in the next sections make each spatial convolution cheaper, and the
    compute they free is spent on more width and depth, following rule 4.
    """
)

# ----------------------------------------------------------------------------- 2. 5x5 -> 3x3
nb.md(
    """
    ## 2. A 5x5 convolution is two 3x3 convolutions

    A 5x5 conv looks at a 5x5 window. Two stacked 3x3 convs see the same window: each output of
    the second conv sees a 3x3 patch of the first conv's outputs, and each of those sees a 3x3
    patch of the input, so together they cover 5x5. Per pair of input and output channels, the
    5x5 has 25 weights, the two 3x3s have 9 + 9 = 18. We build both from `blocks.ConvBNAct` with
    192 channels in and out and count, on a 35x35 grid (where v3 uses this module):
    """
)
nb.code(
    """
    C, GRID = 192, 35
    one_5x5 = blocks.ConvBNAct(C, C, 5)
    two_3x3 = nn.Sequential(blocks.ConvBNAct(C, C, 3), blocks.ConvBNAct(C, C, 3))
    for name, layers in (("one 5x5 conv", one_5x5), ("two 3x3 convs", two_3x3)):
        weights = profile.count_weights(layers)
        macs = profile.count_macs(layers, (C, GRID, GRID))
        window = profile.receptive_field(layers)
        print(f"{name:<14} {weights:>9,} weights {macs / 1e6:7.1f} M MACs   sees a {window} window")
    saving = 1 - profile.count_weights(two_3x3) / profile.count_weights(one_5x5)
    print(f"saving: {saving:.1%} of the weights (25 -> 18 per channel pair)")
    """
)
nb.md(
    """
    28% fewer weights and MACs for the same 5x5 window, and the stack has an extra ReLU in the
    middle, so it can express functions a single linear 5x5 filter cannot. Which input pixels do
    they see? `viz.plot_receptive_field` traces one output pixel back to the input:
    """
)
nb.code(
    """
    viz.plot_receptive_field()
    plt.show()
    """
)
nb.md(
    """
    All three outlines are the same 5x5 square: factorizing keeps the coverage. The numbers
    count the paths from the output pixel to each input pixel. One 5x5 conv weights every pixel
    of its window once; the stacks reach the centre by many paths and the corners by one, so
    they attend more to the centre of the window by construction. The third panel is the next
    idea.
    """
)

# ----------------------------------------------------------------------------- 3. asymmetric
nb.md(
    """
    ## 3. An n x n convolution is a 1 x n and an n x 1 convolution

    Why stop at 3x3? A 3x3 conv can itself be split into a 1x3 conv (one row of three pixels)
    followed by a 3x1 conv (one column): together they cover 3x3 with 3 + 3 = 6 weights per
    channel pair instead of 9. In general an n x n window costs n^2 weights directly and 2n as
    a 1 x n, n x 1 pair, so the saving grows with n. The widget's pure function
    `widgets.factorization_costs` counts three designs for each window (192 channels in and
    out, on a 17x17 grid, where v3 uses the 7-wide version):
    """
)
nb.code(
    """
    print(f"{'design':<26}{'weights':>11}{'M MACs':>9}{'window':>8}{'saving':>9}")
    for n in (3, 5, 7):
        for row in widgets.factorization_costs(n, in_ch=192, out_ch=192, size=17):
            print(f"{row['design']:<26}{row['weights']:>11,}{row['macs'] / 1e6:>9.1f}"
                  f"{str(row['receptive_field']):>8}{row['saving_pct']:>8.1f}%")
        print()
    """
)
nb.md(
    """
    For n = 3 the 1x3 + 3x1 pair saves 33.3%; for n = 7 it saves 71.4%, far more than three
    stacked 3x3s (44.9%). Every design keeps its n x n window:
    """
)
nb.code(
    """
    viz.plot_receptive_field({
        "one 7x7 conv": [7],
        "three 3x3 convs": [3, 3, 3],
        "1x7 conv, then 7x1 conv": [((1, 7), 1), ((7, 1), 1)],
    })
    plt.show()
    """
)
nb.md(
    """
    The 1x7-then-7x1 pair covers the full 7x7 square with exactly one path to each pixel, like
    the 7x7 conv itself, at 14 instead of 49 weights per channel pair. What it gives up is
    generality: with one input and one output channel, the pair can only compute *separable*
    filters (an outer product of a column and a row). With many channels and a ReLU in between
    it is a rich family, but a different one. The v3 paper reports that this factorization did
    not work well early in the network and worked very well on medium grids (between about 12x12
    and 20x20); that is where v3 uses it, with n = 7 on its 17x17 grid.

    **Exercise 1.** Write `factorize_7x7(in_ch, out_ch)`: it returns a module (an
    `nn.Sequential`) of two `blocks.ConvBNAct` layers, a 1x7 conv and a 7x1 conv, that maps
    `(N, in_ch, H, W)` to `(N, out_ch, H, W)` like a 7x7 conv with "same" padding would.
    """
)
nb.code(
    """
    def factorize_7x7(in_ch: int, out_ch: int) -> nn.Module:
        # Exercise 1: build the 1x7 + 7x1 pair from blocks.ConvBNAct (in_ch -> out_ch, same grid size)
        ### BEGIN SOLUTION
        return nn.Sequential(
            blocks.ConvBNAct(in_ch, out_ch, (1, 7)),
            blocks.ConvBNAct(out_ch, out_ch, (7, 1)),
        )
        ### END SOLUTION


    checks.factorized_7x7(factorize_7x7)
    """
)
nb.code(
    """
    torch.manual_seed(SEED)
    pair, full = factorize_7x7(192, 192), blocks.ConvBNAct(192, 192, 7)
    x = torch.randn(1, 192, 17, 17)
    print("output shapes:", tuple(pair(x).shape), tuple(full(x).shape))
    print("windows:      ", profile.receptive_field(pair), profile.receptive_field(full))
    w_pair, w_full = profile.count_weights(pair), profile.count_weights(full)
    print(f"weights:       {w_pair:,} vs {w_full:,}: {1 - w_pair / w_full:.1%} fewer")
    """
)

# ----------------------------------------------------------------------------- 4. explorer
nb.md(
    """
    ## 4. The factorization explorer

    Move the sliders to compare the three designs for any window, channel count and grid size.
    The weights depend only on n and the channels; the MACs scale with the grid area as well.
    (The explorer needs a live kernel: in a static view of this notebook you see its first
    state.)
    """
)
nb.code(
    """
    explorer = widgets.factorization_explorer(n=7, in_ch=192, out_ch=192, size=17)
    explorer
    """
)
nb.md(
    """
    Things to try: set n = 3 and compare the stacked 3x3 (a single 3x3, no saving) with the
    1x3 + 3x1 pair; make the input much wider than the output and watch the two-layer designs
    lose part of their advantage (their second layer works at the output width). The cell below
    sets the sliders from code, as a test of what the widget computes:
    """
)
nb.code(
    """
    explorer.controls["n"].value = 5
    designs = {row["design"]: round(row["saving_pct"], 1) for row in explorer.result}
    print(designs)
    assert designs["2 stacked 3x3 convs"] == 28.0
    """
)

# ----------------------------------------------------------------------------- 5. grid
nb.md(
    """
    ## 5. Shrinking the grid without a bottleneck

    Every CNN must at some point halve its grid, and should add channels when it does (rule 2:
    a coarser grid needs a wider representation). Say a 35x35 map with 320 channels must become
    17x17 with 640 channels. There are two obvious ways:

    - **pool, then conv**: a stride-2 max pool to 17x17x320, then a 3x3 conv to 640 channels.
      Cheap, but everything the 640 output channels know must pass through the pooled
      17x17x320 tensor: a sudden drop in the size of the representation (rule 1's bottleneck).
    - **conv, then pool**: the 3x3 conv to 640 channels at full 35x35 resolution, then the pool.
      No bottleneck, but the conv runs on four times as many positions.

    v3's answer runs a **stride-2 conv and a stride-2 pool side by side** and concatenates them:
    the conv branch computes 320 new channels directly on the coarse grid, the pool branch keeps
    the 320 input channels. `blocks.GridReduction` builds it. All three on the same input:
    """
)
nb.code(
    """
    C, GRID = 320, 35
    reductions = {
        "pool, then conv": nn.Sequential(nn.MaxPool2d(3, stride=2), blocks.ConvBNAct(C, 2 * C, 3)),
        "conv, then pool": nn.Sequential(blocks.ConvBNAct(C, 2 * C, 3), nn.MaxPool2d(3, stride=2)),
        "GridReduction": blocks.GridReduction(C, {"branch3x3": [(C, 3)]}),
    }
    x = torch.randn(1, C, GRID, GRID)


    def hwc(t: torch.Tensor) -> str:
        return f"{t.shape[2]}x{t.shape[3]}x{t.shape[1]} = {t[0].numel():,} values"


    print(f"input: {hwc(x)}")
    costs = {}
    for name, block in reductions.items():
        costs[name] = profile.count_macs(block, (C, GRID, GRID))
        print(f"{name:<16} output {hwc(block(x))}; {profile.count_weights(block):>9,} weights, "
              f"{costs[name] / 1e6:6.1f} M MACs")
        if isinstance(block, nn.Sequential):
            print(f"{'':<16} in between: {hwc(block[0](x))}")
        else:
            print(f"{'':<16} in between: nothing, every branch reads the input")
    ratio = costs["conv, then pool"] / costs["pool, then conv"]
    print(f"conv-then-pool / pool-then-conv: {ratio:.1f}x the MACs")
    """
)
nb.code(
    """
    fig, ax = plt.subplots(figsize=(7, 3), layout="constrained")
    bars = ax.barh(list(costs), [m / 1e6 for m in costs.values()], color=["C1", "C3", "C2"])
    ax.bar_label(bars, labels=[f"{m / 1e6:,.0f}M" for m in costs.values()], padding=3)
    ax.invert_yaxis()
    ax.margins(x=0.15)
    ax.set_xlabel("MACs per image (millions)")
    ax.set_title("Three ways from 35x35x320 to 17x17x640")
    plt.show()
    """
)
nb.md(
    """
    Conv-then-pool costs 4.2 times as much as pool-then-conv (it convolves on 35 x 35 instead
    of 17 x 17 positions), and pool-then-conv squeezes the 392,000 input values through 92,480
    before widening. The parallel design avoids both: it never holds less than its output, and it
    is the cheapest of the three, because only half of the output channels are computed by a
    conv, and that conv runs on the coarse grid. Inception v3 uses two such blocks, with wider
    branches (a 1x1 -> 3x3 -> 3x3/2 branch next to a 3x3/2 conv and the pool).

    A stride-2 3x3 window with padding p turns a size H into (H + 2p - 3) // 2 + 1: without
    padding ("valid", as in the paper) 35 becomes 17; for even sizes such as our 32x32 mini
    models, padding 1 halves exactly (16 -> 8). Every branch must use the same padding, or the
    outputs cannot be concatenated.

    **Exercise 2.** Build a `blocks.GridReduction` that turns a 16x16 map with 64 channels into
    an 8x8 map with 160 channels. The pool branch is added for you and passes all 64 input
    channels through; you choose the conv branches (a dict of name -> list of `(out_ch, kernel)`
    from input to output, the last conv being the stride-2 one) and the padding. Read the
    block's docstring with `help(blocks.GridReduction)` if you need the details.
    """
)
nb.code(
    """
    # Exercise 2: build reduction, a blocks.GridReduction from (N, 64, 16, 16) to (N, 160, 8, 8)
    ### BEGIN SOLUTION
    reduction = blocks.GridReduction(
        64, {"branch3x3": [(64, 3)], "branch3x3dbl": [(16, 1), (32, 3), (32, 3)]}, padding=1
    )
    ### END SOLUTION

    checks.grid_reduction(reduction, in_shape=(2, 64, 16, 16), out_shape=(2, 160, 8, 8))
    """
)

# ----------------------------------------------------------------------------- 6. v3
nb.md(
    """
    ## 6. Inception v3, assembled from the blocks

    `models.inception_v3()` stacks everything above, in torchvision's layout and with its layer
    names (which come from Google's TensorFlow model), for 299x299 images:

    - a **stem** of five ordinary convs, its first layers 3x3 convs (v1's 7x7 is gone), down to
      35x35x192;
    - three `InceptionA` modules on 35x35 (`Mixed_5b`-`5d`: the 5x5 branch factorized into two
      3x3s);
    - a `GridReduction` to 17x17x768 (`Mixed_6a`);
    - four `InceptionB` modules on 17x17 (`Mixed_6b`-`6e`: 7x7 windows as 1x7 and 7x1 pairs);
    - a `GridReduction` to 8x8x1280 (`Mixed_7a`);
    - two `InceptionC` modules on 8x8 (`Mixed_7b`-`7c`: each 3x3 split into a 1x3 and a 3x1 conv
      that run *side by side*, both feeding the concatenation, the widening of rule 2), and the
      same average pool and linear head as GoogLeNet.

    The per-layer table (counted on PyTorch's "meta" device: shapes and counts are exact, no
    arithmetic runs, so this takes a moment instead of seconds):
    """
)
nb.code(
    """
    with torch.device("meta"):
        inception_v3 = models.inception_v3()
    v3_table = profile.cost_table(inception_v3, (3, 299, 299))
    v3_table
    """
)
nb.md(
    """
    One `InceptionB` module, drawn from the object in the network: the 7x7 windows are the
    1x7 / 7x1 pairs of Exercise 1, once in `branch7x7` and twice in `branch7x7dbl`.
    """
)
nb.code(
    """
    viz.draw_block(inception_v3.Mixed_6b, title="Mixed_6b (InceptionB, 17x17x768)")
    plt.show()
    """
)
nb.md(
    """
    Now the check that learners care about: does this network have the same parameters as
    torchvision's `inception_v3`? Both are counted live, without the auxiliary head (which
    torchvision attaches by default), and without downloading anything:
    """
)
nb.code(
    """
    with torch.device("meta"):
        theirs = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False)
    ours_count, theirs_count = profile.count_params(inception_v3), profile.count_params(theirs)
    print(f"inception_lab: {ours_count:,} parameters")
    print(f"torchvision:   {theirs_count:,} parameters")
    print(f"MACs per 299x299 image: {v3_table.total['macs']:,} ({v3_table.total['macs'] / 1e9:.2f} G)")
    assert ours_count == theirs_count == 23_834_568

    with torch.device("meta"):
        googlenet = models.googlenet(variant="paper")
    v1_params, v1_macs = profile.count_params(googlenet), profile.count_macs(googlenet, (3, 224, 224))
    print(f"versus GoogLeNet (paper, 224x224): {ours_count / v1_params:.1f}x the parameters, "
          f"{v3_table.total['macs'] / v1_macs:.1f}x the MACs")
    """
)
nb.md(
    """
    Equal, to the parameter: 23,834,568, and 5.71 G MACs per image, which is the "5.713 GFLOPS"
    of torchvision's documentation (torchvision's "FLOPS" there are multiply-adds). The course's
    unit tests (`tests/test_models.py`) go one step further: they load torchvision's weights
    into this model and check that it computes torchvision's outputs. Compared
    with GoogLeNet, v3 spends 3.4 times as many parameters and 3.6 times as many MACs (on
    299x299 instead of 224x224 images). The factorizations did not make the network smaller;
    they made each unit of compute go further, and the paper spent the savings on more depth and
    width (rule 4).

    The auxiliary classifier survives in v3 as a single head on `Mixed_6e` (17x17), now with
    BatchNorm. The v3 paper found that it did not speed up early training, as GoogLeNet's
    authors had hoped, but that the network with the head ended up slightly more accurate, so
    it acts mainly as a regularizer. torchvision attaches it by default:
    """
)
nb.code(
    """
    with torch.device("meta"):
        with_aux = torchvision.models.inception_v3(weights=None, init_weights=False)
        ours_aux = models.inception_v3(aux_logits=True)
    print(f"torchvision inception_v3() with its default aux head: {profile.count_params(with_aux):,}")
    print(f"inception_lab inception_v3(aux_logits=True):          {profile.count_params(ours_aux):,}")
    print(f"of which the aux head (AuxLogits):                    {profile.count_params(ours_aux.AuxLogits):,}")
    assert profile.count_params(with_aux) == profile.count_params(ours_aux) == 27_161_264
    """
)
nb.md(
    """
    So a count of 27,161,264 "for Inception v3" includes the auxiliary head's 3,326,696
    parameters, which inference never uses. Two departures from the paper that the layout
    keeps, because torchvision keeps them: the
    `InceptionA` modules have a 5x5 branch next to the factorized double-3x3 branch (the paper
    has only 3x3s there), and the average pools count the zero padding at the border.
    """
)

# ----------------------------------------------------------------------------- 7. training
nb.md(
    """
    ## 7. Does factorizing pay off at small scale?

    `models.mini_factorized` is v3's sequence for 32x32 images at about a quarter of its widths:
    two `InceptionA` modules on 16x16, a grid reduction, two `InceptionB` modules on 8x8 (with
    n = 5: on an 8x8 grid a 5-wide window plays the role of v3's 7 on 17x17), a grid reduction
    and two `InceptionC` modules on 4x4. With `factorized=False` it builds the unfactorized twin:
    the same topology and widths, but a 5x5 where v3 has two 3x3s, an n x n where v3 has 1 x n
    and n x 1, and a 3x3 where v3 has the 1x3 | 3x1 split. Their costs at 32x32:
    """
)
nb.code(
    """
    EPOCHS = {"cpu": 4, "gpu": 30}[BUDGET]
    TRAIN_SIZE = {"cpu": 3000, "gpu": None}[BUDGET]  # None: all 10,000 training images
    WIDTH = {"cpu": 1.0, "gpu": 2.0}[BUDGET]
    BATCH = 64

    device = train.pick_device(verbose=False)
    loaders = data.make_loaders("shapes", batch_size=BATCH, seed=SEED, train_size=TRAIN_SIZE,
                                val_size=500, device=device)
    size = (loaders.in_channels, loaders.image_size, loaders.image_size)
    minis = {}
    for factorized in (True, False):
        torch.manual_seed(SEED)
        name = "factorized" if factorized else "unfactorized"
        minis[name] = models.mini_factorized(
            num_classes=loaders.num_classes, width=WIDTH, factorized=factorized
        )
        print(f"{name:<13}{profile.count_params(minis[name]):>10,} parameters "
              f"{profile.count_macs(minis[name], size) / 1e6:6.1f} M MACs per image")
    """
)
nb.md(
    """
    Factorizing removes about a third of the parameters and MACs of this network. Does the
    cheaper network learn as well? Both train for the same epochs on the same batches, with AdamW
    and a one-cycle learning-rate schedule, as in lesson 3:
    """
)
nb.code(
    """
    histories = {}
    for name, model in minis.items():
        print(f"--- {name}")
        histories[name] = train.fit(model, loaders, EPOCHS, optimizer="adamw", seed=SEED)
    results = {name: train.evaluate(model, loaders.test) for name, model in minis.items()}
    for name, result in results.items():
        print(f"{name:<13} test accuracy {result['acc']:.1%} "
              f"({sum(r['seconds'] for r in histories[name].records):.0f} s of training)")
    assert all(len(h.records) == EPOCHS and h.diverged is None for h in histories.values())
    assert all(r["acc"] > 0.2 for r in results.values())  # well above chance (10%)
    """,
    "nbval-ignore-output",
)
nb.code(
    """
    viz.plot_history(histories)
    plt.suptitle("mini Inception v3: factorized versus unfactorized convolutions")
    plt.show()
    """
)
nb.md(
    """
    RESULTS_PROSE
    """
)

# ----------------------------------------------------------------------------- summary
nb.md(
    """
    ## Summary

    - The v3 paper's design principles: don't squeeze the representation (especially early),
      wide representations are easier to process locally, reduce channels before spatial
      convolutions, and balance width with depth.
    - A 5x5 conv is two 3x3 convs: the same 5x5 window with 28% fewer weights and an extra ReLU.
      An n x n conv is a 1 x n and an n x 1 conv: the same window with 2n instead of n^2 weights
      per channel pair (33% fewer for n = 3, 71% for n = 7), best used on medium grids.
    - Halving the grid with a pool first creates a bottleneck; convolving first at full size
      costs four times as much. Parallel stride-2 conv and pool branches (`GridReduction`) do
      neither.
    - Inception v3, assembled from these blocks, has exactly torchvision's 23,834,568 parameters
      and 5.71 G MACs per 299x299 image.

    **Next:** `05_batch_norm.ipynb` looks at the other half of the v2/v3 story: batch
    normalization, which made networks like this one train in a fraction of the steps.
    """
)

nb.write("/work/main/notebooks/04_factorization.ipynb")
print("wrote notebooks/04_factorization.ipynb")
