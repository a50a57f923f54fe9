"""Benchmark inception_lab.data: shape generation time and loader throughput.

    .venv/bin/python benchmarks/bench_data.py [--root DIR] [--epochs 2] [--workers 0 2]

Prints a table: generating the default multiscale-shapes splits (wall and CPU seconds), then
batches/s of the training loader over the same 10,000 images (batch 128, crop + flip
augmentation, normalised float32 out) through the device-resident tensor path and through the
DataLoader path with 0 and 2 worker processes. Other jobs on the machine inflate wall times:
compare CPU seconds, or run on an idle machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from inception_lab import data


def timed(fn):
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c


def loader_rate(loader, epochs: int) -> tuple[float, int]:
    """Batches per second over `epochs` full passes (after one warm-up batch)."""
    x, _ = next(iter(loader))
    assert x.dtype == torch.float32 and x.ndim == 4
    n = 0
    t = time.perf_counter()
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        for _ in loader:
            n += 1
    return n / (time.perf_counter() - t), n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=None, help="data folder (default: a temporary folder)")
    ap.add_argument("--epochs", type=int, default=2, help="passes over the training set per loader")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader workers")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    rows = []
    sizes = data.SHAPES_SIZES
    total = sum(sizes.values())
    _, wall, cpu = timed(lambda: [data.generate_shapes(n, 0, s) for s, n in sizes.items()])
    rows.append((f"generate shapes ({total:,} images, no cache)", f"{wall:.2f} s", f"{cpu:.2f} s"))

    with tempfile.TemporaryDirectory() as tmp:
        root = args.root or tmp
        _, wall, cpu = timed(lambda: data.load_shapes(root))  # generate + write the cache
        _, wall2, cpu2 = timed(lambda: data.load_shapes(root))  # verify sha256 + read
        rows.append(("first load (generate + write cache)", f"{wall:.2f} s", f"{cpu:.2f} s"))
        rows.append(("cached load (sha256 check + read)", f"{wall2:.2f} s", f"{cpu2:.2f} s"))
        for kind, workers in [("tensor", 0)] + [("dataloader", w) for w in args.workers]:
            loaders = data.make_loaders(
                "shapes", 128, "cpu", root, loader=kind, num_workers=workers
            )
            (rate, n), _, cpu = timed(
                lambda loaders=loaders: loader_rate(loaders.train, args.epochs)
            )
            name = (
                "tensor loader (on device)"
                if kind == "tensor"
                else f"DataLoader, {workers} workers"
            )
            rows.append((f"{name}: {n} batches of 128", f"{rate:,.0f} batches/s", f"{cpu:.2f} s"))
            del loaders

    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width}}  {'wall':>16}  {'CPU (this process)':>18}")
    for what, wall, cpu in rows:
        print(f"{what:<{width}}  {wall:>16}  {cpu:>18}")
    print(
        f"torch threads: {torch.get_num_threads()}; machine shared with other jobs: wall times "
        "are upper bounds"
    )


if __name__ == "__main__":
    main()
