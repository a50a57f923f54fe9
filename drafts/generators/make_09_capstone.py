"""Generate notebooks/09_capstone.ipynb (then execute it with `make execute NB=...`).

Placeholders filled after measuring: RUN_TIME (title cell) and the RESULTS prose (section 4).
"""

import sys

sys.path.insert(0, "/work/team/lessons")
from nbtools09 import code, md, write  # noqa: E402

RUN_TIME = "about 2.5 min"

cells = [
    md(
        f"""
        # Lesson 9 — Capstone: the Inception family side by side

        Eight lessons built the Inception family one idea at a time. This one puts the whole
        family on one table, trained the same way on the same data, and asks you to design a
        module of your own that beats a plain CNN at half its cost. It ends with where the ideas
        went next: Xception, which takes the Inception hypothesis to its extreme, and the FID
        metric, which still uses Inception v3 to judge image generators.

        **Learning objectives.** After this lesson you can

        - say what an *equal training budget* means, and read a comparison run at one with the
          right amount of trust (tiny budgets give noisy rankings);
        - place every model of the course, and the classic reference networks, on one cost map
          (parameters versus multiply-adds);
        - design an Inception-style stage under a parameter and a MAC budget, and test it
          against a baseline (the capstone challenge);
        - build a depthwise separable convolution from a grouped convolution, count its cost by
          hand, and explain why Xception calls it an "extreme" Inception module;
        - explain what the Fréchet Inception Distance (FID) computes, and which part of
          Inception v3 it uses.

        **Run time:** {RUN_TIME} at `BUDGET="cpu"` on a 2-core laptop CPU (measured; the eight
        short training runs take most of it).
        """
    ),
    code(
        """
        BUDGET = "cpu"  # "cpu": minutes on a laptop CPU; "gpu": full-size runs on one GPU
        SEED = 0
        """,
        "parameters",
    ),
    code(
        """
        import time

        import matplotlib.pyplot as plt
        import torch
        from torch import nn

        from inception_lab import blocks, checks, data, models, profile, train, viz

        _ = torch.manual_seed(SEED)
        """
    ),
    # ------------------------------------------------------------------ 1. the family
    md(
        """
        ## 1. The family, one idea per step

        Every row below is a mini model of the course (32x32 inputs, three grids 16 -> 8 -> 4,
        global average pooling and one linear layer), and each adds one idea to the row above
        it. Two rows are *controls*, plain stacks of 3x3 convolutions with about the cost of the
        Inception models: one without batch norm, for the models of the GoogLeNet era, and one
        with it, for the models after BN.

        | step | model | the idea | lesson |
        |---|---|---|---|
        | baseline CNN | `mini_baseline()` | one 3x3 conv per layer, no BN | 3 |
        | naive | `mini_naive()` | 1x1, 3x3, 5x5 and pool side by side | 1 |
        | bottleneck (v1) | `mini_googlenet()` | 1x1 reductions before the big convs | 2, 3 |
        | baseline CNN + BN | `mini_baseline(bn=True)` | the plain control, with BN | 5 |
        | BN-Inception (v2) | `mini_bn_inception()` | BN after every conv; 5x5 as two 3x3 | 5 |
        | factorized (v3) | `mini_factorized()` | 1 x n + n x 1 convs, grid reductions | 4 |
        | + label smoothing | `mini_factorized()`, eps = 0.1 | softened targets in the loss | 6 |
        | residual, scaled | `mini_inception_resnet(scale=0.2)` | shortcuts, residuals x 0.2 | 7 |

        First, what each one costs. Counting needs no training: one forward pass through the
        profiler.
        """
    ),
    code(
        """
        # label: (model name, model arguments, label smoothing of the training loss)
        FAMILY = {
            "baseline CNN": ("mini_baseline", {}, 0.0),
            "naive": ("mini_naive", {}, 0.0),
            "bottleneck (v1)": ("mini_googlenet", {}, 0.0),
            "baseline CNN + BN": ("mini_baseline", {"bn": True}, 0.0),
            "BN-Inception (v2)": ("mini_bn_inception", {}, 0.0),
            "factorized (v3)": ("mini_factorized", {}, 0.0),
            "+ label smoothing": ("mini_factorized", {}, 0.1),
            "residual, scaled": ("mini_inception_resnet", {"scale": 0.2}, 0.0),
        }
        SIZE = (3, 32, 32)  # one image: MACs per image


        def make(name, **kwargs):
            torch.manual_seed(SEED)  # every model starts from the same random stream
            return models.build(name, **kwargs)


        costs = {}
        for label, (name, kwargs, eps) in FAMILY.items():
            model = make(name, **kwargs)
            costs[label] = {"params": profile.count_params(model),
                            "macs": profile.count_macs(model, SIZE)}
            print(f"{label:18s} {costs[label]['params']:>8,} parameters "
                  f"{costs[label]['macs'] / 1e6:6.2f} M MACs per image")
        """
    ),
    md(
        """
        The models were sized to cost about the same: between 165 and 263 thousand parameters
        and between 9.8 and 14.2 million MACs per image. The naive stack is the most expensive
        per image (its 3x3 and 5x5 convs read every channel of an ever wider input, lesson 1);
        the factorized v3 model is the cheapest in MACs and the largest in parameters (its wide
        last stage sits on the 4x4 grid, where weights are cheap to run). Batch norm adds almost
        nothing: two numbers per channel, and no MACs at all in the profiler's convention.
        """
    ),
    # ------------------------------------------------------------------ 2. cost map
    md(
        """
        ## 2. The cost map

        Where do these models sit among the networks you have heard of? The cost map plots
        parameters against MACs per image, both on log axes, for the course's models (red
        squares: the full-size ones at 224x224 or 299x299, the minis at 32x32) and for five
        torchvision reference networks (grey circles), all counted live from the model code,
        without downloading any weights.
        """
    ),
    code(
        """
        for name in viz.REFERENCE_MODELS:
            params, macs = viz.reference_costs(name)
            print(f"{name:13s} {params / 1e6:6.1f} M parameters {macs / 1e9:6.2f} G MACs per image")
        """
    ),
    code(
        """
        fig = viz.plot_cost_map()
        plt.show()
        """
    ),
    md(
        """
        Down and to the left is cheaper. Read it in three steps:

        - **GoogLeNet against VGG-16**, the two best entries of ILSVRC 2014: GoogLeNet needs
          about 1/22 of VGG-16's parameters and 1/10 of its multiply-adds. That gap is the
          Inception module with its 1x1 reductions and the global-average-pooling head.
        - **Inception v3 against ResNet-50**: about the same cost (24-26 M parameters, 4-6 G
          MACs). Later Inception models did not aim to be tiny, but to spend a fixed budget
          well.
        - **The minis** sit three orders of magnitude below everything else in MACs: they see
          32x32 images instead of 224x224 ones (49x fewer pixels) and are about 1/6 as wide.
          That is what lets them train on a laptop CPU in seconds.
        """
    ),
    # ------------------------------------------------------------------ 3. challenge
    md(
        """
        ## 3. The capstone challenge: your own stage

        Now you design. `models.mini_custom(make_stage)` is a test bench with the grids of every
        mini model: a fixed stem (a 3x3 conv with BN to 32 channels on 32x32), then three
        *stages* that you write, one per grid (16x16, 8x8, 4x4) with a 3x3/2 max pool before
        each, then global average pooling, dropout and a linear layer. You write
        `make_stage(in_ch, grid)`: it receives the number of input channels and the grid size
        and returns a module that keeps the grid size, built from `inception_lab.blocks` (one
        block, or an `nn.Sequential` of several). The bench measures each stage's output width
        itself.

        The rules:

        1. at most `checks.CAPSTONE_MAX_MACS` MACs per image and `checks.CAPSTONE_MAX_PARAMS`
           parameters, about **half** of what the baseline CNN costs;
        2. every stage contains at least one multi-branch block (an Inception module of any
           kind);
        3. after the same brief training, it must be **more accurate** than the baseline CNN
           with BN (the strongest plain control). The check trains both itself, on a fixed
           subset, from fixed seeds, so its verdict is the same on every run.
        """
    ),
    code(
        """
        with torch.device("meta"):  # counting needs shapes only
            control = models.mini_baseline(bn=True)
        base_params, base_macs = profile.count_params(control), profile.count_macs(control, SIZE)
        print(f"baseline CNN + BN: {base_params:>9,} parameters {base_macs:>12,} MACs per image")
        print(f"your budget:       {checks.CAPSTONE_MAX_PARAMS:>9,} parameters "
              f"{checks.CAPSTONE_MAX_MACS:>12,} MACs per image "
              f"({checks.CAPSTONE_MAX_PARAMS / base_params:.0%} and "
              f"{checks.CAPSTONE_MAX_MACS / base_macs:.0%} of the baseline)")
        """
    ),
    md(
        """
        To see how the bench works, here it is with the simplest possible stage, one naive
        module from lesson 1 with 8 filters per conv. The cost table shows where the parameters
        and the MACs go, stage by stage:
        """
    ),
    code(
        """
        def naive_stage(in_ch, grid):
            return blocks.NaiveInception(in_ch, ch1x1=8, ch3x3=8, ch5x5=8)


        torch.manual_seed(SEED)
        print(profile.cost_table(models.mini_custom(naive_stage), SIZE))
        """
    ),
    md(
        """
        Things to notice before you design: the same module costs much more on the 16x16 grid
        than on the 4x4 grid (16 times as many output pixels), while its parameters do not
        depend on the grid at all. So MACs are cheapest to spend late, and parameters are
        cheapest to spend early. Each stage's input width is the previous stage's output
        width, so a wide early stage makes every later one more expensive too.

        ### Exercise 1: design a stage

        Write `my_stage(in_ch, grid)`. Ideas from the course that you can combine:
        `blocks.Inception` (1x1 reductions, lesson 2), `blocks.InceptionA` (two 3x3 instead of
        a 5x5, lesson 4), `blocks.InceptionB` / `InceptionC` (1 x n and n x 1 convs),
        `blocks.InceptionResNetBlock` (a residual stage, lesson 7), batch norm (`bn=True`,
        lesson 5), and different widths per grid (`if grid == 16: ...`). The check below only
        counts: it tells you at once whether your design fits the budget. Whether it beats
        the baseline is checked in section 4, after training.
        """
    ),
    code(
        """
        def my_stage(in_ch, grid):
            \"\"\"A stage for a grid x grid map with in_ch channels, from inception_lab.blocks.\"\"\"
            # Exercise 1: return a module built from inception_lab.blocks that keeps the grid size, so that the whole network stays within the budget
            ### BEGIN SOLUTION
            # widths:          1x1 3x3red 3x3 dblred dbl pool_proj
            widths = {16: (16, 16, 24, 8, 12, 8),
                      8: (32, 32, 48, 12, 16, 16),
                      4: (48, 48, 64, 16, 24, 24)}[grid]
            return blocks.InceptionA(in_ch, *widths, pool="max", bn=True)
            ### END SOLUTION


        checks.capstone_budget(my_stage)
        """
    ),
    code(
        """
        torch.manual_seed(SEED)
        print(profile.cost_table(models.mini_custom(my_stage), SIZE))
        """
    ),
    # ------------------------------------------------------------------ 4. equal budget
    md(
        """
        ## 4. The family at an equal training budget

        A comparison between models is only fair if each gets the same chance. Here **equal**
        means: the same training images (a fixed subset), the same number of epochs and of
        optimizer steps, the same batch size, the same optimizer and learning-rate schedule
        (`train.fit`'s defaults: SGD with Nesterov momentum, a one-cycle schedule peaking at
        0.05, weight decay 5e-4), the same augmentation and data order, and the same seed for
        the initial weights. The loss differs only where the step *is* the loss (label
        smoothing).

        What is **not** equal, on purpose: the compute. A model that costs twice the MACs per
        image also takes longer per step, and we report those seconds. Equal steps is how the
        papers compare training recipes; equal seconds would be another, also reasonable,
        choice that favours cheap models.
        """
    ),
    code(
        """
        TRAIN_SIZE = {"cpu": 2000, "gpu": None}[BUDGET]  # None: all 10,000 training images
        EPOCHS = {"cpu": 4, "gpu": 30}[BUDGET]
        BATCH = {"cpu": 32, "gpu": 128}[BUDGET]
        device = train.pick_device(verbose=False)

        loaders = data.make_loaders("shapes", batch_size=BATCH, seed=SEED, train_size=TRAIN_SIZE,
                                    device=str(device))
        n_train = len(loaders.train) * BATCH
        print(f"{n_train:,} training images, {EPOCHS} epochs of {len(loaders.train)} steps "
              f"(batch {BATCH}): {EPOCHS * len(loaders.train)} optimizer steps per model")
        print(f"test set: {len(loaders.test.labels):,} images, {loaders.num_classes} classes "
              f"(chance: {1 / loaders.num_classes:.0%})")
        """
    ),
    md(
        """
        Now train the eight models of the family and your design, one after the other, and
        test each on the 2,000 test images. The cell prints one line per model; it takes most
        of this lesson's run time.
        """
    ),
    code(
        """
        runs = {label: (lambda n=name, kw=kwargs: make(n, **kw), eps)
                for label, (name, kwargs, eps) in FAMILY.items()}
        runs["your design"] = (lambda: (torch.manual_seed(SEED), models.mini_custom(my_stage))[1], 0.0)

        results = {}
        for label, (build, eps) in runs.items():
            model = build()
            start = time.perf_counter()
            train.fit(model, (loaders.train, None), EPOCHS, label_smoothing=eps, seed=SEED,
                      device=device, progress=False)
            seconds = time.perf_counter() - start
            test = train.evaluate(model, loaders.test)
            results[label] = {"params": profile.count_params(model),
                              "macs": profile.count_macs(model, SIZE),
                              "seconds": seconds, "acc": test["acc"]}
            print(f"{label:18s} trained in {seconds:5.1f} s, test accuracy {test['acc']:.1%}")
        assert len(results) == len(FAMILY) + 1
        assert all(r["acc"] > 0 for r in results.values())
        """,
        "nbval-ignore-output",
    ),
    md(
        """
        The whole comparison in one table, then as a figure: accuracy against MACs per image.
        """
    ),
    code(
        """
        print(f"{'model':18s} {'params':>9s} {'MACs':>7s} {'seconds':>8s} {'test acc':>9s}")
        for label, r in results.items():
            print(f"{label:18s} {r['params']:>9,} {r['macs'] / 1e6:6.2f}M {r['seconds']:7.1f}s "
                  f"{r['acc']:>9.1%}")
        with_bn = [results[k]["acc"] for k in ("baseline CNN + BN", "BN-Inception (v2)",
                                                "factorized (v3)", "+ label smoothing",
                                                "residual, scaled")]
        without_bn = [results[k]["acc"] for k in ("baseline CNN", "naive", "bottleneck (v1)")]
        print(f"worst model with BN: {min(with_bn):.1%}; best model without BN: {max(without_bn):.1%}")
        assert min(with_bn) > max(without_bn) + 0.15  # BN: the largest effect at this budget
        assert min(with_bn) > 3 / loaders.num_classes  # far above chance
        """,
        "nbval-ignore-output",
    ),
    code(
        """
        fig = viz.plot_accuracy_vs_macs(results, chance=1 / loaders.num_classes,
                                        highlight=["your design"])
        fig.axes[0].set_title(f"Test accuracy versus cost after {EPOCHS * len(loaders.train)} "
                              "equal training steps (1 MAC = 2 FLOPs)")
        plt.show()
        """
    ),
    md("""RESULTS_PROSE"""),
    md(
        """
        ### The challenge, checked

        Your design took part in the comparison above. The check now gives its verdict on
        its own terms: it trains your network and the baseline CNN with BN on a fixed subset
        (`checks.CAPSTONE_TRAINING`), from seed 0, and compares their validation accuracy.
        It takes a few seconds.
        """
    ),
    code(
        """
        checks.capstone_challenge(my_stage)
        """,
        "nbval-ignore-output",
    ),
    # ------------------------------------------------------------------ 5. xception
    md(
        """
        ## 5. Where the ideas went (1): Xception and depthwise separable convolutions

        Behind every Inception module is a hypothesis: the correlations *across channels* and
        the correlations *across space* can be learned separately. A 1x1 convolution mixes
        channels at one pixel; the 3x3 and 5x5 convolutions after it then look at space in a
        few independent towers, each reading only its own slice of the reduced channels.

        François Chollet (Xception, 2017) pushed this to the limit. Take a 1x1 convolution,
        and after it give **every single channel its own 3x3 filter**, as many towers as
        channels. A 3x3 conv that sees one channel per filter is a *depthwise* convolution, a
        `Conv2d` with `groups` equal to the number of channels. Xception swaps the order
        (depthwise first, then the 1x1 "pointwise" conv) and calls the pair a **depthwise
        separable convolution**; the order matters little when such layers are stacked.

        The spectrum is one argument away: a 1x1 conv, then a 3x3 conv with `groups` =
        1 (an ordinary conv: one tower), 4 (four towers, like an Inception module's branches),
        ..., up to one group per channel. Here it is on the input of GoogLeNet's first module,
        28x28x192 to 256 channels, next to that module itself and a plain 3x3 conv:
        """
    ),
    code(
        """
        IN, OUT, GRID = 192, 256, 28  # GoogLeNet's inception 3a: 28x28x192 -> 28x28x256
        reference = {
            "3x3 conv": blocks.ConvBNAct(IN, OUT, 3),
            "Inception v1 (3a)": blocks.Inception(IN, 64, 96, 128, 16, 32, 32),
            "separable (Xception)": nn.Sequential(
                blocks.ConvBNAct(IN, IN, 3, groups=IN, act=False),  # depthwise: a filter per channel
                blocks.ConvBNAct(IN, OUT, 1),  # pointwise: mix the channels
            ),
        }
        spectrum = {
            groups: nn.Sequential(blocks.ConvBNAct(IN, OUT, 1),
                                  blocks.ConvBNAct(OUT, OUT, 3, groups=groups))
            for groups in (1, 2, 4, 8, 16, 32, 64, 128, 256)
        }
        cost = {}
        for label, layer in [*reference.items(), *((f"1x1, then 3x3 in {g} groups", l)
                                                   for g, l in spectrum.items())]:
            cost[label] = (profile.count_weights(layer), profile.count_macs(layer, (IN, GRID, GRID)))
            print(f"{label:30s} {cost[label][0]:>9,} weights {cost[label][1] / 1e6:7.1f} M MACs")
        """
    ),
    code(
        """
        fig, ax = plt.subplots(figsize=(7.5, 4.2), layout="constrained")
        groups = list(spectrum)
        ax.plot(groups, [cost[f"1x1, then 3x3 in {g} groups"][1] / 1e6 for g in groups],
                marker="o", label="1x1 conv, then a grouped 3x3 conv")
        for (label, style) in (("3x3 conv", "--"), ("Inception v1 (3a)", ":"),
                               ("separable (Xception)", "-.")):
            ax.axhline(cost[label][1] / 1e6, ls=style, color="0.35", lw=1)
            ax.annotate(label, (1, cost[label][1] / 1e6), xytext=(2, 3),
                        textcoords="offset points", fontsize=8)
        ax.set_xscale("log", base=2)
        ax.set_xticks(groups, [str(g) for g in groups])
        ax.set_xlabel("groups in the 3x3 conv (towers; 256 = one per channel: depthwise)")
        ax.set_ylabel("MACs per image (millions)")
        ax.set_ylim(bottom=0)
        ax.set_title("From one tower to one per channel: 28x28x192 -> 256 channels")
        ax.legend(loc="upper right", fontsize=8)
        plt.show()
        """
    ),
    md(
        """
        With one group, the 3x3 conv after the 1x1 is an ordinary convolution and the pair
        costs more than the plain 3x3 conv (501 versus 347 million MACs). Each doubling of the
        groups halves the 3x3 part, and by 4 groups the pair is in the range of the Inception
        module itself (154 versus 128 million MACs). At one group per channel, the extreme,
        the 3x3 part has become almost free: all that is left is essentially the 1x1 conv.
        Xception's depthwise separable conv costs 40 million MACs, less than a third of the
        Inception module and 1/9 of the plain 3x3 conv. Xception built a whole network of such
        layers (with residual connections) and, at about the parameter count of Inception v3,
        was slightly more accurate on ImageNet; MobileNet made the same layer the standard for
        phones.

        ### Exercise 2: the cost of a separable convolution, by hand

        Write `separable_cost(in_ch, out_ch, k, size)` returning `(weights, macs)` of a
        depthwise separable convolution on a `size` x `size` map: a k x k depthwise conv (one
        filter per input channel) followed by a 1x1 conv to `out_ch` channels, stride 1,
        "same" padding, no biases. The check compares your formula with the profiler on real
        grouped convolutions.
        """
    ),
    code(
        """
        def separable_cost(in_ch, out_ch, k, size):
            \"\"\"(weights, MACs) of a k x k depthwise conv then a 1x1 conv, on a size x size map.\"\"\"
            # Exercise 2: count the weights of both convs (no biases), then the MACs of one image
            ### BEGIN SOLUTION
            weights = in_ch * k * k + in_ch * out_ch  # depthwise + pointwise
            return weights, weights * size * size  # each weight is used once per output pixel
            ### END SOLUTION


        checks.separable_conv_cost(separable_cost)
        """
    ),
    md(
        """
        Divide your formula by the standard conv's, `in_ch * out_ch * k * k` weights: the ratio
        is `1 / out_ch + 1 / k**2`. With 256 outputs and a 3x3 kernel that is 0.004 + 0.111,
        so a separable conv costs about 1/9 of a standard one, almost all of it in the 1x1
        conv:
        """
    ),
    code(
        """
        weights, macs = separable_cost(IN, OUT, 3, GRID)
        standard = cost["3x3 conv"][1]
        print(f"separable / standard = {macs / standard:.4f}; 1/out_ch + 1/k^2 = "
              f"{1 / OUT + 1 / 9:.4f}")
        """
    ),
    # ------------------------------------------------------------------ 6. FID
    md(
        """
        ## 6. Where the ideas went (2): Inception v3 inside the FID metric

        How good is an image generator (a GAN, a diffusion model)? Since 2017 the standard
        number is the **Fréchet Inception Distance** (FID, Heusel et al.). It needs no labels,
        only two sets of images, real and generated, and an Inception v3 trained on ImageNet:

        1. run every image (resized to 299x299) through Inception v3 up to its last pooling
           layer, "pool3": the global average of the final 8x8x2048 map, a vector of 2,048
           numbers per image. These features encode what a good classifier notices;
        2. fit a Gaussian to each set: a mean vector $\\mu$ (2,048 numbers) and a covariance
           matrix $\\Sigma$ (2,048 x 2,048);
        3. report the Fréchet (Wasserstein-2) distance between the two Gaussians:

        $$\\text{FID} = \\lVert \\mu_r - \\mu_g \\rVert^2
          + \\operatorname{Tr}\\big(\\Sigma_r + \\Sigma_g - 2\\,(\\Sigma_r \\Sigma_g)^{1/2}\\big).$$

        Lower is better; 0 means the two Gaussians coincide. Here is the feature extractor,
        from our own `models.inception_v3()` (lesson 4), built on the "meta" device: shapes
        without arithmetic and without weights.
        """
    ),
    code(
        """
        with torch.device("meta"):
            v3 = models.inception_v3()
            pool3 = nn.Sequential(*(getattr(v3, stage) for stage in v3.stage_names),
                                  v3.avgpool, nn.Flatten())
            features = pool3(torch.zeros(8, 3, 299, 299))
        print(f"8 images of 3x299x299 -> features of shape {tuple(features.shape)}")
        print(f"the feature extractor: {profile.count_params(pool3):,} parameters "
              f"(Inception v3 without its {profile.count_params(v3.fc):,}-parameter classifier)")
        """
    ),
    md(
        """
        The distance itself is a few lines. The square root of a matrix product looks
        expensive, but its trace is the sum of the square roots of the eigenvalues of
        $\\Sigma_r \\Sigma_g$. A check on a case we can do by hand: for two one-dimensional
        Gaussians the formula reduces to $(\\mu_1 - \\mu_2)^2 + (\\sigma_1 - \\sigma_2)^2$.
        """
    ),
    code(
        """
        def frechet_distance(mu1, cov1, mu2, cov2):
            \"\"\"Fréchet distance between N(mu1, cov1) and N(mu2, cov2) (the formula of FID).\"\"\"
            eigenvalues = torch.linalg.eigvals(cov1 @ cov2).real.clamp(min=0)
            return ((mu1 - mu2) ** 2).sum() + cov1.trace() + cov2.trace() - 2 * eigenvalues.sqrt().sum()


        one_d = frechet_distance(torch.tensor([0.0]), torch.tensor([[1.0]]),  # N(0, 1^2)
                                 torch.tensor([3.0]), torch.tensor([[4.0]]))  # N(3, 2^2)
        print(f"N(0, 1) versus N(3, 2^2): {one_d:.4f} (by hand: 3^2 + (1 - 2)^2 = 10)")

        g = torch.Generator().manual_seed(SEED)
        for n in (100, 1_000, 10_000):  # two samples of the SAME 64-d Gaussian
            a, b = torch.randn(n, 64, generator=g), torch.randn(n, 64, generator=g)
            d = frechet_distance(a.mean(0), a.T.cov(), b.mean(0), b.T.cov())
            print(f"{n:>6,} samples each, same distribution: {d:.3f}")
        """
    ),
    md(
        """
        Two lessons from the second experiment: FID is **biased upwards** for small samples (two
        samples of the same distribution are not at distance 0), so FID values are only
        comparable at the same number of images, conventionally 50,000; and with 2,048-d
        features, the covariance needs thousands of images to be estimated at all.

        What we did not do: real FID needs Inception v3's **pretrained ImageNet weights** (the
        features of a random network measure nothing useful), and this course downloads no
        weights. The reference implementations (TensorFlow's original, and `pytorch-fid`, which
        ports its weights) use the 2015 TensorFlow checkpoint, whose numbers differ slightly
        from torchvision's retrained `inception_v3` weights; FID values computed with different
        weights or resizing code are not comparable. So a 2015 classification network is still
        the yardstick of image generation: an odd afterlife, and a reason to know what is
        inside it.
        """
    ),
    # ------------------------------------------------------------------ summary
    md(
        """
        ## Summary

        - An **equal training budget** fixes the data, the epochs and steps, the batch size, the
          optimizer, the schedule and the seeds; it does not equalize compute. At a budget of a
          few hundred steps, batch norm decides more than any architectural idea: every model
          with BN learned, the three without it barely started. Rankings among close models at
          such budgets are noise; trust only large, repeatable gaps.
        - On the cost map, GoogLeNet needs about 1/22 of VGG-16's parameters and 1/10 of its
          MACs; Inception v3 costs about what ResNet-50 costs; the course's minis are three
          orders of magnitude cheaper because of their 32x32 inputs and small widths.
        - A stage's MACs grow with its grid; its parameters do not. Spend MACs on the coarse
          grids and keep the early, fine grid narrow.
        - Xception's **depthwise separable convolution** is the Inception hypothesis at its
          extreme: a 1x1 conv for the channels, then one spatial filter per channel. It costs
          `1/out_ch + 1/k^2` of a standard conv; built here with `groups` = channels.
        - **FID** compares Gaussians fitted to Inception v3's 2,048-d pool3 features of real
          and generated images; it needs the pretrained weights and many images.

        **Where to go from here.** Run this notebook with `BUDGET = "gpu"` for the full
        comparison on all the data; lesson 8 shows how to train on CIFAR-10 or your own images;
        and try your design from Exercise 1 at full size. The course ends here: you have built,
        measured and trained every idea of the Inception family from its blocks.
        """
    ),
]

if __name__ == "__main__":
    write("/work/main/notebooks/09_capstone.ipynb", cells)
