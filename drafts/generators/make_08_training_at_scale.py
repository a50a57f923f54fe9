"""Generate notebooks/08_training_at_scale.ipynb (lesson 8: training at scale).

Run from the repository root: .venv/bin/python drafts/generators/make_08_training_at_scale.py
then execute it in place: make execute NB=notebooks/08_training_at_scale.ipynb
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbtools78 import code, md, write

RUN_TIME = "about 2 min"  # measured with `make course NB=...`; updated after measuring

cells = [
    md(
        f"""
        # Lesson 8 — Training at scale: throughput, mixed precision and many GPUs

        The Inception papers trained for weeks: GoogLeNet on a CPU cluster, Inception v3 with
        50 replicas of the model on as many GPUs. Today the same recipe fits on one good GPU in a
        day, because of a handful of techniques that every modern training loop uses. This
        lesson takes them one at a time, measures what can be measured on the machine in front
        of you, and ends with the exact commands that run the course's training on one GPU, on
        several, and on your own data.

        **Learning objectives.** After this lesson you can

        - measure training throughput (images per second) correctly, and compute it yourself;
        - explain why the `channels_last` memory layout speeds up convolutions, and measure it;
        - say what mixed precision changes (bfloat16 versus float16, loss scaling with a
          GradScaler) and what `fit(amp="auto")` chooses on each kind of device;
        - decide when `torch.compile` pays for its compile time;
        - run the Inception v3 training recipe (RMSProp with eps = 1.0, label smoothing 0.1, an
          auxiliary head) and compare it with plain SGD;
        - scale the learning rate with the batch size (the linear rule with warmup), and launch
          the course's training with `torchrun` on several GPUs, on CIFAR-10 or on an image
          folder.

        **Run time:** {RUN_TIME} at `BUDGET="cpu"` on a 2-core laptop CPU (measured; the short
        training runs in sections 5 and 6 take most of it). At `BUDGET="gpu"` the same cells
        measure the GPU, compile the model and train for longer.
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
        import subprocess
        import sys
        import tempfile
        import time
        from pathlib import Path

        import matplotlib.pyplot as plt
        import torch

        from inception_lab import checks, data, models, train, viz

        torch.manual_seed(SEED)
        GPU = BUDGET == "gpu"
        """
    ),
    code(
        """
        device = train.pick_device()
        print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
        assert device.type in ("cpu", "cuda", "mps")
        """,
        "nbval-ignore-output",
    ),
    md(
        """
        ## 1. Measure first: images per second

        Every speed-up in this lesson is judged by one number: **training throughput**, the
        images per second that one full training step (forward pass, loss, backward pass,
        optimizer update) gets through. Two details make or break the measurement.

        - **Warm-up.** The first steps of a run are slow for reasons that a long run pays only
          once: memory is allocated, the convolution library tries algorithms and keeps the
          fastest, `torch.compile` generates code. Time only the steps after them.
        - **Asynchronous GPUs.** A CUDA call returns as soon as the work is *queued*. Reading the
          clock without `torch.cuda.synchronize()` times the queueing, not the computation.

        And one definition: under `torchrun` each of `world_size` processes takes `batch_size`
        images per step at the same time, so the whole job's throughput is `world_size` times
        larger than one process's.

        ### Exercise 1: images per second from step timings

        Write `images_per_second(step_seconds, batch_size, warmup, world_size)`: the durations of
        consecutive training steps go in, the throughput of the whole job comes out, with the
        first `warmup` steps left out.
        """
    ),
    code(
        '''
        def images_per_second(step_seconds, batch_size, warmup=2, world_size=1):
            """Training throughput of the whole job, in images per second.

            step_seconds: duration of each step, in order; the first `warmup` are not counted.
            """
            # Exercise 1: return the number of images all processes handled in the timed steps, divided by the time those steps took
            ### BEGIN SOLUTION
            timed = step_seconds[warmup:]
            return world_size * batch_size * len(timed) / sum(timed)
            ### END SOLUTION


        checks.throughput(images_per_second)
        example = [1.9, 0.4, 0.21, 0.19, 0.2, 0.2]  # seconds per step of a batch of 64
        print(f"{images_per_second(example, 64):.0f} images/s after warm-up; "
              f"{images_per_second(example, 64, warmup=0):.0f} images/s if the warm-up is timed too")
        '''
    ),
    md(
        """
        Timing the two warm-up steps would have made this run look more than twice as slow as it
        is. Now a timing helper for the rest of the lesson: it runs real training steps of a
        model (the same loss as `train.fit`) and returns the seconds of each.
        """
    ),
    code(
        '''
        def step_times(model, images, labels, steps, channels_last=True, amp_dtype=None):
            """Seconds of each of `steps` training steps (forward, loss, backward, SGD update)."""
            layout = torch.channels_last if channels_last else torch.contiguous_format
            model.to(device, memory_format=layout)
            images = images.to(device).contiguous(memory_format=layout)
            labels = labels.to(device)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
            seconds = []
            for _ in range(steps):
                start = time.perf_counter()
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    loss, _ = train.training_loss(model(images), labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if device.type == "cuda":
                    torch.cuda.synchronize()  # wait for the GPU before reading the clock
                seconds.append(time.perf_counter() - start)
            return seconds
        '''
    ),
    md(
        """
        ## 2. Memory layout: `channels_last`

        A batch of images is a 4-d tensor (N, C, H, W), but memory is a line. PyTorch's default
        layout, NCHW, stores a whole channel plane after another: the 3 colour values of one
        pixel lie H x W elements apart. The `channels_last` layout (NHWC) keeps the tensor's
        shape and changes only the order in memory: all channels of one pixel side by side.
        A convolution computes, for every pixel, dot products over the channels of a small
        neighbourhood, so NHWC reads exactly the numbers it needs next to each other, and
        vector units (and a GPU's tensor cores) get long contiguous runs. The *strides*
        (how many elements to skip to move one step along each axis) show the difference:
        """
    ),
    code(
        """
        x = torch.zeros(64, 3, 32, 32)
        for name, layout in (("NCHW (default)", torch.contiguous_format),
                             ("channels_last", torch.channels_last)):
            t = x.contiguous(memory_format=layout)
            print(f"{name:15s} shape {tuple(t.shape)}  strides (N, C, H, W) = {t.stride()}")
        """
    ),
    md(
        """
        In NCHW, the next channel of a pixel is 1,024 elements away (32 x 32); in channels_last
        it is the very next element. `train.fit` converts the model and every batch to
        channels_last by default (`channels_last="auto"`). Let us measure what it buys on this
        machine, for `mini_googlenet`, and add a third contender for the next section: bfloat16
        autocast. The contenders take turns, a few steps each, so that a busy moment of a shared
        machine slows them all alike.
        """
    ),
    code(
        """
        BATCH = {"cpu": 64, "gpu": 256}[BUDGET]
        ROUNDS, STEPS = {"cpu": (2, 3), "gpu": (3, 20)}[BUDGET]
        contenders = {  # name: (channels_last, autocast dtype)
            "NCHW, float32": (False, None),
            "channels_last, float32": (True, None),
            "channels_last, bfloat16 autocast": (True, torch.bfloat16),
        }
        if device.type == "cuda":
            contenders["channels_last, float16 autocast"] = (True, torch.float16)
        torch.manual_seed(SEED)
        images, labels = torch.randn(BATCH, 3, 32, 32), torch.randint(0, 10, (BATCH,))
        net = models.mini_googlenet()
        nets = {name: copy.deepcopy(net) for name in contenders}
        seconds = {name: [] for name in contenders}
        for round_ in range(ROUNDS + 1):  # round 0: two warm-up steps each
            for name, (cl, dtype) in contenders.items():
                seconds[name] += step_times(nets[name], images, labels, 2 if round_ == 0 else STEPS,
                                            cl, dtype)
        speed = {name: images_per_second(s, BATCH, warmup=2) for name, s in seconds.items()}
        base = speed["NCHW, float32"]
        for name, ips in speed.items():
            print(f"{name:34s} {ips:7.0f} img/s   x{ips / base:.2f}")
        assert speed["channels_last, float32"] > speed["NCHW, float32"]
        """,
        "nbval-ignore-output",
    ),
    code(
        """
        fig, ax = plt.subplots(figsize=(7, 2.8), layout="constrained")
        names = list(speed)
        ax.barh(names, [speed[n] for n in names], color=["0.6", "C0", "C2", "C3"][: len(names)])
        ax.invert_yaxis()
        ax.set_xlabel("training throughput (images/s, higher is better)")
        ax.set_title(f"One training step of mini_googlenet, batch {BATCH}, on {device.type}")
        plt.show()
        """
    ),
    md(
        """
        channels_last is the cheapest speed-up there is: one line, no effect on the numbers the
        network computes, and on this machine it is clearly faster (the course's benchmark,
        `benchmarks/bench_train.py`, measured 1.2x to 1.9x on the mini models; the Inception
        models, with their many small 1x1 convolutions, gain the most). The bfloat16 bar is the
        subject of the next section.
        """
    ),
    md(
        r"""
        ## 3. Mixed precision: bfloat16, float16 and loss scaling

        A GPU's tensor cores multiply 16-bit numbers several times faster than 32-bit ones, and
        16-bit activations halve the memory traffic. **Mixed precision** runs the convolutions
        and matrix products in 16 bits while keeping the weights, the optimizer state and
        precision-sensitive operations (the softmax of the loss, reductions) in float32.
        `torch.autocast` decides per operation. Two 16-bit formats exist, and they split their
        bits differently:
        """
    ),
    code(
        """
        print(f"{'format':9s} {'bits':>4s} {'largest':>10s} {'smallest normal':>16s} {'step at 1.0':>12s}")
        for dtype in (torch.float32, torch.bfloat16, torch.float16):
            f = torch.finfo(dtype)
            print(f"{str(dtype)[6:]:9s} {f.bits:4d} {f.max:10.3g} {f.tiny:16.3g} {f.eps:12.3g}")
        """
    ),
    md(
        """
        - **bfloat16** keeps float32's 8 exponent bits, so it has float32's *range* (up to about
          3e38, down to about 1e-38) but only 8 bits of mantissa: about 3 significant digits
          (the gap between 1.0 and the next number is 0.0078). Nothing overflows or underflows
          that would not in float32, so it is a drop-in choice: `amp="bf16"` needs nothing else.
          GPUs have it from NVIDIA Ampere (A100, RTX 30xx) on.
        - **float16** spends more bits on the mantissa (the step at 1.0 is 0.001) but its range
          is tiny: nothing above 65,504, and values below about 6e-5 lose precision until, below
          about 6e-8, they become exactly 0. Gradients of a deep network are often that small.
        """
    ),
    code(
        """
        grads = torch.tensor([1e-8, 1e-5, 3e-4])  # typical sizes of individual gradient entries
        scale = 2.0**16  # a GradScaler's starting loss scale
        print("float32 gradients     ", grads.tolist())
        print("stored in float16     ", grads.half().float().tolist())
        print("scaled, float16, back ", ((grads * scale).half().float() / scale).tolist())
        print("stored in bfloat16    ", grads.bfloat16().float().tolist())
        """
    ),
    md(
        """
        The 1e-8 gradient vanishes in float16 and survives everywhere else. **Loss scaling** is
        the cure: multiply the loss by a large factor *S* before `backward()`, so every gradient
        is *S* times larger and stays representable, then divide the gradients by *S* (in
        float32) before the optimizer step. `torch.amp.GradScaler` does this and picks *S*
        itself: when a step produces an infinite or NaN gradient (the scale was too large), it
        skips that update and halves *S*; after a run of good steps it doubles *S* again. You can
        watch it skip a step:
        """
    ),
    code(
        """
        layer = torch.nn.Linear(4, 1)
        optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
        before = layer.weight.detach().clone()
        loss = layer(torch.randn(8, 4)).pow(2).mean()
        scaler.scale(loss).backward()  # gradients are 65,536 times too large now
        layer.weight.grad[0, 0] = float("inf")  # pretend one gradient overflowed
        scaler.step(optimizer)  # unscales, finds the inf, and skips the update
        scaler.update()
        print(f"weights changed: {not torch.equal(before, layer.weight)}; "
              f"loss scale 65536 -> {scaler.get_scale():.0f}")
        """
    ),
    md(
        """
        `train.fit` wires all of this up from one argument, `amp`. With `amp="auto"` it asks
        `train.choose_amp(device)`: bfloat16 on GPUs that support it natively, float16 with a
        GradScaler on older GPUs, and plain float32 on CPUs and Apple GPUs. Here are its
        decisions for a few devices (the GPU's bfloat16 support is passed in, so this runs
        anywhere):
        """
    ),
    code(
        """
        cases = [
            ("cpu", "auto", None),
            ("mps", "auto", None),
            ("cuda", "auto", True),   # e.g. A100, H100, RTX 30xx/40xx, L4
            ("cuda", "auto", False),  # e.g. V100, T4, RTX 20xx
            ("cuda", "bf16", None),
            ("cuda", "off", None),
        ]
        print(f"{'device':6s} {'amp=':6s} {'autocast':9s} {'GradScaler':10s}  why")
        for device_type, amp, bf16 in cases:
            choice = train.choose_amp(device_type, amp, bf16_supported=bf16)
            print(f"{device_type:6s} {amp:6s} {choice.name:9s} {str(choice.use_scaler):10s}  "
                  f"{choice.reason}")
        """
    ),
    md(
        """
        Why float32 on a CPU? On most CPUs bfloat16 arithmetic is emulated and *slower* than
        float32, and float16 slower still, so "auto" does not gamble. Look back at the bar
        chart, though: the CPU of the machine that ran this notebook may be one of the recent
        server chips with bfloat16 matrix units (Intel's AMX), where bfloat16 autocast is
        faster. That is exactly why the choice is an argument: measure, then pass
        `amp="bf16"` if it pays on your hardware. On a GPU, mixed precision typically gives
        2-3x, and halves activation memory, which allows larger batches.
        """
    ),
    md(
        """
        ## 4. `torch.compile`

        `torch.compile(model)` traces the model's Python code into a graph (TorchDynamo) and
        generates fused kernels for it (TorchInductor: Triton on GPUs, C++/OpenMP on CPUs). For
        a CNN it mostly fuses the chains of small element-wise operations (batch norm, ReLU,
        the adds of residual blocks) into the surrounding kernels, saving memory traffic. The
        catch is the first step: compiling takes from tens of seconds to minutes, and again
        whenever the input shape changes. It pays off in a long run, never in a three-minute
        lesson on a 2-core CPU, where compiling `mini_googlenet`'s training step alone took
        several minutes when we tried. So at `BUDGET="cpu"` this cell only shows how it is
        switched on; at `BUDGET="gpu"` it measures compile time and speed.
        """
    ),
    code(
        """
        print("in Python:  train.fit(model, loaders, epochs, compile=True)")
        print("command:    python -m inception_lab.train --model mini_factorized --compile ...")
        if not GPU:
            print("BUDGET='cpu': not compiled here (the compile time exceeds this lesson's budget)")
        """
    ),
    code(
        """
        compile_speedup = None
        if GPU:  # compile time, then steady-state speed, compiled versus eager
            torch.manual_seed(SEED)
            eager = models.mini_googlenet()
            compiled = torch.compile(copy.deepcopy(eager).to(device, memory_format=torch.channels_last))
            first = step_times(compiled, images, labels, 1)[0]  # includes the compilation
            ips_compiled = images_per_second(step_times(compiled, images, labels, 2 + STEPS), BATCH)
            ips_eager = images_per_second(step_times(eager, images, labels, 2 + STEPS), BATCH)
            compile_speedup = ips_compiled / ips_eager
            print(f"compile + first step {first:.1f} s; eager {ips_eager:.0f} img/s, "
                  f"compiled {ips_compiled:.0f} img/s (x{compile_speedup:.2f})")
        assert compile_speedup is None or compile_speedup > 0
        """,
        "nbval-ignore-output",
    ),
    md(
        """
        ## 5. The Inception v3 recipe versus plain SGD

        The v3 paper trained with a specific recipe, and two of its parts are now standard:

        - **RMSProp** with decay 0.9 and, unusually, **eps = 1.0** (learning rate 0.045, decayed
          by 0.94 every two epochs, batches of 32 on each of 50 replicas). RMSProp divides each
          gradient by a running root-mean-square of its past values; an eps of 1.0 in that
          denominator, far larger than the usual 1e-8, keeps the division from blowing up
          small gradients, so the optimizer behaves much like SGD with momentum and adapts only
          where gradients are large;
        - **label smoothing** with eps = 0.1 (lesson 6);
        - an **auxiliary classifier** with batch norm on the last 17x17 grid, which the paper
          found to act mainly as a regularizer (lesson 3 has the heads of v1).

        `train.make_optimizer("rmsprop")` builds exactly that optimizer (plus momentum 0.9, as
        in the TensorFlow training code), and `models.mini_factorized(aux_logits=True)` is the
        mini Inception v3 with its auxiliary head on the last 8x8 grid:
        """
    ),
    code(
        """
        rms = train.make_optimizer(models.mini_factorized(), "rmsprop")
        print({k: rms.defaults[k] for k in ("lr", "alpha", "eps", "momentum")})
        with_aux = models.mini_factorized(aux_logits=True)
        print(f"auxiliary head on {list(with_aux.taps)[0]}: "
              f"{sum(p.numel() for p in with_aux.AuxLogits.parameters()):,} parameters")
        """
    ),
    md(
        """
        PyTorch calls the decay `alpha`. We train the mini v3 twice on the same data from the
        same initial weights: once with the course's default, SGD with Nesterov momentum, and no
        label smoothing or auxiliary head; once with the v3 recipe. Both use the one-cycle
        schedule of `train.fit` instead of the paper's slow exponential decay, which suits runs
        of a few epochs.
        """
    ),
    code(
        """
        RUN = {"cpu": dict(train_size=2000, val_size=500, epochs=3, width=0.5, batch=32),
               "gpu": dict(train_size=None, val_size=None, epochs=30, width=1.0, batch=128)}[BUDGET]
        loaders = data.make_loaders("shapes", batch_size=RUN["batch"], seed=SEED,
                                    train_size=RUN["train_size"], val_size=RUN["val_size"],
                                    device=device)
        print(f"{len(loaders.train)} batches of {RUN['batch']} per epoch, {RUN['epochs']} epochs, "
              f"mini_factorized at width {RUN['width']}")
        """
    ),
    code(
        """
        recipes = {  # label: (auxiliary head, fit arguments)
            "SGD": (False, dict(optimizer="sgd")),
            "v3 recipe": (True, dict(optimizer="rmsprop", label_smoothing=0.1)),
        }
        runs = {}
        for label, (aux, kwargs) in recipes.items():
            torch.manual_seed(SEED)
            model = models.mini_factorized(width=RUN["width"], aux_logits=aux)
            runs[label] = train.fit(model, loaders, RUN["epochs"], seed=SEED, progress=False, **kwargs)
            test = train.evaluate(model, loaders.test)
            r = runs[label].records[-1]
            print(f"{label:9s} val acc {r['val_acc']:.1%}, test acc {test['acc']:.1%}, "
                  f"{r['images_per_s']:.0f} img/s")
        assert all(h.records[-1]['val_acc'] > 0 for h in runs.values())
        """,
        "nbval-ignore-output",
    ),
    code(
        """
        fig = viz.plot_history(runs)
        fig.suptitle("mini Inception v3: SGD versus the v3 recipe (same data, same start)")
        plt.show()
        """
    ),
    md(
        """
        RECIPE_PROSE
        """
    ),
    md(
        r"""
        ## 6. Bigger batches need larger learning rates

        More GPUs means a larger global batch: with 8 GPUs of 256 images each, every step
        averages the gradient of 2,048 images. The gradient gets less noisy, but an epoch has 8
        times fewer steps, so at the same learning rate the network travels a shorter distance
        in the same number of epochs. Goyal et al. (2017, "Accurate, Large Minibatch SGD:
        Training ImageNet in 1 Hour") made this precise for SGD with the **linear scaling rule**:
        when the batch grows by a factor *k*, multiply the learning rate by *k* (ResNet-50:
        0.1 per 256 images, so 3.2 for a batch of 8,192). In the first steps the weights change
        fast and a large rate can throw them off, so the rule comes with a **warmup**: ramp up
        from the small-batch rate to the scaled one over the first few epochs.

        ### Exercise 2: the scaled learning rate with warmup

        Write `scaled_learning_rate(step, batch_size, base_lr, base_batch, warmup_steps)`: the
        target is `base_lr * batch_size / base_batch`; at step 0 the rate is `base_lr`, it rises
        linearly to the target at step `warmup_steps`, and stays there. Steps count from 0;
        `warmup_steps=0` means no warmup.
        """
    ),
    code(
        '''
        def scaled_learning_rate(step, batch_size, base_lr=0.1, base_batch=256, warmup_steps=0):
            """Learning rate at `step` (0-based) for `batch_size`, by the linear scaling rule."""
            # Exercise 2: scale base_lr by batch_size / base_batch, and during the first warmup_steps steps interpolate linearly from base_lr to that scaled rate
            ### BEGIN SOLUTION
            target = base_lr * batch_size / base_batch
            if step >= warmup_steps:
                return target
            return base_lr + (target - base_lr) * step / warmup_steps
            ### END SOLUTION


        checks.scaled_lr(scaled_learning_rate)
        '''
    ),
    code(
        """
        fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
        steps_per_epoch = {256: 5005, 1024: 1252, 8192: 157}  # 1.28 M ImageNet images per epoch
        for batch, per_epoch in steps_per_epoch.items():
            warmup = 5 * per_epoch if batch > 256 else 0  # Goyal et al.: 5 epochs of warmup
            steps = range(0, 8 * per_epoch, max(1, per_epoch // 50))
            lrs = [scaled_learning_rate(s, batch, 0.1, 256, warmup) for s in steps]
            ax.plot([s / per_epoch for s in steps], lrs, label=f"batch {batch:,}")
            print(f"batch {batch:5,}: {per_epoch:,} steps per epoch, "
                  f"learning rate after warmup {lrs[-1]:.2f}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("learning rate")
        ax.set_yscale("log")
        ax.set_title("Linear scaling rule with 5 epochs of warmup (ResNet-50 settings of Goyal et al.)")
        ax.legend()
        plt.show()
        """
    ),
    md(
        """
        The larger the batch, the higher the rate the run settles at, reached after the same
        five epochs. A small measurement of why the rule exists: the mini model trained for the
        same number of epochs with a batch of 32, then a batch of 128 at the same learning rate,
        then a batch of 128 at 4x that rate. (`train.fit`'s one-cycle schedule already starts
        with a warmup, 30% of the steps.)
        """
    ),
    code(
        """
        BASE_LR = 0.0125  # SGD's default peak rate 0.05 is for batch 128; / 4 for batch 32
        settings = {  # label: (batch size, learning rate)
            f"batch 32, lr {BASE_LR}": (32, BASE_LR),
            f"batch 128, lr {BASE_LR}": (128, BASE_LR),
            f"batch 128, lr {4 * BASE_LR:g} (scaled)": (128, 4 * BASE_LR),
        }
        batch_runs = {}
        for label, (batch, lr) in settings.items():
            batch_loaders = data.make_loaders("shapes", batch_size=batch, seed=SEED,
                                              train_size=RUN["train_size"],
                                              val_size=RUN["val_size"], device=device)
            torch.manual_seed(SEED)
            model = models.mini_factorized(width=RUN["width"])
            h = train.fit(model, batch_loaders, RUN["epochs"], lr=lr, seed=SEED, progress=False)
            batch_runs[label] = h
            r = h.records[-1]
            print(f"{label:26s} {len(batch_loaders.train) * RUN['epochs']:4d} steps, "
                  f"val acc {r['val_acc']:.1%}, {r['images_per_s']:.0f} img/s")
        assert all(h.records[-1]['val_acc'] > 0 for h in batch_runs.values())
        """,
        "nbval-ignore-output",
    ),
    code(
        """
        fig = viz.plot_history(batch_runs, metrics=("acc",))
        fig.suptitle("Same epochs, 4x fewer steps: the larger batch needs the larger learning rate")
        plt.show()
        """
    ),
    md(
        """
        BATCH_PROSE
        """
    ),
    md(
        """
        ## 7. One GPU, then many: the commands

        Everything above is one call, `train.fit`, and the same loop has a command line. On a
        machine with one GPU, this trains the mini v3 with the v3 recipe on the full shapes
        dataset, with bfloat16 or float16 chosen automatically and channels_last on:
        """
    ),
    code(
        """
        recipe = ("--model mini_factorized --model-arg aux_logits=True --optimizer rmsprop "
                  "--label-smoothing 0.1")
        print(f"python -m inception_lab.train {recipe} --dataset shapes --epochs 30 --batch-size 256")
        """
    ),
    md(
        """
        **Several GPUs.** `torchrun` starts one process per GPU and sets the environment
        variables (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`) that `inception_lab.train` reads. Each
        process wraps the model in `DistributedDataParallel`: every rank computes gradients on
        its own shard of each batch, and during `backward()` the gradients are averaged across
        all GPUs (an all-reduce over NCCL) so every replica takes the same step and the weights
        stay identical. Only rank 0 prints and writes checkpoints. `--batch-size` is per GPU, so
        the global batch is GPUs x batch size, and by the linear rule the learning rate grows
        with it. Your `scaled_learning_rate` gives the rate for each setup (the one-cycle
        schedule supplies the warmup):
        """
    ),
    code(
        """
        base_lr = train.DEFAULT_LR["rmsprop"]  # tuned for one process with a batch of 256
        for gpus in (1, 4, 8):
            lr = scaled_learning_rate(10**9, gpus * 256, base_lr, 256)  # the rate after warmup
            launcher = "python" if gpus == 1 else f"torchrun --nproc_per_node={gpus}"
            print(f"# {gpus} GPU(s): global batch {gpus * 256:,}, peak learning rate {lr:.3f}")
            print(f"{launcher} -m inception_lab.train {recipe} --dataset shapes --epochs 30 "
                  f"--batch-size 256 --lr {lr:.3f}")
        """
    ),
    md(
        """
        Several machines: add `--nnodes=2 --node_rank=0` (and `1` on the second machine) and
        `--rdzv_endpoint=HOST:29500` to `torchrun` on each. One subtlety: batch norm computes its
        statistics per GPU, over that GPU's share of the batch only; with 32 or more images per
        GPU that is harmless (the Inception papers' replicas did the same).

        The command line runs the same code as `train.fit`. Here it is end to end, as a
        separate process, on a tiny slice of the data (on a GPU machine, the same command uses
        the GPU):
        """
    ),
    code(
        """
        out = Path(tempfile.mkdtemp()) / "history.json"
        cmd = [sys.executable, "-m", "inception_lab.train", "--model", "mini_googlenet",
               "--model-arg", "width=0.25", "--dataset", "shapes", "--train-size", "256",
               "--val-size", "128", "--epochs", "1", "--batch-size", "64", "--no-progress",
               "--out", str(out)]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        print(result.stdout)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "done: 1 epochs" in result.stdout and out.exists()
        print(f"History written: {len(train.History.from_json(out))} epoch(s)")
        """,
        "nbval-ignore-output",
    ),
    md(
        """
        ## 8. Your own data: CIFAR-10, Fashion-MNIST or a folder of images

        `data.make_loaders` (and `--dataset` on the command line) knows these datasets:
        """
    ),
    code(
        """
        print(data.DATASETS)
        """
    ),
    md(
        """
        Nothing is ever downloaded unless you ask for it (`download=True`), so a missing dataset
        gives an error that says where the files were looked for and how they should be laid
        out. Here is that message for CIFAR-10 in an empty folder:
        """
    ),
    code(
        """
        empty = Path(tempfile.mkdtemp())
        try:
            data.make_loaders("cifar10", root=empty)
        except FileNotFoundError as err:
            print(str(err).replace(str(empty), "<root>"))
        """
    ),
    md(
        """
        Put the files where the message says (or run `data.load_dataset("cifar10",
        download=True)` once on a machine with internet) and the same training runs on CIFAR-10:
        `--dataset cifar10`, or `data.make_loaders("cifar10")`. Its images are 32x32 like the
        shapes, so every mini model fits unchanged.

        **An image folder** (your photos, or Imagenette, a 10-class subset of ImageNet) needs
        one subfolder per class inside `train/` and `val/` (and optionally `test/`); the folder
        names become the class names. To show the layout without downloading anything, we write
        a few shapes images to disk as PNG files and read them back as an image folder:
        """
    ),
    code(
        """
        from torchvision.io import write_png

        folder = Path(tempfile.mkdtemp())
        shapes = data.load_dataset("shapes", split="val")
        for i in range(60):
            split = "train" if i < 40 else "val"
            target = folder / split / shapes.class_names[int(shapes.labels[i])] / f"{i:03d}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            write_png(shapes.images[i], str(target))  # uint8 (3, 32, 32)
        for path in sorted(folder.rglob("*.png"))[:3]:
            print(path.relative_to(folder))
        folder_loaders = data.make_loaders("imagefolder", root=folder, batch_size=16)
        images, labels = next(iter(folder_loaders.train))
        print(f"{folder_loaders.num_classes} classes from the folder names: "
              f"{', '.join(folder_loaders.class_names)}")
        print(f"a batch: images {tuple(images.shape)}, labels {tuple(labels.shape)}")
        """
    ),
    md(
        """
        The same command line works: `--dataset imagefolder --data-root /path/to/folder`.
        Larger images (Imagenette's 160 or 320 px) need a model made for them
        (`models.googlenet`, `models.inception_v3`) rather than the 32x32 mini models.
        """
    ),
    md(
        """
        ## Summary

        - Throughput is images per second over timed steps after the warm-up, counted over all
          processes; measure before and after every change.
        - channels_last changes only the memory order of activations and is a free speed-up for
          convolutions, on CPUs and GPUs.
        - Mixed precision runs convolutions in 16 bits: bfloat16 has float32's range and needs
          nothing else; float16 needs loss scaling (a GradScaler) so that small gradients do not
          flush to zero. `amp="auto"` picks per device; on CPUs it stays in float32 unless you
          measure that bfloat16 pays.
        - `torch.compile` fuses operations at the price of a compile step that only long runs
          amortise.
        - The v3 recipe is RMSProp (decay 0.9, eps 1.0), label smoothing 0.1 and an auxiliary
          head; SUMMARY_RECIPE
        - Larger batches need proportionally larger learning rates, reached after a warmup
          (the linear scaling rule); `torchrun --nproc_per_node=N -m inception_lab.train ...`
          scales the same training to N GPUs, and `--dataset cifar10` or `imagefolder` to real
          data.

        **Next:** lesson 9, the capstone, puts the whole family side by side at an equal
        training budget, and asks you to design a module of your own.
        """
    ),
]

if __name__ == "__main__":
    write(
        str(Path(__file__).resolve().parents[2] / "notebooks" / "08_training_at_scale.ipynb"), cells
    )
