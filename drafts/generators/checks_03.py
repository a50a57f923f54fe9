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
