"""Which device trains, and the process-wide backend settings that go with it.

Every lesson and the command line get their device from `pick_device()`; under `torchrun`
each process takes the GPU that its LOCAL_RANK names (`rank_device`). The two CUDA settings that
trade reproducibility for speed are made in one place, `configure_backends`, so that what they
do to "exact resume" and bit-for-bit reruns is written down once.
"""

from __future__ import annotations

import os

import torch

__all__ = ["configure_backends", "pick_device", "rank_device"]


def pick_device(verbose: bool = True) -> torch.device:
    """The fastest device available: a CUDA GPU, then Apple's MPS, then the CPU.

    Under `torchrun` with CUDA, the GPU of this process (`rank_device`). Prints which one it
    picked and why (unless `verbose=False`).
    """
    if torch.cuda.is_available():
        device = rank_device()
        why = f"CUDA GPU found: {torch.cuda.get_device_name(device)}"
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device = torch.device("mps")
        why = "no CUDA GPU, but an Apple GPU (MPS) is available"
    else:
        device = torch.device("cpu")
        why = f"no CUDA or Apple GPU found; {torch.get_num_threads()} CPU threads"
    if verbose:
        print(f"Using device {device.type!r} ({why}).")
    return device


def rank_device() -> torch.device:
    """This process's CUDA device: `cuda:LOCAL_RANK` under torchrun (which sets LOCAL_RANK for
    every process it starts, 0..nproc_per_node-1), else `cuda:0`.

    Not `torch.cuda.current_device()`: that is cuda:0 in every process until someone calls
    `torch.cuda.set_device`, so all ranks would share one GPU.
    """
    text = os.environ.get("LOCAL_RANK", "0")
    if not text.isdigit():
        raise ValueError(f"LOCAL_RANK must be a GPU index (0, 1, ...), got {text!r}")
    index = int(text)
    if torch.cuda.is_available() and index >= torch.cuda.device_count():
        raise ValueError(
            f"LOCAL_RANK={index}, but this machine has {torch.cuda.device_count()} CUDA "
            "device(s): start torchrun with --nproc_per_node at most that number"
        )
    return torch.device("cuda", index)


def configure_backends(device: torch.device, deterministic: bool = False) -> None:
    """Set the process-wide CUDA switches for training on `device` (nothing on CPU or MPS).

    deterministic=False (the default, for speed):
      - `cudnn.benchmark = True`: cuDNN times several convolution algorithms on the first batch of
        each input shape and keeps the fastest. Different algorithms sum in different orders, so
        two runs (or a run and its resumed continuation) agree only to float tolerance (~1e-6
        relative per step, growing over training), not bit for bit.
      - `set_float32_matmul_precision("high")`: float32 matmuls may use TF32 tensor cores
        (10-bit mantissa inputs) on Ampere and newer GPUs: faster, ~1e-3 relative error per
        product, again not bit-identical to a full-float32 run.
    deterministic=True: both off, and cuDNN restricted to deterministic algorithms: slower, but
    the same seed gives the same weights on the same GPU, and resuming continues bit for bit.
    On the CPU (the course's default) runs are bit-reproducible either way at a fixed thread
    count. These settings hold for the whole process, for every model trained in it.
    """
    if device.type != "cuda":
        return
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic
    torch.set_float32_matmul_precision("highest" if deterministic else "high")
