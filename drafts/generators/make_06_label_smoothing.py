"""Generate notebooks/06_label_smoothing.ipynb (lesson 6: label smoothing and calibration).

Run: /work/main/.venv/bin/python /work/team/lessons/make_06_label_smoothing.py
then execute it in place: cd /work/main && make execute NB=notebooks/06_label_smoothing.ipynb
"""

import sys

sys.path.insert(0, "/work/team/lessons")
from nbtools56 import code, md, write  # noqa: E402

RUN_TIME = "about 2 min"  # measured with `make course NB=...`; updated after measuring

cells = [
    md(
        f"""
        # Lesson 6 — Label smoothing and calibration

        Inception v3 trained against *softened* targets: instead of "this image is class 3 with
        probability 1", it said "class 3 with probability 0.9, and a little for every class".
        This lesson builds that loss, looks at what it does to the loss surface, and measures
        what it does to a trained network's accuracy and to how much its confidence can be
        trusted.

        **Learning objectives.** After this lesson you can

        - write the smoothed targets $(1-\\epsilon)\\,\\text{{one\\_hot}} + \\epsilon/K$ and the
          smoothed cross-entropy yourself, and check them against
          `nn.CrossEntropyLoss(label_smoothing=eps)`;
        - explain, with the loss as a function of the true-class logit, why one-hot targets push
          logits up without limit and smoothed targets do not;
        - measure calibration: confidence histograms, a reliability diagram and the expected
          calibration error (ECE), which you implement;
        - compare a small training run with the v3 paper's ablation and say why they differ.

        **Run time:** {RUN_TIME} at `BUDGET="cpu"` on a 2-core laptop CPU (measured; the two
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
        import matplotlib.pyplot as plt
        import torch
        from torch import nn
        from torch.nn import functional as F

        from inception_lab import checks, data, models, train, viz, widgets

        _ = torch.manual_seed(SEED)
        """
    ),
    md(
        """
        ## 1. What is wrong with one-hot targets?

        With a one-hot target the cross-entropy of an example is $-\\log p_y$, where $p_y$ is the
        softmax probability of the true class. It reaches its minimum, zero, only when
        $p_y = 1$, which needs the true class's logit to be *infinitely* larger than all the
        others. So as long as it trains, the network is rewarded for pushing its logits further
        apart, even on examples it already gets right. The v3 paper argues that this makes the
        model over-confident and less able to adapt, and proposes a fix that costs nothing:
        mix the one-hot target with the uniform distribution over the $K$ classes,

        $$q = (1-\\epsilon)\\,\\text{one\\_hot}(y) + \\frac{\\epsilon}{K}.$$

        The true class gets $1 - \\epsilon + \\epsilon/K$, every other class $\\epsilon/K$, and the
        target still sums to 1. For the paper's ImageNet setting ($\\epsilon = 0.1$,
        $K = 1000$):
        """
    ),
    code(
        """
        for k in (1000, 10):
            q = viz.smoothed_target(k, eps=0.1)
            print(f"K = {k:4d}, eps = 0.1: true class {q[0]:.4f}, each other class {q[1]:.4f}, "
                  f"sum {q.sum():.4f}")
        """
    ),
    md(
        """
        Note that the true class gets 0.9001, not 0.9: the $\\epsilon/K$ share goes to *every*
        class, the true one included (some texts describe the true class's target as exactly
        $1-\\epsilon$, which is a different, if similar, variant). PyTorch's
        `nn.CrossEntropyLoss(label_smoothing=eps)` uses the paper's definition.

        The loss is the cross-entropy against $q$ instead of the one-hot target:
        $\\ell = -\\sum_k q_k \\log p_k$. Because $q$ is a mixture, so is the loss:
        $\\ell = (1-\\epsilon)\\,(-\\log p_y) + \\epsilon\\,\\big(-\\tfrac1K \\sum_k \\log p_k\\big)$,
        the usual loss plus a term that pulls every probability towards $1/K$.

        ### Exercise 1: the smoothed loss

        Write `smoothed_cross_entropy(logits, labels, eps)`: the mean over the batch of the
        cross-entropy between the smoothed targets and the softmax of the logits. Compute the
        log-probabilities with `torch.log_softmax` (it stays finite for large logits, where
        `torch.log(torch.softmax(...))` underflows to $-\\infty$).
        """
    ),
    code(
        '''
        def smoothed_cross_entropy(logits, labels, eps):
            """Mean label-smoothed cross-entropy. logits: (N, K) float; labels: (N,) int64 in [0, K)."""
            # Exercise 1: return the mean over the batch of -sum(q * log_softmax(logits)) with targets q = (1 - eps) * one_hot + eps / K
            ### BEGIN SOLUTION
            k = logits.shape[1]
            targets = (1 - eps) * F.one_hot(labels, k).to(logits.dtype) + eps / k
            return -(targets * logits.log_softmax(dim=1)).sum(dim=1).mean()
            ### END SOLUTION


        checks.smoothed_loss(smoothed_cross_entropy)
        '''
    ),
    code(
        """
        logits, labels, eps = 3 * torch.randn(8, 10), torch.randint(0, 10, (8,)), 0.1
        log_p = logits.log_softmax(dim=1)
        mixture = (1 - eps) * F.nll_loss(log_p, labels) + eps * (-log_p.mean(dim=1)).mean()
        print(f"ours {smoothed_cross_entropy(logits, labels, eps):.4f}   "
              f"nn.CrossEntropyLoss {nn.CrossEntropyLoss(label_smoothing=eps)(logits, labels):.4f}   "
              f"(1 - eps) * CE + eps * uniform term {mixture:.4f}")
        """
    ),
    md(
        """
        ## 2. Where is the loss lowest?

        Take one example, set every logit to 0 except the true class's logit $z$, and watch the
        loss as $z$ grows. Without smoothing it falls forever towards 0; with smoothing it has a
        minimum at a finite logit, $z^* = \\log\\big(1 + K(1-\\epsilon)/\\epsilon\\big)$, past
        which a larger logit is *penalized*. Move the sliders (in JupyterLab) to see the target
        distribution and the loss curve change with $\\epsilon$ and the number of classes.
        """
    ),
    code(
        """
        explorer = widgets.label_smoothing_explorer(eps=0.1, num_classes=10)
        display(explorer)
        assert explorer.error is None and explorer.result["target_true"] > 0.9
        """,
        "nbval-ignore-output",
    ),
    md(
        """
        For readers of the executed notebook (and to check what the widget computes), here are
        the same numbers for a few settings, and the static figure for $\\epsilon = 0.1$, ten
        classes:
        """
    ),
    code(
        """
        for k, eps in ((10, 0.0), (10, 0.1), (10, 0.3), (1000, 0.1)):
            s = widgets.label_smoothing_summary(eps, k)
            print(f"K = {k:4d}, eps = {eps:.1f}: targets {s['target_true']:.4f} / "
                  f"{s['target_other']:.5f}, lowest loss {s['min_loss']:.3f} "
                  f"at true-class logit z* = {s['optimum_logit']:.2f}")
        explorer.controls["eps"].value = 0.3  # what moving the slider does
        assert explorer.error is None and explorer.result == widgets.label_smoothing_summary(0.3, 10)
        explorer.controls["eps"].value = 0.1
        """
    ),
    code(
        """
        fig = viz.plot_label_smoothing(num_classes=10, eps=0.1)
        plt.show()
        """
    ),
    md(
        """
        Left: the target the network is trained towards; the true class (red) keeps most of the
        mass, the others share $\\epsilon$. Right: without smoothing (dashed) the loss keeps
        falling as the true-class logit grows, so the optimizer never stops pushing it up; with
        $\\epsilon = 0.1$ the loss has a minimum near $z = 4.5$ and *rises* beyond it. The
        smoothed loss never reaches zero either: its floor is the entropy of the target.
        """
    ),
]

cells += [
    md(
        """
        ## 3. Training with and without smoothing

        Same model, same data, same seed, same budget; the only difference is the loss:
        `train.fit(..., label_smoothing=0.1)` uses `nn.CrossEntropyLoss(label_smoothing=0.1)`,
        the loss you just wrote. The model is MODEL_DESCRIPTION; the optimizer and schedule are
        the course defaults (SGD with momentum, one-cycle learning rate).
        """
    ),
    code(
        """
        WIDTH = {"cpu": 0.5, "gpu": 1.0}[BUDGET]
        TRAIN_SIZE = {"cpu": TRAIN_SIZE_CPU, "gpu": None}[BUDGET]  # None: all 10,000 images
        EPOCHS = {"cpu": EPOCHS_CPU, "gpu": 30}[BUDGET]
        EPS = 0.1

        loaders = data.make_loaders("shapes", batch_size=64, seed=SEED, train_size=TRAIN_SIZE)
        print(f"{len(loaders.train)} steps of 64 images per epoch, {EPOCHS} epochs, "
              f"{loaders.num_classes} classes")
        """
    ),
    code(
        """
        nets, histories = {}, {}
        for label, eps in (("one-hot", 0.0), (f"smoothed, eps = {EPS}", EPS)):
            torch.manual_seed(SEED)
            nets[label] = models.MODEL_NAME(num_classes=loaders.num_classes, width=WIDTH)
            histories[label] = train.fit(nets[label], loaders, EPOCHS, label_smoothing=eps,
                                         seed=SEED, progress=False)
            r = histories[label].records[-1]
            print(f"{label:20s} train acc {r['train_acc']:.1%}, val acc {r['val_acc']:.1%}, "
                  f"{sum(x['seconds'] for x in histories[label].records):.0f} s")
        assert all(len(h.records) == EPOCHS and h.diverged is None for h in histories.values())
        """,
        "nbval-ignore-output",
    ),
    code(
        """
        predictions = {label: train.predict(net, loaders.test) for label, net in nets.items()}
        for label, (probs, labels) in predictions.items():
            confidence, predicted = probs.max(dim=1)
            accuracy = (predicted == labels).float().mean()
            print(f"{label:20s} test accuracy {accuracy:.1%}, mean confidence {confidence.mean():.1%}, "
                  f"highest confidence {confidence.max():.3f}")
        ASSERTS_PREDICT
        """,
        "nbval-ignore-output",
    ),
    code(
        """
        fig = viz.plot_confidence_hist({label: probs for label, (probs, _) in predictions.items()})
        plt.show()
        """
    ),
    md(
        """
        HIST_PROSE
        """
    ),
    md(
        """
        ## 4. Is the confidence right? Calibration

        A model is **calibrated** when its confidence matches its accuracy: of all the
        predictions it makes with confidence 0.8, about 80% should be right. A reliability
        diagram sorts the predictions into bins of confidence and plots each bin's accuracy
        against its confidence; a calibrated model lies on the diagonal. The **expected
        calibration error** (ECE, Guo et al. 2017) summarizes the diagram in one number: the
        gap between accuracy and mean confidence in each bin, weighted by the fraction of
        predictions in the bin,

        $$\\text{ECE} = \\sum_b \\frac{n_b}{N}\\,\\big|\\text{acc}_b - \\text{conf}_b\\big| .$$

        ### Exercise 2: expected calibration error

        Write `expected_calibration_error(probs, labels, n_bins)`: the confidence of a
        prediction is its largest probability, the prediction is right when that class is the
        label, and the bins split [0, 1] into `n_bins` equal-width intervals (a confidence of
        exactly 0.3 belongs to the bin that ends at 0.3). Return a float.
        """
    ),
    code(
        '''
        def expected_calibration_error(probs, labels, n_bins=10):
            """ECE of predictions. probs: (N, K) probabilities; labels: (N,) int64. Returns a float."""
            # Exercise 2: bin the predictions by confidence into n_bins equal-width bins and return the average over the bins of |accuracy - mean confidence|, weighted by the fraction of predictions in each bin
            ### BEGIN SOLUTION
            confidence, predicted = probs.max(dim=1)
            correct = (predicted == labels).float()
            ece = 0.0
            for b in range(n_bins):
                in_bin = (confidence > b / n_bins) & (confidence <= (b + 1) / n_bins)
                if in_bin.any():
                    gap = correct[in_bin].mean() - confidence[in_bin].mean()
                    ece += in_bin.float().mean().item() * gap.abs().item()
            return ece
            ### END SOLUTION


        checks.calibration_error(expected_calibration_error)
        '''
    ),
    code(
        """
        for label, (probs, labels) in predictions.items():
            ours = expected_calibration_error(probs, labels)
            library = viz.calibration_bins(probs, labels)["ece"]
            print(f"{label:20s} ECE {ours:.3f} (viz.calibration_bins: {library:.3f})")
            assert abs(ours - library) < 1e-6
        ASSERTS_ECE
        """,
        "nbval-ignore-output",
    ),
    code(
        """
        for label, (probs, labels) in predictions.items():
            fig = viz.plot_reliability(probs, labels)
            fig.suptitle(label)
            plt.show()
        """
    ),
    md(
        """
        RELIABILITY_PROSE
        """
    ),
    md(
        """
        ## 5. Our result and the paper's

        The v3 paper's ablation: the same Inception v3 trained on ImageNet with and without
        label smoothing.
        """
    ),
    code(
        """
        paper = {"one-hot": 23.1, "smoothed, eps = 0.1": 22.8}  # ImageNet top-1 error, %, v3 paper
        gain = paper["one-hot"] - paper["smoothed, eps = 0.1"]
        for label, error in paper.items():
            print(f"v3 paper, {label:20s} top-1 error {error}%")
        print(f"improvement: {gain:.1f} percentage points ({gain / paper['one-hot']:.1%} of the errors)")
        """
    ),
    code(
        """
        for label, (probs, labels) in predictions.items():
            error = 1 - (probs.argmax(dim=1) == labels).float().mean().item()
            print(f"ours,     {label:20s} test error {error:.1%}")
        ASSERTS_COMPARE
        """,
        "nbval-ignore-output",
    ),
    md(
        """
        COMPARE_PROSE
        """
    ),
    md(
        """
        ## Summary

        - One-hot targets can only be met with infinitely large logits, so cross-entropy keeps
          rewarding confidence. Label smoothing trains against
          $(1-\\epsilon)\\,\\text{one\\_hot} + \\epsilon/K$, which moves the loss's minimum to a
          finite logit, $z^* = \\log\\big(1 + K(1-\\epsilon)/\\epsilon\\big)$ with the other
          logits at 0.
        - You wrote the smoothed loss and matched `nn.CrossEntropyLoss(label_smoothing=eps)`;
          it is the usual loss plus $\\epsilon$ times a pull towards the uniform distribution.
        - Calibration asks whether confidence can be trusted; you implemented the expected
          calibration error and read reliability diagrams.
        SUMMARY_RESULT

        **Next:** lesson 7 returns to the architecture: Inception-ResNet adds residual
        connections, and the v4 paper found that very wide residual Inception networks only
        train when each residual is scaled down. We measure why.
        """
    ),
]

if __name__ == "__main__":
    from nbtools56 import fill

    from l06_results import RESULTS

    write("/work/main/notebooks/06_label_smoothing.ipynb", fill(cells, RESULTS))
