"""torch.compile: what the first step costs, and what the later steps gain.

    python benchmarks/bench_compile.py                    # CPU, mini_googlenet, batch 64
    python benchmarks/bench_compile.py --device cuda --batch-size 256

Measures, on one model and one fixed batch (the step `inception_lab.train.fit` runs: forward,
loss, backward, SGD update, channels_last):

1. the first compiled step, compilation included, with an EMPTY compile cache (a fresh
   TORCHINDUCTOR_CACHE_DIR, as on a learner's first run) unless --warm-cache is given;
2. steady-state step times of the eager and the compiled model, timed in turns (ABAB...) so a
   slow moment of a shared machine hits both alike; the ratio eager/compiled is the speed-up.

Lesson 8 quotes these numbers to decide whether compiling fits its CPU budget.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import time

import torch


def step_seconds(model, optimizer, images, labels, device) -> float:
    from inception_lab.train import training_loss

    start = time.perf_counter()
    loss, _ = training_loss(model(images), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="mini_googlenet")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per contender")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--warm-cache", action="store_true", help="keep the usual compile cache")
    args = parser.parse_args(argv)
    if not args.warm_cache:  # must be set before inductor is imported
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor-cache-")
    from inception_lab import models

    device = torch.device(args.device)
    torch.manual_seed(0)
    size = models.model_spec(args.model).input_size  # the input size it was designed for
    eager = models.build(args.model).to(device, memory_format=torch.channels_last)
    compiled_model = copy.deepcopy(eager)
    images = torch.randn(args.batch_size, 3, size, size, device=device)
    images = images.contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 10, (args.batch_size,), device=device)
    compiled = torch.compile(compiled_model)
    contenders = {
        "eager": (eager, torch.optim.SGD(eager.parameters(), lr=0.01, momentum=0.9)),
        "compiled": (compiled, torch.optim.SGD(compiled_model.parameters(), lr=0.01, momentum=0.9)),
    }
    first = step_seconds(*contenders["compiled"], images, labels, device)
    for model, optimizer in contenders.values():  # warm-up outside the timing
        step_seconds(model, optimizer, images, labels, device)
    times = {name: [] for name in contenders}
    for _ in range(args.rounds):
        for name, (model, optimizer) in contenders.items():
            times[name].append(step_seconds(model, optimizer, images, labels, device))
    eager_s, compiled_s = (statistics.median(times[n]) for n in ("eager", "compiled"))
    result = {
        "model": args.model,
        "batch_size": args.batch_size,
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cache": "warm" if args.warm_cache else "empty",
        "first_compiled_step_s": round(first, 2),
        "eager_step_s": round(eager_s, 4),
        "compiled_step_s": round(compiled_s, 4),
        "speedup": round(eager_s / compiled_s, 3),
    }
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
