"""The lesson 05 check (batch norm from scratch) passes a right answer and hints at wrong ones."""

import inspect
import re
import secrets
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inception_lab import checks
from inception_lab.checks import LibraryShortcut, lesson05

BN_SHORTCUT = "Hint: this exercise asks you to write batch norm yourself; do not call "


def make_batch_norm(
    stats_dims=(0, 2, 3),
    unbiased_norm=False,
    unbiased_running=True,
    eps_inside=True,
    affine=True,
    in_place=True,
    swap_momentum=False,
    detach_running=True,
    detach_norm=False,
    eval_uses_batch=False,
    eval_updates=False,
):
    """A batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps),
    correct with the defaults; each argument plants one typical mistake."""

    def batch_norm(x, running_mean, running_var, weight, bias, training, momentum=0.1, eps=1e-5):
        shape = (1, -1, 1, 1)
        if training or eval_uses_batch:
            mean = x.mean(dim=stats_dims, keepdim=True)
            var = x.var(dim=stats_dims, unbiased=unbiased_norm, keepdim=True)
            if detach_norm:
                mean, var = mean.detach(), var.detach()
        else:
            mean, var = running_mean.view(shape), running_var.view(shape)
        if training or eval_updates:
            batch_mean = x.mean(dim=(0, 2, 3))
            batch_var = x.var(dim=(0, 2, 3), unbiased=unbiased_running)
            if detach_running:
                batch_mean, batch_var = batch_mean.detach(), batch_var.detach()
            new_w, old_w = (1 - momentum, momentum) if swap_momentum else (momentum, 1 - momentum)
            if in_place:
                running_mean.mul_(old_w).add_(new_w * batch_mean)
                running_var.mul_(old_w).add_(new_w * batch_var)
            else:  # rebinding the names: the caller's buffers never change
                running_mean = old_w * running_mean + new_w * batch_mean
                running_var = old_w * running_var + new_w * batch_var
        x_hat = (x - mean) / ((var + eps).sqrt() if eps_inside else var.sqrt() + eps)
        return weight.view(shape) * x_hat + bias.view(shape) if affine else x_hat

    return batch_norm


def test_correct_answer_passes(capsys):
    checks.batch_norm_forward(make_batch_norm())
    assert "Correct" in capsys.readouterr().out


def test_random_batches_pass_a_right_answer(monkeypatch):
    # seeds 727, 3015 and 7043 draw (4, 4, 3, 1), (3, 2, 1, 6) and (5, 5, 5, 6) batches on which
    # the gradient of sum(y ** 2), nearly constant under batch norm, was rounding noise above
    # the tolerance: a right answer was refused as not differentiable
    for seed in [*range(5), 727, 3015, 7043]:
        monkeypatch.setattr(secrets, "randbits", lambda bits, seed=seed: seed)
        checks.batch_norm_forward(make_batch_norm())


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        ({"stats_dims": (0, 1, 2, 3)}, "one mean and one variance per channel"),
        ({"unbiased_norm": True}, "biased batch variance"),
        ({"eps_inside": False}, "under the square root"),
        ({"affine": False}, "scale by `weight` and shift by `bias`"),
        ({"in_place": False}, "in place"),
        ({"swap_momentum": True}, "weight of the NEW batch statistic"),
        ({"unbiased_running": False}, "unbiased batch variance"),
        ({"detach_running": False}, "must not carry gradient history"),
        ({"detach_norm": True}, "differentiable through the batch mean and variance"),
        ({"eval_uses_batch": True}, "instead of the batch's statistics"),
        ({"eval_updates": True}, "leave the running statistics unchanged"),
    ],
)
def test_wrong_answers_get_a_hint(mistake, hint):
    with pytest.raises(AssertionError, match="Hint: .*" + re.escape(hint)):
        checks.batch_norm_forward(make_batch_norm(**mistake))


def test_running_stats_instead_of_batch_stats_in_training():
    def batch_norm(x, running_mean, running_var, weight, bias, training, momentum=0.1, eps=1e-5):
        s = (1, -1, 1, 1)
        x_hat = (x - running_mean.view(s)) / (running_var.view(s) + eps).sqrt()
        return weight.view(s) * x_hat + bias.view(s)

    with pytest.raises(AssertionError, match="statistics of the current batch"):
        checks.batch_norm_forward(batch_norm)


def test_wrong_shape_is_reported():
    with pytest.raises(AssertionError, match="shaped like the input"):
        checks.batch_norm_forward(lambda x, *args: x.mean(dim=(2, 3)))


def test_check_leaves_global_random_stream_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checks.batch_norm_forward(make_batch_norm())
    assert torch.equal(torch.rand(3), expected)


def test_pytorchs_batch_norm_is_rejected():
    """The exercise is to write batch norm: F.batch_norm gives the right numbers, so the check
    makes it raise while the learner's function runs."""

    def one_liner(x, running_mean, running_var, weight, bias, training, momentum=0.1, eps=1e-5):
        return torch.nn.functional.batch_norm(
            x, running_mean, running_var, weight, bias, training, momentum, eps
        )

    with pytest.raises(
        AssertionError,
        match="Hint: this exercise asks you to write batch norm yourself; do not call",
    ):
        checks.batch_norm_forward(one_liner)


def test_a_batchnorm2d_module_is_rejected():
    def via_module(x, running_mean, running_var, weight, bias, training, momentum=0.1, eps=1e-5):
        bn = torch.nn.BatchNorm2d(x.shape[1], eps=eps, momentum=momentum).train(training)
        bn.running_mean, bn.running_var = running_mean, running_var
        with torch.no_grad():
            bn.weight.copy_(weight)
            bn.bias.copy_(bias)
        return bn(x)

    with pytest.raises(
        AssertionError,
        match="Hint: this exercise asks you to write batch norm yourself; do not call",
    ):
        checks.batch_norm_forward(via_module)


def test_batch_norm_is_restored_after_the_check():
    with pytest.raises(AssertionError):
        checks.batch_norm_forward(lambda x, *a: torch.nn.functional.batch_norm(x, *a[:2]))
    x = torch.randn(4, 3, 2, 2)
    assert torch.nn.BatchNorm2d(3)(x).shape == x.shape


def test_student_stub_passes_through():
    def stub(*args):
        raise NotImplementedError("Exercise 1: normalize x per channel")

    with pytest.raises(NotImplementedError, match="Exercise 1"):
        checks.batch_norm_forward(stub)


def test_batch_norm_imported_by_name_before_the_check_is_rejected():
    """A name bound before the check still reaches torch.batch_norm, which the check patches."""
    from torch.nn.functional import batch_norm as library_batch_norm

    def by_name(x, running_mean, running_var, weight, bias, training, momentum=0.1, eps=1e-5):
        return library_batch_norm(
            x, running_mean, running_var, weight, bias, training, momentum, eps
        )

    with pytest.raises(
        AssertionError,
        match="Hint: this exercise asks you to write batch norm yourself; do not call",
    ):
        checks.batch_norm_forward(by_name)


def per_channel(x):
    """(N, C, H, W) -> (C, N*H*W): one row per channel, the rearrangement behind the
    layer / instance / group norm shortcuts."""
    return x.transpose(0, 1).reshape(x.shape[1], -1)


def update_running(x, running_mean, running_var, momentum):
    with torch.no_grad():
        running_mean.mul_(1 - momentum).add_(momentum * x.mean(dim=(0, 2, 3)))
        running_var.mul_(1 - momentum).add_(momentum * x.var(dim=(0, 2, 3)))


def rearranged(normalize):
    """A batch_norm whose normalization is another library normalization on a rearranged
    tensor (training mode), the running statistics updated by hand."""

    def batch_norm(x, running_mean, running_var, weight, bias, training, momentum=0.1, eps=1e-5):
        s = (1, -1, 1, 1)
        if not training:
            x_hat = (x - running_mean.view(s)) / (running_var.view(s) + eps).sqrt()
            return weight.view(s) * x_hat + bias.view(s)
        update_running(x, running_mean, running_var, momentum)
        x_hat = normalize(x, eps)
        return weight.view(s) * x_hat + bias.view(s)

    return batch_norm


def via_layer_norm(x, eps):
    rows = F.layer_norm(per_channel(x), (per_channel(x).shape[1],), eps=eps)
    return rows.reshape(x.shape[1], x.shape[0], *x.shape[2:]).transpose(0, 1)


def via_group_norm(x, eps):
    one = per_channel(x)[None]  # (1, C, N*H*W): each channel one group
    out = F.group_norm(one, x.shape[1], eps=eps)[0]
    return out.reshape(x.shape[1], x.shape[0], *x.shape[2:]).transpose(0, 1)


def via_instance_norm(x, eps):
    one = per_channel(x)[None, :, :, None]  # (1, C, N*H*W, 1): an instance of C channels
    out = F.instance_norm(one, eps=eps)[0, :, :, 0]
    return out.reshape(x.shape[1], x.shape[0], *x.shape[2:]).transpose(0, 1)


def via_aten(x, eps):
    return torch.ops.aten.batch_norm(x, None, None, None, None, True, 0.0, eps, False)


def via_aten_native(x, eps):
    return torch.ops.aten.native_batch_norm(x, None, None, None, None, True, 0.0, eps)[0]


def via_variable_functions(x, eps):
    return torch._C._VariableFunctions.batch_norm(x, None, None, None, None, True, 0.0, eps, False)


@pytest.mark.parametrize(
    "normalize",
    [
        via_layer_norm,
        via_group_norm,
        via_instance_norm,
        via_aten,
        via_aten_native,
        via_variable_functions,
    ],
)
def test_library_normalizations_are_rejected_however_reached(normalize):
    """Shortcuts: torch.ops.aten.batch_norm (issue 24), and layer / group / instance norm on
    a rearranged tensor, which give the same numbers as batch norm."""
    x = torch.randn(4, 3, 2, 5)
    want = F.batch_norm(x, None, None, training=True, eps=1e-3)
    assert torch.allclose(normalize(x, 1e-3), want, atol=1e-5)  # each is a real shortcut
    with pytest.raises(LibraryShortcut, match=BN_SHORTCUT):
        checks.batch_norm_forward(rearranged(normalize))
    assert torch.allclose(normalize(x, 1e-3), want, atol=1e-5)  # and works again afterwards


def test_batch_norm_holds_no_expected_output_on_the_stack():
    """Shortcut: return the reference output (or module) found by walking up the stack."""

    def thief(x, running_mean, running_var, weight, bias, training, momentum=0.1, eps=1e-5):
        frame, found = sys._getframe(1), []
        while frame is not None:
            for value in frame.f_locals.values():
                if isinstance(value, torch.nn.BatchNorm2d) or (
                    isinstance(value, torch.Tensor)
                    and value.shape == x.shape
                    and value is not x
                    and not torch.equal(value, x)
                ):
                    found.append(value)
            frame = frame.f_back
        assert not found, "the reference is on the stack"
        return x * 1.0

    with pytest.raises(AssertionError, match=r"Hint: in training mode the output on a .* differs"):
        checks.batch_norm_forward(thief)


def test_batch_norm_rejects_the_right_mean_in_the_right_shape():
    """Shortcut: each channel filled with beta, the mean of a batch-norm output."""

    def means_only(x, running_mean, running_var, weight, bias, training, momentum=0.1, eps=1e-5):
        make_batch_norm()(x, running_mean, running_var, weight, bias, training, momentum, eps)
        return bias.view(1, -1, 1, 1).expand_as(x).clone()

    with pytest.raises(AssertionError, match="Hint: in training mode the output"):
        checks.batch_norm_forward(means_only)


def test_batch_norm_rejects_replacing_the_comparison():
    """Shortcut: make the check's comparison always succeed."""

    def cheat(x, running_mean, running_var, weight, bias, training, momentum=0.1, eps=1e-5):
        lesson05.tensors_close = lambda *args, **kwargs: True
        return x

    original = lesson05.tensors_close
    with pytest.raises(AssertionError, match=r"checks.lesson05.tensors_close was replaced"):
        checks.batch_norm_forward(cheat)
    assert lesson05.tensors_close is original


def test_batch_norm_checks_one_image_with_a_constant_channel():
    """Awkward cases: N = 1 (a squeeze() that drops the batch axis breaks), and a channel of
    variance exactly 0 (only eps keeps its division finite)."""
    right = make_batch_norm()

    def squeeze_stats(x, running_mean, running_var, weight, bias, training, momentum=0.1, eps=1e-5):
        if not training:
            return right(x, running_mean, running_var, weight, bias, training, momentum, eps)
        flat = x.squeeze().flatten(2)  # (N, C, H*W)... but for one image the batch axis is gone
        mean, var = flat.mean(dim=(0, 2)), flat.var(dim=(0, 2), unbiased=False)
        s = (1, -1, 1, 1)
        update_running(x, running_mean, running_var, momentum)
        return weight.view(s) * (x - mean.view(s)) / (var.view(s) + eps).sqrt() + bias.view(s)

    with pytest.raises(AssertionError, match=r"failed in training mode on one \(1, 4, 3, 5\)"):
        checks.batch_norm_forward(squeeze_stats)

    def eps_needed_only_for_zero_variance(
        x, rm, rv, weight, bias, training, momentum=0.1, eps=1e-5
    ):
        s = (1, -1, 1, 1)
        y = make_batch_norm()(x, rm, rv, weight, bias, training, momentum, eps)
        var = x.var(dim=(0, 2, 3), unbiased=False)
        return torch.where((var == 0).view(s), torch.zeros_like(y), y)  # forgets beta there

    with pytest.raises(AssertionError, match="on one \\(1, 4, 3, 5\\) image with a constant"):
        checks.batch_norm_forward(eps_needed_only_for_zero_variance)


def test_batch_norm_checks_a_batch_drawn_at_random(monkeypatch):
    """Shortcut: the right answer only for the listed cases' shapes (looked up)."""
    right = make_batch_norm()

    def listed_only(x, running_mean, running_var, weight, bias, training, momentum=0.1, eps=1e-5):
        y = right(x, running_mean, running_var, weight, bias, training, momentum, eps)
        return y if tuple(x.shape[1:]) in {(3, 5, 4), (4, 3, 5)} else y + 1

    with pytest.raises(AssertionError, match="drawn at random"):
        checks.batch_norm_forward(listed_only)
    # seeds 33 and 184 once drew a (4, 3, 5) and a (3, 5, 4) image, the listed cases' shapes,
    # which let this answer pass: the drawn grid is now never a listed one
    for seed in (33, 184):
        monkeypatch.setattr(secrets, "randbits", lambda bits, seed=seed: seed)
        with pytest.raises(AssertionError, match="drawn at random"):
            checks.batch_norm_forward(listed_only)


def test_no_solution_is_importable():
    public = {n for n in dir(lesson05) if not n.startswith("_")}
    defined = {
        n
        for n in public
        if inspect.isfunction(getattr(lesson05, n))
        and getattr(lesson05, n).__module__ == lesson05.__name__
    }
    assert defined == set(lesson05.__all__) == {"batch_norm_forward", "fold_batch_norm"}
    assert not [
        n for n in public if re.search("reference|solution|expected|answer", n, re.IGNORECASE)
    ]


# --------------------------------------------------------------------------- exercise 2
def make_fold(
    use_eps=True,
    eps=None,
    sqrt=True,
    gamma=True,
    axis=0,
    scale_weight=True,
    conv_bias=True,
    mean_sign=1.0,
    beta=True,
    shift="scaled",
    handle_no_bias=True,
    in_place=False,
    as_dict=False,
):
    """A fold(conv, bn) -> (weight, bias), right with the defaults; each argument plants one
    typical mistake."""

    def fold(conv, bn):
        e = (bn.eps if eps is None else eps) if use_eps else 0.0
        std = (bn.running_var + e).sqrt() if sqrt else bn.running_var + e
        scale = (bn.weight if gamma else 1.0) / std
        shape = [1, 1, 1, 1]
        shape[axis] = -1
        if in_place:
            weight = conv.weight.mul_(scale.view(shape))
        else:
            weight = conv.weight * scale.view(shape) if scale_weight else conv.weight.clone()
        if conv.bias is None:
            b = torch.zeros_like(bn.running_mean) if handle_no_bias else conv.bias + 0
        else:
            b = conv.bias if conv_bias else torch.zeros_like(conv.bias)
        mean = mean_sign * bn.running_mean
        shift_by = bn.bias if beta else 0.0
        if shift == "scaled":
            bias = (b - mean) * scale + shift_by
        elif shift == "mean unscaled":
            bias = b * scale - mean + shift_by
        else:  # nothing scaled
            bias = b - mean + shift_by
        if as_dict:
            return {"weight": weight, "bias": bias}
        return weight, bias

    return fold


def test_fold_correct_answer_passes(capsys):
    checks.fold_batch_norm(make_fold())
    assert "Correct" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("mistake", "hint"),
    [
        ({"scale_weight": False}, "the folded weight must include that factor"),
        ({"axis": 1}, "OUTPUT channel of the conv"),
        ({"sqrt": False}, "standard deviation"),
        ({"use_eps": False}, "under the square root"),
        ({"eps": 1e-5}, "the layer's own eps"),
        ({"gamma": False}, "learned `weight` (gamma)"),
        ({"conv_bias": False}, "the conv's own bias passes through BN too"),
        ({"handle_no_bias": False}, "failed on a 3 -> 6 conv without a bias"),
        ({"mean_sign": -1.0}, "sign of the mean"),
        ({"beta": False}, "learned `bias` (beta)"),
        ({"shift": "mean unscaled"}, "subtracts the mean BEFORE it scales"),
        ({"shift": "nothing scaled"}, "subtracts the mean BEFORE it scales"),
        ({"in_place": True}, "leave `conv` and `bn` as they were"),
        ({"as_dict": True}, "return two tensors"),
    ],
)
def test_fold_wrong_answers_get_a_hint(mistake, hint):
    with pytest.raises(AssertionError, match="Hint: .*" + re.escape(hint)):
        checks.fold_batch_norm(make_fold(**mistake))


def test_fold_wrong_shape_is_reported():
    def squeezed(conv, bn):
        weight, bias = make_fold()(conv, bn)
        return weight, bias.view(-1, 1, 1)

    with pytest.raises(AssertionError, match="one value per output channel"):
        checks.fold_batch_norm(squeezed)


def test_fold_with_an_unrelated_error_gets_the_generic_hint():
    def off_by_a_little(conv, bn):
        weight, bias = make_fold()(conv, bn)
        return weight, bias + 0.1

    with pytest.raises(AssertionError, match="collect every constant"):
        checks.fold_batch_norm(off_by_a_little)


@pytest.mark.parametrize(
    "shortcut",
    [
        lambda conv, bn: (
            (f := torch.nn.utils.fuse_conv_bn_eval(conv, bn)).weight,
            f.bias,
        ),
        lambda conv, bn: torch.nn.utils.fusion.fuse_conv_bn_weights(
            conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias
        ),
    ],
    ids=["fuse_conv_bn_eval", "fuse_conv_bn_weights"],
)
def test_fold_rejects_pytorchs_fusion_helpers(shortcut):
    with pytest.raises(
        AssertionError,
        match="Hint: this exercise asks you to write the folding yourself; do not call",
    ):
        checks.fold_batch_norm(shortcut)


def test_fold_rejects_a_fusion_helper_imported_by_name_before_the_check():
    from torch.nn.utils import fuse_conv_bn_weights

    def by_name(conv, bn):
        return fuse_conv_bn_weights(
            conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias
        )

    with pytest.raises(
        AssertionError,
        match="Hint: this exercise asks you to write the folding yourself; do not call",
    ):
        checks.fold_batch_norm(by_name)


def test_fusion_helpers_are_restored_after_the_check():
    with pytest.raises(AssertionError):
        checks.fold_batch_norm(lambda conv, bn: torch.nn.utils.fuse_conv_bn_eval(conv, bn))
    conv, bn = torch.nn.Conv2d(3, 4, 3).eval(), torch.nn.BatchNorm2d(4).eval()
    x = torch.randn(1, 3, 5, 5)
    fused = torch.nn.utils.fuse_conv_bn_eval(conv, bn)
    assert torch.allclose(fused(x), bn(conv(x)), atol=1e-5)


def test_fold_check_leaves_global_random_stream_alone():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    checks.fold_batch_norm(make_fold())
    assert torch.equal(torch.rand(3), expected)


def test_fold_student_stub_passes_through():
    def stub(conv, bn):
        raise NotImplementedError("Exercise 2: fold")

    with pytest.raises(NotImplementedError, match="Exercise 2"):
        checks.fold_batch_norm(stub)


def test_fold_rejects_probing_the_bn_layer():
    """Shortcut: read BN's affine map off the layer by running it on 0 and 1."""

    def probe(conv, bn):
        zeros = torch.zeros(1, bn.num_features, 1, 1)
        shift = bn(zeros).flatten()
        scale = bn(zeros + 1).flatten() - shift
        bias = conv.bias if conv.bias is not None else torch.zeros_like(shift)
        return conv.weight * scale.view(-1, 1, 1, 1), bias * scale + shift

    with pytest.raises(
        LibraryShortcut, match="write the folding yourself; do not call PyTorch's native_batch_norm"
    ):
        checks.fold_batch_norm(probe)


def test_fold_rejects_quantization_fusion():
    """Shortcut: torch.ao's fuse_modules, which folds through fuse_conv_bn_eval."""

    def via_ao(conv, bn):
        from torch.ao.quantization import fuse_modules

        fused = fuse_modules(torch.nn.Sequential(conv, bn).eval(), [["0", "1"]])
        return fused[0].weight, fused[0].bias

    with pytest.raises(LibraryShortcut, match="write the folding yourself"):
        checks.fold_batch_norm(via_ao)


def test_fold_checks_a_conv_drawn_at_random():
    """Shortcut: right only for the listed convs' shapes."""
    right = make_fold()

    from inception_lab.checks.lesson05 import _fold_cases

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(55)  # the check's private stream: its listed convs, as a learner finds
        listed = [case.conv.weight.detach().clone() for case in _fold_cases()[:2]]

    def listed_only(conv, bn):
        weight, bias = right(conv, bn)
        known = any(w.shape == conv.weight.shape and torch.equal(w, conv.weight) for w in listed)
        return weight, bias if known else bias + 1

    for _ in range(3):
        with pytest.raises(
            AssertionError, match=r"Hint: .*the folded weight is right but the bias"
        ):
            checks.fold_batch_norm(listed_only)


def test_layer_norm_bound_by_name_before_the_check_is_caught():
    """A name bound before the check runs the same function, whose code the check swaps."""
    from torch.nn.functional import layer_norm

    def by_name(x, eps):
        rows = layer_norm(per_channel(x), (per_channel(x).shape[1],), eps=eps)
        return rows.reshape(x.shape[1], x.shape[0], *x.shape[2:]).transpose(0, 1)

    with pytest.raises(LibraryShortcut, match=BN_SHORTCUT + "torch.nn.functional.layer_norm"):
        checks.batch_norm_forward(rearranged(by_name))


# --------------------------------------------------------------------------- audit (issue 24)
# Shortcuts found by playing a learner who wants the pass message, beyond the list.
def via_decomposition(x, running_mean, running_var, weight, bias, training, momentum, eps):
    """Shortcut: PyTorch's own batch norm written in Python (torch._decomp), which runs only
    elementary operators (mean, var, rsqrt): the statistics updated out of the graph."""
    from torch._decomp import decompositions

    with torch.no_grad():
        decompositions.native_batch_norm(
            x, weight, bias, running_mean, running_var, training, momentum, eps
        )
    stats = (running_mean.clone(), running_var.clone()) if not training else (None, None)
    return decompositions.native_batch_norm(x, weight, bias, *stats, training, momentum, eps)[0]


def via_decomposition_table(x, running_mean, running_var, weight, bias, training, momentum, eps):
    """Shortcut: the same decomposition, looked up in torch._decomp.decomposition_table."""
    from torch._decomp import decomposition_table

    aten = torch.ops.aten
    if not training:
        op = decomposition_table[aten._native_batch_norm_legit_no_training.default]
        return op(x, weight, bias, running_mean, running_var, momentum, eps)[0]
    op = decomposition_table[aten._native_batch_norm_legit.default]
    return op(x, weight, bias, running_mean, running_var, True, momentum, eps)[0]


@pytest.mark.parametrize("shortcut", [via_decomposition, via_decomposition_table])
def test_shortcut_pythons_decomposed_batch_norm_is_refused(shortcut):
    x, mean, var = torch.randn(4, 3, 2, 5), torch.zeros(3), torch.ones(3)
    want = F.batch_norm(x, None, None, torch.ones(3) * 2, torch.zeros(3), True, 0.1, 1e-3)
    got = shortcut(x, mean, var, torch.ones(3) * 2, torch.zeros(3), True, 0.1, 1e-3)
    assert torch.allclose(got, want, atol=1e-5)  # a real shortcut
    with pytest.raises(LibraryShortcut, match=BN_SHORTCUT + r"torch._decomp.decompositions"):
        checks.batch_norm_forward(shortcut)
    assert torch.allclose(
        shortcut(x, mean, var, torch.ones(3) * 2, torch.zeros(3), True, 0.1, 1e-3), want, atol=1e-5
    )


def test_shortcut_the_checks_private_normalization_is_refused():
    """Shortcut: `lesson05._normalize`, the check's own normalization, imported by name."""

    def borrowed(x, running_mean, running_var, weight, bias, training, momentum=0.1, eps=1e-5):
        mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)
        return lesson05._normalize(x, mean, var, weight, bias, eps)

    with pytest.raises(LibraryShortcut, match=r"checks' own functions.*lesson05._normalize"):
        checks.batch_norm_forward(borrowed)


def fold_through_linear_fusion(conv, bn):
    """Shortcut: torch's fuse_linear_bn_weights on the flattened filters (a conv is a linear
    map per pixel), reshaped back."""
    from torch.nn.utils.fusion import fuse_linear_bn_weights

    bias = conv.bias if conv.bias is not None else torch.zeros(conv.out_channels)
    weight, bias = fuse_linear_bn_weights(
        conv.weight.flatten(1), bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias
    )
    return weight.reshape(conv.weight.shape).detach(), bias.detach()


def fold_by_running_decomposed_bn(conv, bn):
    """Shortcut: BN's affine map read off by running PyTorch's Python batch norm on 0 and 1."""
    from torch._decomp import decompositions

    def bn_of(value):
        t = torch.full((1, conv.out_channels, 1, 1), value)
        stats = (bn.running_mean.clone(), bn.running_var.clone())
        return decompositions.native_batch_norm(t, bn.weight, bn.bias, *stats, False, 0.1, bn.eps)[
            0
        ].flatten()

    shift, scale = bn_of(0.0), bn_of(1.0) - bn_of(0.0)
    bias = conv.bias if conv.bias is not None else torch.zeros(conv.out_channels)
    return (conv.weight * scale.view(-1, 1, 1, 1)).detach(), (bias * scale + shift).detach()


def fold_with_the_checks_reference(conv, bn):
    """Shortcut: `lesson05._fold_reference`, the check's own folding, imported by name."""
    return lesson05._fold_reference(conv, bn)


@pytest.mark.parametrize(
    ("shortcut", "called"),
    [
        (fold_through_linear_fusion, r"write the folding yourself; do not call .*fuse_linear_bn"),
        (fold_by_running_decomposed_bn, r"write the folding yourself; do not call torch._decomp"),
        (fold_with_the_checks_reference, r"checks' own functions.*lesson05._fold_reference"),
    ],
)
def test_shortcut_other_routes_to_the_folding_are_refused(shortcut, called):
    conv, bn = nn.Conv2d(3, 4, 3, padding=1).eval(), nn.BatchNorm2d(4).eval()
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2), bn.weight.uniform_(0.5, 2)
        weight, bias = shortcut(conv, bn)
        x = torch.randn(1, 3, 6, 6)
        assert torch.allclose(
            F.conv2d(x, weight.float(), bias.float(), padding=1), bn(conv(x)), atol=1e-5
        )
    with pytest.raises(LibraryShortcut, match=called):
        checks.fold_batch_norm(shortcut)
    checks.fold_batch_norm(make_fold())
