"""Training throughput: images/s of one optimizer step (forward + backward + SGD step).

    python benchmarks/bench_train.py              # CPU: all mini models, then GoogLeNet vs tv
    python benchmarks/bench_train.py --device cuda --batch-size 256 --big-batch-size 128

Three measurements, each the median of several timed rounds taken in turns (ABAB...), so that
a slow moment of a shared machine hits every contender alike:

1. every mini model at 32x32, in NCHW and in channels_last (the ratio is what
   `fit(channels_last="auto")` relies on);
2. the course's `googlenet(variant="torchvision")` against `torchvision.models.googlenet`
   (weights=None, aux_logits=False, init_weights=True) on the same input: goal ratio >= 0.95;
3. on a GPU, the fraction of the device's peak reached: FLOPs per step are counted with
   torch.utils.flop_counter.FlopCounterMode (forward + backward; 1 MAC = 2 FLOPs) and compared
   with the peak dense tensor-core FLOP/s of the autocast dtype (table below, or --peak-tflops).

The step is the one `inception_lab.train.fit` runs (same loss, autocast and GradScaler choice).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

from inception_lab import models
from inception_lab.train import choose_amp, training_loss

# Peak dense (no sparsity) tensor-core TFLOP/s from the vendors' data sheets, by dtype.
# Matched against torch.cuda.get_device_name(); pass --peak-tflops for any other GPU.
PEAK_TFLOPS = {
    "H100 SXM": {"bf16": 989.0, "fp16": 989.0, "off": 67.0},
    "H100 PCIe": {"bf16": 756.0, "fp16": 756.0, "off": 51.0},
    "A100": {"bf16": 312.0, "fp16": 312.0, "off": 19.5},
    "L4": {"bf16": 121.0, "fp16": 121.0, "off": 30.3},
    "A10": {"bf16": 125.0, "fp16": 125.0, "off": 31.2},
    "RTX 4090": {"bf16": 165.2, "fp16": 165.2, "off": 82.6},
    "RTX 3090": {"bf16": 71.0, "fp16": 71.0, "off": 35.6},
    "V100": {"fp16": 125.0, "off": 15.7},
    "T4": {"fp16": 65.0, "off": 8.1},
}


def peak_tflops(device: torch.device, amp: str) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, peaks in PEAK_TFLOPS.items():
        if all(word in name for word in key.split()):
            return peaks.get(amp)
    return None


class Step:
    """One training step of `model` on a fixed random batch, as fit() runs it."""

    def __init__(self, model, batch, size, num_classes, device, channels_last, amp):
        self.device, self.amp = device, choose_amp(device, amp)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.model = model.to(device, memory_format=fmt).train()
        self.x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=fmt)
        self.y = torch.randint(0, num_classes, (batch,), device=device)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=1e-3, momentum=0.9)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp.use_scaler)

    def __call__(self):
        with torch.autocast(self.device.type, self.amp.dtype, enabled=self.amp.dtype is not None):
            out = self.model(self.x)
        loss, _ = training_loss(out, self.y)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()

    def flops(self) -> int:
        """FLOPs of forward + backward (the optimizer's elementwise update is not counted)."""
        with FlopCounterMode(display=False) as counter:
            with torch.autocast(
                self.device.type, self.amp.dtype, enabled=self.amp.dtype is not None
            ):
                out = self.model(self.x)
            training_loss(out, self.y)[0].backward()
        self.opt.zero_grad(set_to_none=True)
        return counter.get_total_flops()


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def race(steps: dict[str, Step], batch: int, rounds: int, min_seconds: float) -> dict[str, float]:
    """Median images/s of each contender; rounds alternate between them."""
    for step in steps.values():  # warm up: allocator, cuDNN autotuning, first-call overheads
        for _ in range(2):
            step()
    per_step = {}
    for name, step in steps.items():  # size a round to last about `min_seconds`
        sync(step.device)
        t = time.perf_counter()
        step()
        sync(step.device)
        per_step[name] = time.perf_counter() - t
    speeds: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            n = max(1, round(min_seconds / max(per_step[name], 1e-4)))
            sync(step.device)
            t = time.perf_counter()
            for _ in range(n):
                step()
            sync(step.device)
            speeds[name].append(n * batch / (time.perf_counter() - t))
    return {name: statistics.median(v) for name, v in speeds.items()}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu or cuda (or cuda:N)")
    p.add_argument("--amp", default="auto", choices=["auto", "bf16", "fp16", "off"])
    p.add_argument("--batch-size", type=int, default=64, help="batch of the mini models (32x32)")
    p.add_argument("--big-batch-size", type=int, default=8, help="batch of the GoogLeNets")
    p.add_argument("--image-size", type=int, default=224, help="input size of the GoogLeNets")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds per contender")
    p.add_argument("--seconds", type=float, default=1.0, help="about this long per round")
    p.add_argument("--models", nargs="*", default=None, help="mini models (default: all)")
    p.add_argument("--skip-googlenet", action="store_true")
    p.add_argument("--peak-tflops", type=float, default=None, help="the GPU's peak, if unlisted")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads (torch.set_num_threads); on a busy shared machine 1 thread "
        "is faster than 2 that keep waiting for each other",
    )
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")
    amp = choose_amp(device, args.amp)
    peak = args.peak_tflops or peak_tflops(device, amp.name)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    print(
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, device {device} "
        f"({where or platform.machine()}), {torch.get_num_threads()} threads, amp {amp.name}, "
        f"peak {f'{peak} TFLOP/s' if peak else 'unknown'}"
    )
    results: dict = {"device": str(device), "amp": amp.name, "mini": {}, "googlenet": {}}

    def report(label: str, batch: int, ips: float, flops: int) -> dict:
        achieved = ips / batch * flops  # FLOP/s
        frac = f"  {achieved / (peak * 1e12):6.1%} of peak" if peak else ""
        print(f"  {label:<42} {ips:9.1f} img/s  {achieved / 1e9:8.1f} GFLOP/s{frac}")
        return {
            "images_per_s": ips,
            "gflops_per_s": achieved / 1e9,
            "fraction_of_peak": achieved / (peak * 1e12) if peak else None,
        }

    names = args.models or [n for n in models.list_models() if models.model_spec(n).mini]
    print(f"\nMini models, 32x32, batch {args.batch_size} (fwd + bwd + SGD step):")
    for name in names:
        steps = {}
        for cl in (False, True):
            torch.manual_seed(0)
            steps[cl] = Step(
                models.build(name, num_classes=10), args.batch_size, 32, 10, device, cl, args.amp
            )
        flops = steps[True].flops()
        ips = race(steps, args.batch_size, args.rounds, args.seconds)
        r = {
            "nchw": report(f"{name} NCHW", args.batch_size, ips[False], flops),
            "channels_last": report(f"{name} channels_last", args.batch_size, ips[True], flops),
            "gflops_per_image": flops / args.batch_size / 1e9,
        }
        r["channels_last_speedup"] = ips[True] / ips[False]
        print(f"  {'':<42} channels_last speed-up x{r['channels_last_speedup']:.2f}")
        results["mini"][name] = r

    if not args.skip_googlenet:
        b, s = args.big_batch_size, args.image_size
        print(f"\nGoogLeNet, {s}x{s}, batch {b}: course (variant='torchvision') vs torchvision:")
        for cl in (True, False):
            torch.manual_seed(0)
            ours = models.googlenet(variant="torchvision")
            tv = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True)
            assert sum(p.numel() for p in ours.parameters()) == sum(
                p.numel() for p in tv.parameters()
            ), "the two GoogLeNets should have the same parameters"
            steps = {
                "ours": Step(ours, b, s, 1000, device, cl, args.amp),
                "torchvision": Step(tv, b, s, 1000, device, cl, args.amp),
            }
            flops = steps["ours"].flops()
            ips = race(steps, b, args.rounds, args.seconds)
            layout = "channels_last" if cl else "NCHW"
            r = {k: report(f"{k} {layout}", b, v, flops) for k, v in ips.items()}
            r["ratio"] = ips["ours"] / ips["torchvision"]
            verdict = "ok" if r["ratio"] >= 0.95 else "SLOWER than the goal 0.95"
            print(f"  {'':<42} ours / torchvision = {r['ratio']:.3f} ({verdict})")
            results["googlenet"][layout] = r
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
