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
