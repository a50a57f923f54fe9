# Exercise 1 designs the stages of a mini network (`models.mini_custom`) under a cost budget:
# `capstone_budget` counts it (instant), `capstone_challenge` also trains it and the baseline
# briefly on the same data and checks that it wins. Exercise 2 computes the cost of a depthwise
# separable convolution by hand; the reference is the profiler on real grouped convolutions.
CAPSTONE_MAX_MACS = 5_500_000  # per 32x32 image; about half of models.mini_baseline's 11.2 M
CAPSTONE_MAX_PARAMS = 120_000  # about half of models.mini_baseline's 244 K
# The challenge's training: small and fixed, so that the check takes seconds and gives the same
# answer on every run. Both models get exactly this (same images, order, optimizer, schedule).
CAPSTONE_TRAINING = {"train_size": 2000, "batch_size": 64, "epochs": 3, "val_batches": 8}


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
        "shapes", batch_size=cfg["batch_size"], seed=0, train_size=cfg["train_size"]
    )
    with torch.random.fork_rng(devices=[]):
        train.fit(model, (loaders.train, None), cfg["epochs"], seed=0, device="cpu",
                  progress=False)  # fmt: skip
    return train.evaluate(model, loaders.val, max_batches=cfg["val_batches"])["acc"]


_BASELINE_ACCURACY: dict[tuple, float] = {}


def _baseline_accuracy() -> float:
    """The baseline's accuracy under CAPSTONE_TRAINING (trained once per process)."""
    import torch

    from inception_lab import models

    key = tuple(sorted(CAPSTONE_TRAINING.items()))
    if key not in _BASELINE_ACCURACY:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            baseline = models.mini_baseline()
        _BASELINE_ACCURACY[key] = _brief_accuracy(baseline)
    return _BASELINE_ACCURACY[key]


def capstone_challenge(make_stage) -> None:
    """Lesson 09, Exercise 1 (the challenge): within the budget AND more accurate than the
    baseline (`models.mini_baseline`) when both get the same brief training, CAPSTONE_TRAINING.

    Deterministic: both networks start from seed 0 and see the same images in the same order.
    """
    import torch

    from inception_lab import models, profile

    model, params, macs = _capstone_costs(make_stage)
    with torch.device("meta"):
        baseline = models.mini_baseline()
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
