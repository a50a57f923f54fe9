"""Generate notebooks/05_batch_norm.ipynb (lesson 5: batch normalization and BN-Inception).

Run: /work/main/.venv/bin/python /work/team/lessons/make_05_batch_norm.py
then execute it in place: cd /work/main && make execute NB=notebooks/05_batch_norm.ipynb
"""

import sys

sys.path.insert(0, "/work/team/lessons")
from nbtools56 import code, md, write  # noqa: E402

RUN_TIME = "about 2 min"  # measured with `make course NB=...`; updated after measuring

cells = [
    md(
        f"""
        # Lesson 5 — Batch normalization and BN-Inception (Inception v2)

        In 2015 Ioffe and Szegedy added one layer type to GoogLeNet and trained it to the same
        accuracy in a fraction of the steps. That layer, **batch normalization** (BN), is now in
        almost every convolutional network. This lesson takes it apart.

        **Learning objectives.** After this lesson you can

        - say what problem the BN paper set out to solve (*internal covariate shift*), and why
          later work explains BN's benefit differently;
        - write batch norm yourself, in training mode (batch statistics, running averages) and in
          evaluation mode, and check it against `nn.BatchNorm2d`;
        - point at the BN layers of BN-Inception and at its other change, the 5x5 convolution
          replaced by two 3x3;
        - measure what BN does to training speed and to the usable learning rate in a small
          setting, and compare it honestly with the paper's "14x fewer steps".

        **Run time:** {RUN_TIME} at `BUDGET="cpu"` on a 2-core laptop CPU (measured; the
        four short training runs take most of it).
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

        from inception_lab import checks, data, models, profile, train, viz

        _ = torch.manual_seed(SEED)
        """
    ),
    md(
        """
        ## 1. The problem the paper set out to solve

        Training updates every layer at once. Layer 10 learns to work with what layer 9 produced
        a moment ago, but layer 9 has just changed too, so the distribution of layer 10's input
        moves under its feet. Ioffe and Szegedy called this **internal covariate shift** and
        argued that it is why deep networks need small learning rates and careful
        initialization, and why saturating nonlinearities (sigmoid, tanh) were so hard to train.

        Their remedy: make each layer's input distribution stable by construction. For every
        channel, subtract the mean and divide by the standard deviation computed **over the
        current mini-batch**, then let the network rescale and shift the result with two learned
        numbers per channel, so that normalizing never takes away what a layer could represent.

        We will build the layer first, then measure what it does. Whether "covariate shift" is
        the right *explanation* is a separate question, and we return to it in section 5.
        """
    ),
    md(
        r"""
        ## 2. Batch norm, step by step

        For a batch `x` of shape (N, C, H, W), BN works on each channel `c` separately, pooling
        the N x H x W values of that channel:

        $$\mu_c = \text{mean of } x_{:,c,:,:}, \qquad
          \sigma_c^2 = \text{mean of } (x_{:,c,:,:} - \mu_c)^2, \qquad
          \hat x = \frac{x - \mu_c}{\sqrt{\sigma_c^2 + \epsilon}}, \qquad
          y = \gamma_c \hat x + \beta_c .$$

        - $\gamma$ (`weight`) and $\beta$ (`bias`) are learned; with $\gamma_c = \sigma_c$ and
          $\beta_c = \mu_c$ the layer could undo the normalization entirely, so BN removes no
          expressive power. It does make a bias in the preceding convolution useless ($\beta$
          plays its role), which is why `ConvBNAct` drops the conv's bias when BN follows.
        - $\epsilon$ keeps the division safe for a channel whose values barely vary. PyTorch's
          default is `1e-5`; the Inception code and torchvision use `1e-3`.

        **Training versus evaluation.** In training, the statistics come from the batch, so the
        output for one image depends on the other images in its batch. That is fine for
        learning (it even adds a little noise that regularizes), but a deployed model must give
        the same answer for an image whatever else is in the batch. So BN keeps **running
        averages** of the batch statistics during training, and in evaluation mode normalizes
        with those instead:

        `running = (1 - momentum) * running + momentum * batch_statistic`

        PyTorch's `momentum` (default 0.1) is the weight of the *new* batch; Keras and
        TensorFlow use the opposite convention (their 0.99 is PyTorch's 0.01). One more detail
        that trips people up: the running variance stores the *unbiased* estimate (divide by
        n - 1), while the normalization itself uses the biased one (divide by n).
        """
    ),
    md(
        """
        ### Exercise 1: batch norm from scratch

        Write `batch_norm` with the same arguments as `torch.nn.functional.batch_norm`. In
        training mode, normalize with the batch statistics and update `running_mean` and
        `running_var` **in place** (they are the layer's buffers; the caller must see the
        change). In evaluation mode, use the running statistics and change nothing. Keep the
        output differentiable through the batch statistics: the gradient of BN flows through
        the mean and the variance too. The check compares your function with `nn.BatchNorm2d`
        on the same input, weights and running statistics.
        """
    ),
    code(
        '''
        def batch_norm(x, running_mean, running_var, weight, bias, training, momentum=0.1, eps=1e-5):
            """Batch norm of x (N, C, H, W); running_mean, running_var, weight, bias: (C,)."""
            # Exercise 1: normalize x per channel (batch statistics and in-place running updates in training mode, running statistics in evaluation mode), then scale by weight and shift by bias
            ### BEGIN SOLUTION
            shape = (1, -1, 1, 1)  # one value per channel, broadcast over N, H and W
            if training:
                mean = x.mean(dim=(0, 2, 3))
                var = x.var(dim=(0, 2, 3), unbiased=False)
                n = x.numel() // x.shape[1]  # values per channel
                with torch.no_grad():  # the running statistics are not part of the graph
                    running_mean.mul_(1 - momentum).add_(momentum * mean)
                    running_var.mul_(1 - momentum).add_(momentum * var * n / (n - 1))
            else:
                mean, var = running_mean, running_var
            x_hat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + eps)
            return weight.view(shape) * x_hat + bias.view(shape)
            ### END SOLUTION


        checks.batch_norm_forward(batch_norm)
        '''
    ),
    md(
        """
        Now wrap the function in a module with its own parameters and buffers, exactly as
        `nn.BatchNorm2d` does, and run both side by side for a few training steps followed by
        evaluation. Then look at the property that makes evaluation mode necessary: in training
        mode, the same image gives a different output in a different batch.
        """
    ),
    code(
        """
        class ScratchBatchNorm2d(nn.Module):
            \"\"\"`batch_norm` as a layer: learned weight and bias, running statistics as buffers.\"\"\"

            def __init__(self, channels: int, momentum: float = 0.1, eps: float = 1e-5):
                super().__init__()
                self.weight = nn.Parameter(torch.ones(channels))
                self.bias = nn.Parameter(torch.zeros(channels))
                self.register_buffer("running_mean", torch.zeros(channels))
                self.register_buffer("running_var", torch.ones(channels))
                self.momentum, self.eps = momentum, eps

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                  self.training, self.momentum, self.eps)


        ours, ref = ScratchBatchNorm2d(8), nn.BatchNorm2d(8)
        for step in range(20):  # 20 training batches with a mean of 3 and a spread of 2
            x = 3 + 2 * torch.randn(16, 8, 6, 6)
            assert torch.allclose(ours(x), ref(x), atol=1e-5)
        ours.eval(), ref.eval()
        x = 3 + 2 * torch.randn(4, 8, 6, 6)
        print(f"after 20 steps: largest difference to nn.BatchNorm2d in the running mean "
              f"{(ours.running_mean - ref.running_mean).abs().max():.1e}, running var "
              f"{(ours.running_var - ref.running_var).abs().max():.1e}, "
              f"eval output {(ours(x) - ref(x)).abs().max():.1e}")

        image = 3 + 2 * torch.randn(1, 8, 6, 6)
        batch_a = torch.cat([image, 3 + 2 * torch.randn(7, 8, 6, 6)])
        batch_b = torch.cat([image, 10 + 5 * torch.randn(7, 8, 6, 6)])  # very different batch-mates
        for mode in ("train", "eval"):
            ours.train(mode == "train")
            with torch.no_grad():
                change = (ours(batch_a)[0] - ours(batch_b)[0]).abs().max()
            print(f"{mode} mode: the same image in two batches, outputs differ by up to {change:.3f}")
        """
    ),
    md(
        """
        In training mode the image's output depends on its batch-mates; in evaluation mode it
        does not. That is the whole reason for the running statistics, and the source of a
        classic bug: forgetting `model.eval()` before testing makes predictions depend on the
        test batch (and, with batch size 1, normalizes every channel of a single image by its
        own statistics).

        How fast do the running statistics follow the data? With momentum $m$ the old value
        decays by a factor $(1-m)$ per step, so it takes about $1/m$ steps to forget where it
        started. The figure feeds batches whose channel mean is 3 to two BN layers.
        """
    ),
    code(
        """
        torch.manual_seed(SEED)
        trace = {}
        for momentum in (0.1, 0.01):
            layer, means = ScratchBatchNorm2d(1, momentum=momentum), []
            for step in range(100):
                layer(3 + 2 * torch.randn(32, 1, 4, 4))
                means.append(layer.running_mean.item())
            trace[momentum] = means
            print(f"momentum {momentum}: running mean after 10 steps {means[9]:.2f}, "
                  f"after 100 steps {means[-1]:.2f} (the data's mean is 3)")

        fig, ax = plt.subplots(figsize=(6.5, 3.5), layout="constrained")
        for momentum, means in trace.items():
            ax.plot(range(1, 101), means, label=f"momentum = {momentum}")
        ax.axhline(3, color="0.4", ls="--", label="mean of the data")
        ax.set_xlabel("training step")
        ax.set_ylabel("running mean of the channel")
        ax.set_title("Running statistics catch up with the data after about 1/momentum steps")
        ax.legend()
        plt.show()
        """
    ),
    md(
        """
        With momentum 0.1 the running mean is close to 3 within a few dozen steps; with 0.01 it
        is still far off after 100. A model evaluated before its running statistics have caught
        up (very early in training, or right after fine-tuning on data with other statistics)
        is normalized with the wrong numbers, even though its training-mode accuracy looks fine.
        """
    ),
    md(
        """
        ## 3. BN-Inception from the blocks

        The BN paper applied BN to GoogLeNet and made one more architectural change: each 5x5
        convolution became **two stacked 3x3 convolutions**, which see the same 5x5 window with
        fewer weights (an idea lesson 4 develops in full). Our `models.bn_inception()` makes
        exactly these two changes to `models.googlenet("paper")`, built from the same blocks:
        every conv is a `ConvBNAct` with BN, and every module is an `InceptionA` whose
        `branch3x3dbl` takes the place of `branch5x5`.
        """
    ),
    code(
        """
        torch.manual_seed(SEED)
        v1, v2 = models.googlenet("paper"), models.bn_inception()
        for name, net in (("GoogLeNet (v1)", v1), ("BN-Inception (v2)", v2)):
            n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in net.modules())
            convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
            with_bias = sum(c.bias is not None for c in convs)
            macs = profile.count_macs(net, (3, 224, 224))
            print(f"{name:18s} {profile.count_params(net):>10,} parameters, {macs / 1e9:.2f} G MACs, "
                  f"{len(convs)} convs ({with_bias} with a bias), {n_bn} BatchNorm2d layers")
        """
    ),
    code(
        """
        fig = viz.draw_blocks(
            [v1.inception3a, v2.inception3a],
            titles=["GoogLeNet inception3a", "BN-Inception inception3a"],
        )
        fig.suptitle("The same module before and after: the 5x5 branch becomes two 3x3 convs")
        plt.show()
        """
    ),
    md(
        """
        Read the diagrams branch by branch: three branches are unchanged (BN hides inside each
        conv box, between the conv and its ReLU), and the 5x5 branch on the left diagram has
        become a 1x1 -> 3x3 -> 3x3 stack on the right. What the change costs or saves, branch by
        branch:
        """
    ),
    code(
        """
        size = (192, 28, 28)  # the input of inception3a at 224x224
        for name, block in (("GoogLeNet", v1.inception3a), ("BN-Inception", v2.inception3a)):
            table = profile.branch_costs(block, size)
            print(f"{name} inception3a:")
            for row in table:
                print(f"  {row['layer']:13s} {row['type']:38s} {row['params']:>7,} params "
                      f"{row['macs'] / 1e6:6.1f} M MACs")
        """
    ),
    md(
        """
        The 5x5 branch of 3a is narrow (16 channels in, 32 out), and the factorized branch adds a
        second 32-channel 3x3 on top of the first, so here the change costs a little more, not
        less: the saving of "25 weights versus 2 x 9 = 18 per channel pair" (28% fewer) holds when
        two 3x3 convs replace one 5x5 of the same width, and the branch's reduction 1x1 stays.
        The main point of BN-Inception is the normalization; lesson 4 studies factorization on
        its own.

        The totals printed above also differ from the BN paper's network, which has about
        13.6 million parameters. Our `bn_inception` keeps GoogLeNet's widths so that it can be
        compared with v1 line by line; the paper's network also widened several modules,
        replaced some max pools by average pools and strided modules, and removed dropout.
        """
    ),
]

cells += [
    md(
        """
        ## 4. Does BN make training faster? An experiment

        The paper's headline: with BN, Inception reached the accuracy of the original network in
        **14 times fewer training steps**. We run the smallest experiment that can show the
        effect: the same mini BN-Inception **with and without BN** (`models.mini_bn_inception`
        with `bn=True` / `bn=False`; without BN its convs get their biases back, and nothing
        else changes), trained from the same initial seed on the same batches, at the course's
        usual peak learning rate and at a 10x higher one. Everything else is the course's
        standard recipe: SGD with momentum and the one-cycle schedule (the learning rate warms
        up from a 25th of the peak over the first 30% of the steps, then anneals to zero), and a
        validation pass after every epoch of a small training subset.

        While training, a hook records the input of one ReLU deep in the network (the 1x1
        branch of `inception5a`): the distribution the BN paper worried about.
        """
    ),
    code(
        """
        WIDTH = {"cpu": 0.5, "gpu": 1.0}[BUDGET]  # channel multiplier of the mini model
        TRAIN_SIZE = {"cpu": TRAIN_SIZE_CPU, "gpu": None}[BUDGET]  # None: all 10,000 images
        EPOCHS = {"cpu": EPOCHS_CPU, "gpu": 30}[BUDGET]
        BATCH, LR, HIGH_LR = 64, LR_SAME, 10 * LR_SAME

        loaders = data.make_loaders("shapes", batch_size=BATCH, seed=SEED, train_size=TRAIN_SIZE,
                                    val_size=VAL_SIZE)
        STEPS_PER_EPOCH = len(loaders.train)
        print(f"{STEPS_PER_EPOCH} steps of {BATCH} images per epoch, {EPOCHS} epochs: "
              f"{EPOCHS * STEPS_PER_EPOCH} steps per run; learning rates {LR} and {HIGH_LR}")


        def relu_input_recorder(relu: nn.Module, store: list):
            \"\"\"Append the 15th, 50th and 85th percentile of channel 0 of `relu`'s input at every
            training step (a forward pre-hook runs before the in-place ReLU changes it).\"\"\"
            levels = torch.tensor([0.15, 0.50, 0.85])

            def hook(module, args):
                if module.training:
                    store.append(torch.quantile(args[0][:, 0].detach().flatten().float(), levels))

            return relu.register_forward_pre_hook(hook)
        """
    ),
    code(
        """
        RUNS = {  # label: (bn, learning rate)
            f"BN, lr {LR}": (True, LR),
            f"no BN, lr {LR}": (False, LR),
            f"BN, lr {HIGH_LR}": (True, HIGH_LR),
            f"no BN, lr {HIGH_LR}": (False, HIGH_LR),
        }
        histories, percentiles = {}, {}
        for label, (bn, lr) in RUNS.items():
            torch.manual_seed(SEED)
            net = models.mini_bn_inception(num_classes=loaders.num_classes, width=WIDTH, bn=bn)
            relu = net.inception5a.branches.branch1x1[0].act
            handle = relu_input_recorder(relu, percentiles.setdefault(label, []))
            try:
                histories[label] = train.fit(net, loaders, EPOCHS, lr=lr, seed=SEED, progress=False)
            except train.TrainingDiverged as err:  # keep the epochs before the blow-up
                print(f"{label}: {err}")
                histories[label] = err.history
            finally:
                handle.remove()
            h = histories[label]
            last = f"val acc {h.records[-1]['val_acc']:.1%}" if h.records else "no epoch completed"
            print(f"{label:15s} {len(h.records)} epochs, {last}, "
                  f"{sum(r['seconds'] for r in h.records):.0f} s")
        ASSERTS_TRAINING
        """,
        "nbval-ignore-output",
    ),
    code(
        """
        fig = viz.plot_history(histories)
        fig.suptitle(f"mini BN-Inception (width {WIDTH}) with and without BN, "
                     f"{STEPS_PER_EPOCH} steps per epoch")
        plt.show()
        """
    ),
    md(
        """
        FIGURE_PROSE
        """
    ),
    md(
        """
        **Steps to a target accuracy.** The paper counts how many steps each network needs to
        reach a given accuracy. We do the same with a target our short runs can reach, reading
        the validation accuracy after every epoch (so the count is rounded up to a whole epoch).
        """
    ),
    code(
        """
        TARGET = TARGET_ACC


        def steps_to(history, target=TARGET):
            \"\"\"Training steps until the validation accuracy first reaches `target` (None: never).\"\"\"
            for r in history.records:
                if r["val_acc"] >= target:
                    return r["epoch"] * STEPS_PER_EPOCH
            return None


        budget = EPOCHS * STEPS_PER_EPOCH
        for label, h in histories.items():
            steps = steps_to(h)
            best = max((r["val_acc"] for r in h.records), default=float("nan"))
            note = " (diverged)" if h.diverged else ""
            reached = f"{steps:4d} steps" if steps else f"not within {budget} steps"
            print(f"{label:15s} val acc {TARGET:.0%} reached: {reached:22s} best {best:.1%}{note}")
        ASSERTS_STEPS
        """,
        "nbval-ignore-output",
    ),
    md(
        """
        STEPS_PROSE
        """
    ),
    code(
        """
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True, layout="constrained")
        for ax, label in zip(axes, (f"no BN, lr {LR}", f"BN, lr {LR}")):
            p = torch.stack(percentiles[label]).numpy()
            steps = range(1, len(p) + 1)
            ax.fill_between(steps, p[:, 0], p[:, 2], alpha=0.3, label="15th-85th percentile")
            ax.plot(steps, p[:, 1], label="median")
            ax.set_title(label)
            ax.set_xlabel("training step")
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("input to the ReLU (channel 0)")
        axes[0].legend()
        fig.suptitle("Distribution of one deep ReLU's input during training (BN paper, Figure 1)")
        plt.show()
        """
    ),
    code(
        """
        def drift(label):
            \"\"\"How far the median moved, in units of the initial 15-85 spread, first to last 10 steps.\"\"\"
            p = torch.stack(percentiles[label])
            spread = (p[:10, 2] - p[:10, 0]).mean()
            return ((p[-10:, 1].mean() - p[:10, 1].mean()).abs() / spread).item(), spread.item()


        for label in (f"no BN, lr {LR}", f"BN, lr {LR}"):
            moved, spread = drift(label)
            print(f"{label:15s} initial spread {spread:.3f}; median moved by {moved:.2f} spreads")
        ASSERTS_DRIFT
        """,
        "nbval-ignore-output",
    ),
    md(
        """
        DRIFT_PROSE
        """
    ),
    md(
        """
        ## 5. The paper's "14x", and what our run can and cannot say

        The 14x comes from Table 2 of the BN paper: the number of training steps each ImageNet
        network needed to reach the 72.2% top-1 accuracy of the original Inception.
        """
    ),
    code(
        """
        PAPER = {  # BN paper, Table 2: steps to reach 72.2% top-1 (ImageNet), best top-1 reached
            "Inception (no BN)": (31.0e6, 72.2),
            "BN-Baseline (same lr)": (13.3e6, 72.7),
            "BN-x5 (5x the lr)": (2.1e6, 73.0),
            "BN-x30 (30x the lr)": (2.7e6, 74.8),
        }
        for name, (steps, best) in PAPER.items():
            print(f"{name:22s} {steps / 1e6:5.1f} million steps to 72.2%, best {best}%, "
                  f"{PAPER['Inception (no BN)'][0] / steps:4.1f}x fewer steps than Inception")
        """
    ),
    md(
        """
        PAPER_PROSE
        """
    ),
    md(
        """
        ## 6. What is understood today

        The paper's explanation (BN helps *because* it reduces internal covariate shift) has not
        held up well, even though the technique has. Two lines of later work are worth knowing;
        treat them as the current best understanding, not the final word.

        - **Shift is not the point.** Santurkar, Tsipras, Ilyas and Madry (2018, "How Does
          Batch Normalization Help Optimization?") added random noise with a changing mean and
          scale right *after* each BN layer, deliberately making the next layer's input
          distribution unstable again. Those networks trained about as well as with plain BN.
          They also found that BN does not necessarily reduce covariate shift when it is
          measured through the gradients. Their account: BN makes the loss surface
          *smoother*: the loss and its gradient change more predictably along a step, so a
          larger step is safe.
        - **Larger learning rates.** Bjorck, Gomes, Selman and Weinberger (2018, "Understanding
          Batch Normalization") found that much of BN's advantage disappears when the BN
          network is held to the small learning rate a plain network tolerates: what BN buys
          is mainly the freedom to take larger steps, which trains faster and also tends to
          generalize better.

        Other effects contribute too: a BN network's output does not change when the weights
        before a BN layer are scaled, which changes how weight decay and the learning rate
        interact, and the batch statistics add noise that acts as a mild regularizer. The
        practical picture is robust: BN makes deep networks much less sensitive to
        initialization and learning rate. The *why* is still studied. Our experiment speaks to
        the practical picture: the lesson is in which runs trained at all, and at which
        learning rate.

        BN also has costs: its statistics are poor with small batches (a few images per GPU),
        training and evaluation compute different functions, and it couples the examples of a
        batch. Layer norm and group norm, which normalize within one example, avoid these and
        replaced BN in transformers and in some detection models.
        """
    ),
    md(
        """
        ## Summary

        - Batch norm normalizes each channel with the mean and variance of the current batch,
          then rescales it with a learned $\\gamma$ and shifts it with a learned $\\beta$.
          In evaluation mode it uses running averages collected during training, so a
          prediction does not depend on the rest of the batch; with PyTorch's momentum
          convention they follow the data within about 1/momentum steps.
        - You implemented its forward pass, in training and evaluation mode, and matched
          `nn.BatchNorm2d` including the running-statistics update and the gradient.
        - BN-Inception is GoogLeNet with BN after every conv (and no conv biases) and each 5x5
          conv replaced by two 3x3.
        SUMMARY_RESULT
        - The paper motivated BN with internal covariate shift; later work points instead to a
          smoother optimization problem and, above all, larger usable learning rates.

        **Next:** lesson 6 turns from the network to the loss. Inception v3 trained against
        *smoothed* labels; we build that loss and measure what it does to the confidence of a
        trained network.
        """
    ),
]

if __name__ == "__main__":
    from nbtools56 import fill

    from l05_results import RESULTS

    write("/work/main/notebooks/05_batch_norm.ipynb", fill(cells, RESULTS))
