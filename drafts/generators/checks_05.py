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
