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
