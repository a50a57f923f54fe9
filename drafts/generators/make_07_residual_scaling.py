"""Generate notebooks/07_residual_scaling.ipynb (lesson 7: Inception-ResNet and residual scaling).

Run from the repository root: .venv/bin/python drafts/generators/make_07_residual_scaling.py
then execute it in place: make execute NB=notebooks/07_residual_scaling.ipynb
Settings and result-dependent prose live in SETTINGS (filled in after looking at the numbers).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbtools78 import code, md, write

SETTINGS = {
    "RUN_TIME": "about 2 min",
}

cells = [
    md(
        """
        # Lesson 7 — Inception-ResNet and residual scaling

        In 2015 residual networks (ResNets) won ImageNet with *shortcut connections*: each block
        adds its output to its input instead of replacing it. A year later Szegedy, Ioffe,
        Vanhoucke and Alemi asked whether Inception gains from the same idea, and built
        **Inception-ResNet**: Inception modules inside residual blocks. It trained markedly
        faster than a plain Inception network of the same cost, but only after one small,
        essential change: each residual had to be **scaled down** (by 0.1 to 0.3) before it was
        added. Without it, their widest networks broke down early in training. This lesson
        builds the block, measures why the scaling matters, and breaks a network on purpose.

        **Learning objectives.** After this lesson you can

        - read an Inception-ResNet block (branches, linear 1x1 projection, scale, shortcut,
          ReLU) and write its forward pass yourself;
        - measure with forward hooks how activations grow through a deep stack of residual
          blocks for scales 1.0, 0.3 and 0.1, at initialisation and after training;
        - provoke a divergence, read the training engine's divergence report, and watch the
          scaled twin of the same network train;
        - find the largest residual scale that stays stable in a given setting;
        - compare how fast the same stack learns with and without its shortcuts.

        **Run time:** RUN_TIME at `BUDGET="cpu"` on a 2-core laptop CPU (measured; the short
        training runs of sections 3 to 5 take most of it).
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
        import copy

        import matplotlib.pyplot as plt
        import torch

        from inception_lab import blocks, checks, data, models, profile, train, viz

        torch.manual_seed(SEED)
        """
    ),
    md(
        r"""
        ## 1. An Inception module with a shortcut

        A residual block computes a correction $F(x)$ and adds it to its input: $y = x + F(x)$.
        The identity path carries the signal, and the gradient, through any number of blocks
        unchanged, so very deep stacks remain trainable. Inception-ResNet puts an Inception
        module inside $F$:

        $$y = \mathrm{ReLU}\big(x + s \cdot \mathrm{project}(\mathrm{concat}(\mathrm{branches}(x)))\big)$$

        - **branches**: parallel convolution branches as in Inception, but without a pooling
          branch, and narrower than the block's input;
        - **project**: a 1x1 convolution back to the input width, because $x$ and the residual
          must have the same shape to be added. It is *linear* (no ReLU), so the correction can
          push activations down as well as up;
        - **s**, the residual scale: 1.0 means no scaling; the paper used 0.1 to 0.3;
        - batch norm sits inside the branches only, never after the sum (the paper saved GPU
          memory that way); the sum itself is not normalized by anything.

        `blocks.InceptionResNetBlock` implements this, and its `a()`, `b()` and `c()`
        constructors give the three blocks of Inception-ResNet-v2, one per grid size:
        """
    ),
    code(
        """
        v2_blocks = {
            "A (35x35)": (blocks.InceptionResNetBlock.a(320), 35),
            "B (17x17)": (blocks.InceptionResNetBlock.b(1088), 17),
            "C (8x8)": (blocks.InceptionResNetBlock.c(2080), 8),
        }
        for name, (block, grid) in v2_blocks.items():
            macs = profile.count_macs(block, (block.in_ch, grid, grid))
            print(f"block {name}: {block.in_ch:4d} channels in and out, branches concatenated to "
                  f"{block.project.in_ch}, scale {block.scale:g}, "
                  f"{profile.count_params(block):>9,} parameters, {macs / 1e6:5.0f} M MACs")
        """
    ),
    code(
        """
        fig = viz.draw_blocks([b for b, _ in v2_blocks.values()], titles=list(v2_blocks))
        fig.suptitle("The three residual blocks of Inception-ResNet-v2, drawn from the modules")
        plt.show()
        """
    ),
    md(
        """
        Read each diagram from the bottom. The branches work in a narrow space (the concat box:
        128, 384 and 448 channels) and the linear 1x1 conv expands back to the block's full
        width (320, 1088, 2080) - the bottleneck shape of ResNet's blocks. The green "x scale"
        box sits right before the "+", and the shortcut on the left carries the input to the
        sum untouched. The scales drawn (0.17, 0.1, 0.2) are the ones of the TF-slim release of
        Inception-ResNet-v2, which this model follows.

        ### Exercise 1: the forward pass

        Write `scaled_residual(x, branches, project, scale)`: run every branch on `x`,
        concatenate the outputs along the channel axis (in the order given), project them with
        the 1x1 conv, multiply by `scale`, add `x`, and apply the ReLU. The check runs your
        function on the modules of a real `InceptionResNetBlock` and compares the outputs.
        """
    ),
    code(
        '''
        def scaled_residual(x, branches, project, scale):
            """y = ReLU(x + scale * project(concat(branches(x)))); x: (N, C, H, W) -> (N, C, H, W)."""
            # Exercise 1: concatenate the branch outputs along the channels, project them, scale the result, add x and apply the ReLU
            ### BEGIN SOLUTION
            mixed = torch.cat([branch(x) for branch in branches], dim=1)
            return torch.relu(x + scale * project(mixed))
            ### END SOLUTION


        checks.scaled_residual_forward(scaled_residual)
        '''
    ),
    md(
        """
        Your function on block A of Inception-ResNet-v2 (in evaluation mode, on a random
        non-negative input, as a ReLU before it would produce), and a first look at what the
        scale does: how large is the correction a block adds, compared with its input?
        """
    ),
    code(
        """
        block_a = v2_blocks["A (35x35)"][0].eval()
        x = torch.relu(torch.randn(2, 320, 35, 35))
        with torch.no_grad():
            residual = block_a.project(torch.cat([b(x) for b in block_a.branches.values()], dim=1))
            ours = scaled_residual(x, list(block_a.branches.values()), block_a.project, block_a.scale)
            print(f"largest difference to InceptionResNetBlock: {(ours - block_a(x)).abs().max():.1e}")
        for scale in (1.0, 0.3, 0.1):
            print(f"scale {scale}: the added correction has {scale * residual.std() / x.std():.2f} "
                  f"times the input's standard deviation")
        """
    ),
    md(
        """
        At initialisation an unscaled block adds a correction about as large as its input: the
        block's output is a roughly equal mix of old and new. Scaled by 0.1, the correction is a
        small nudge. One block does not care much. A stack of dozens does.
        """
    ),
    md(
        """
        ## 2. Activations through a deep stack

        Every block adds its correction to a running sum that no layer normalizes. If each
        correction has about the size of the sum so far, the sum's variance grows by a constant
        *factor* per block: exponential growth with depth. Batch norm inside the branches keeps
        each correction at a fixed size instead, so the sum's variance grows by a constant
        *amount* per block: much slower, but still growing. Scaling a correction by *s*
        multiplies its variance by *s*<sup>2</sup>: 0.09 at *s* = 0.3, 0.01 at *s* = 0.1.

        We measure it with **forward hooks**: a function that PyTorch calls after a module's
        forward pass, with the module's output. One hook per residual block records the
        standard deviation of what the block passes on. The network: `mini_inception_resnet`
        with DEPTH_TEXT, once without batch norm and once with it (in the branches, as in the
        paper), at three scales. The input is one batch of real images.
        """
    ),
    code(
        """
        def block_stds(model, images):
            \"\"\"Standard deviation of each residual block's output, in depth order, for one batch
            (training mode, as training sees it; on a copy, so the model's BN statistics stay).\"\"\"
            model = copy.deepcopy(model).train()
            stds = []
            hooks = [m.register_forward_hook(lambda mod, inputs, out: stds.append(out.std().item()))
                     for m in model.modules() if isinstance(m, blocks.InceptionResNetBlock)]
            with torch.no_grad():
                model(images)
            for h in hooks:
                h.remove()
            return stds


        DEEP = DEEP_VALUE  # a deep stack: residual blocks on the 16x16, 8x8 and 4x4 grids
        loaders = data.make_loaders("shapes", batch_size=BATCH, seed=SEED, train_size=TRAIN_SIZE,
                                    val_size=VAL_SIZE)
        probe = next(iter(loaders.val))[0]  # one fixed batch of validation images
        at_init = {}
        for bn in (False, True):
            for scale in (1.0, 0.3, 0.1):
                torch.manual_seed(SEED)
                model = models.mini_inception_resnet(scale=scale, bn=bn, **DEEP)
                at_init[bn, scale] = block_stds(model, probe)
        n_blocks = len(at_init[False, 1.0])
        print(f"{n_blocks} residual blocks; input batch {tuple(probe.shape)}")
        for (bn, scale), stds in at_init.items():
            print(f"{'BN in branches' if bn else 'no BN':14s} scale {scale}: std after block 1 "
                  f"{stds[0]:7.3g}, after block {n_blocks} {stds[-1]:9.3g} (x{stds[-1] / stds[0]:.3g})")
        """
    ),
    code(
        """
        def plot_stds(ax, curves, title):
            for label, stds in curves.items():
                ax.plot(range(1, len(stds) + 1), stds, marker=".", label=label)
            for boundary in BOUNDARIES:  # grid reductions between the stages
                ax.axvline(boundary + 0.5, color="0.8", lw=0.8)
            ax.set_yscale("log")
            ax.set_xlabel("residual block (input side left, output side right)")
            ax.set_ylabel("std of the block's output (log)")
            ax.set_title(title, fontsize=10)
            ax.legend(fontsize=8)


        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained", sharey=True)
        for ax, bn in zip(axes, (False, True)):
            curves = {f"scale {s}": at_init[bn, s] for s in (1.0, 0.3, 0.1)}
            plot_stds(ax, curves, "no batch norm" if not bn else "batch norm in the branches")
        fig.suptitle("Activation scale through the stack at initialisation (grey lines: grid reductions)")
        plt.show()
        """
    ),
    md(
        """
        INIT_PROSE
        """
    ),
    md(
        """
        ## 3. An unscaled stack diverges; the scaled one trains

        Now we train that stack. To see instability in seconds on a CPU, we use the harshest
        version of the setting: no batch norm at all, so nothing re-normalizes the growing sum,
        and SGD with the course's usual learning rate. (Section 6 compares this with what the
        paper saw.) When the loss becomes NaN or infinite, `train.fit` stops *before* applying
        the update and raises `train.TrainingDiverged`; the exception carries a report and the
        `History` of the epochs completed before it. Catching it lets a notebook plot the
        failed run next to a healthy one.
        """
    ),
    code(
        """
        LR, EPOCHS = LR_VALUE, {"cpu": EPOCHS_CPU, "gpu": 20}[BUDGET]
        STABLE_SCALE = STABLE_SCALE_VALUE
        deep_runs, deep_models = {}, {}
        for scale in (1.0, STABLE_SCALE):
            torch.manual_seed(SEED)
            model = models.mini_inception_resnet(scale=scale, bn=False, **DEEP)
            try:
                deep_runs[scale] = train.fit(model, loaders, EPOCHS, lr=LR, seed=SEED, progress=False)
            except train.TrainingDiverged as err:
                print(f"scale {scale}: {err}")
                print(f"the report: {err.history.diverged}")
                deep_runs[scale] = err.history
            deep_models[scale] = model
        h = deep_runs[STABLE_SCALE]
        print(f"scale {STABLE_SCALE}: trained {len(h)} epochs; final val acc {h.records[-1]['val_acc']:.1%}")
        ASSERTS_DIVERGE
        """,
        "nbval-ignore-output",
    ),
    md(
        """
        DIVERGE_PROSE
        """
    ),
    code(
        """
        fig = viz.plot_history({f"scale 1.0": deep_runs[1.0], f"scale {STABLE_SCALE}": deep_runs[STABLE_SCALE]})
        fig.suptitle(f"The same {n_blocks}-block stack without batch norm, SGD at lr {LR}")
        plt.show()
        """
    ),
    md(
        """
        HISTORY_PROSE

        What did training do to the activations? The unscaled model is frozen at its last finite
        step (the engine stops before the update that would have produced NaN weights); the
        scaled one has finished training. The same hooks, the same batch:
        """
    ),
    code(
        """
        after = {scale: block_stds(m, probe) for scale, m in deep_models.items()}
        for scale, stds in after.items():
            print(f"scale {scale}: last block std {stds[-1]:.3g} after training "
                  f"({at_init[False, scale][-1]:.3g} at initialisation)")
        fig, ax = plt.subplots(figsize=(6.5, 3.8), layout="constrained")
        plot_stds(ax, {
            "scale 1.0, initialisation": at_init[False, 1.0],
            "scale 1.0, last finite step": after[1.0],
            f"scale {STABLE_SCALE}, initialisation": at_init[False, STABLE_SCALE],
            f"scale {STABLE_SCALE}, after training": after[STABLE_SCALE],
        }, "no batch norm: before and after training")
        plt.show()
        ASSERTS_AFTER
        """,
        "nbval-ignore-output",
    ),
    md(
        """
        AFTER_PROSE
        """
    ),
    md(
        """
        ## 4. How large a scale is safe?

        Between 1.0, which breaks, and STABLE_SCALE_VALUE, which trains, where is the limit? A
        sweep answers it: train the same stack briefly at each candidate scale and see which
        runs survive. To keep it cheap every run takes SWEEP_STEPS steps on the same fixed
        batches, at a constant learning rate (no warm-up, so an unstable scale shows itself
        right away).

        ### Exercise 2: the largest stable scale

        For each scale in `CANDIDATES`, from the largest down: seed with
        `torch.manual_seed(SEED)`, build `models.mini_inception_resnet(scale=scale,
        **SWEEP_MODEL)`, train it with `train.fit(model, (sweep_batches, None), 1,
        **SWEEP_FIT)`, and catch `train.TrainingDiverged`. Set `largest_stable` to the first
        scale that trains without diverging. The check re-runs the setting for your answer and
        for the next larger candidate.
        """
    ),
    code(
        """
        CANDIDATES = CANDIDATES_VALUE
        SWEEP_MODEL = dict(bn=False, **DEEP)
        SWEEP_FIT = dict(lr=LR, schedule=None, seed=SEED, progress=False)
        loaders.train.set_epoch(0)
        sweep_batches = [batch for _, batch in zip(range(SWEEP_STEPS), loaders.train)]
        print(f"{len(sweep_batches)} batches of {len(sweep_batches[0][1])} images, constant lr {LR}")
        """
    ),
    code(
        """
        # Exercise 2: try the candidate scales from the largest down and set largest_stable to the first one whose run does not raise train.TrainingDiverged
        ### BEGIN SOLUTION
        largest_stable = None
        for scale in sorted(CANDIDATES, reverse=True):
            torch.manual_seed(SEED)
            model = models.mini_inception_resnet(scale=scale, **SWEEP_MODEL)
            try:
                train.fit(model, (sweep_batches, None), 1, **SWEEP_FIT)
            except train.TrainingDiverged as err:
                print(f"scale {scale}: diverged at step {err.step}")
                continue
            print(f"scale {scale}: trained all {len(sweep_batches)} steps")
            largest_stable = scale
            break
        ### END SOLUTION

        checks.largest_stable_scale(largest_stable, CANDIDATES, SWEEP_MODEL, SWEEP_FIT, sweep_batches, SEED)
        """,
        "nbval-ignore-output",
    ),
    md(
        """
        SWEEP_PROSE
        """
    ),
    md(
        """
        ## 5. With and without the shortcut

        The paper's main finding about residual connections was speed: Inception-ResNet-v2
        reached the accuracy of Inception-v4, a plain Inception network of similar cost, in
        clearly fewer epochs, and ended only slightly better. `residual=False` removes the
        shortcuts from the same stack (each block then outputs `ReLU(s * project(...))`, and the
        next block's batch norm undoes the constant factor `s`). Both networks here have batch
        norm in their branches, the paper's layout, and train with the same optimizer, schedule
        and data:
        """
    ),
    code(
        """
        COMPARE = COMPARE_VALUE
        compare_runs = {}
        for residual in (True, False):
            torch.manual_seed(SEED)
            model = models.mini_inception_resnet(residual=residual, **COMPARE)
            label = "with shortcuts" if residual else "without shortcuts"
            compare_runs[label] = train.fit(model, loaders, EPOCHS, seed=SEED, progress=False)
            print(f"{label:17s} val acc per epoch: "
                  + " ".join(f"{r['val_acc']:.1%}" for r in compare_runs[label].records))
        ASSERTS_COMPARE
        """,
        "nbval-ignore-output",
    ),
    code(
        """
        fig = viz.plot_history(compare_runs)
        fig.suptitle("The same Inception stack with and without its shortcut connections")
        plt.show()
        """
    ),
    md(
        """
        COMPARE_PROSE
        """
    ),
    md(
        """
        ## 6. What we did, and what the paper saw

        PAPER_PROSE
        """
    ),
    md(
        """
        ## Summary

        - An Inception-ResNet block is an Inception module without a pool branch, a linear 1x1
          projection back to the input width, a scale, a shortcut and a ReLU:
          `y = ReLU(x + s * project(concat(branches(x))))`.
        - Nothing normalizes the residual sum, so its size grows with depth: exponentially
          without batch norm, more slowly with it. Scaling each correction by 0.1-0.3 keeps the
          sum close to its input's size.
        - Without scaling, SUMMARY_DIVERGE
        - `train.TrainingDiverged` turns a blow-up into a report (epoch, step, last finite loss,
          learning rate) and keeps the history, so a failed run can be studied and plotted.
        - SUMMARY_COMPARE

        **Next:** lesson 8 moves from the architecture to the machine: mixed precision,
        channels_last, `torch.compile`, the v3 training recipe and training on several GPUs.
        """
    ),
]

if __name__ == "__main__":
    for cell in cells:
        for key, value in SETTINGS.items():
            cell.source = cell.source.replace(key, value)
    write(
        str(Path(__file__).resolve().parents[2] / "notebooks" / "07_residual_scaling.ipynb"), cells
    )
