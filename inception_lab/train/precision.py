"""Mixed precision and memory layout: how each training step does its arithmetic.

- autocast runs convolutions and matmuls in a 16-bit float type. bfloat16 keeps float32's
  exponent range, so gradients never underflow; float16 has more mantissa but a tiny range, so
  the loss is multiplied by a large factor before backward (GradScaler) and the gradients are
  divided by it again before the update.
- channels_last (NHWC) stores a pixel's channels next to each other, the layout that fast
  convolution kernels read, on CPUs as well as tensor-core GPUs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["AMP_MODES", "AmpChoice", "choose_amp", "make_grad_scaler", "use_channels_last"]

AMP_MODES = ("auto", "bf16", "fp16", "off")


@dataclass(frozen=True)
class AmpChoice:
    """What mixed precision does: autocast `dtype` (None = plain float32) and GradScaler use."""

    dtype: torch.dtype | None
    use_scaler: bool
    reason: str

    @property
    def name(self) -> str:
        return {torch.bfloat16: "bf16", torch.float16: "fp16", None: "off"}[self.dtype]


def _native_bf16(device: torch.device) -> bool:
    # Native bfloat16 arithmetic (tensor cores, cuDNN kernels) arrived with Ampere, compute
    # capability 8.0. Older GPUs only emulate it, slowly, and cuDNN has no bf16 convolutions there.
    return torch.cuda.get_device_capability(device) >= (8, 0)


def choose_amp(
    device: torch.device | str, amp: str | bool = "auto", *, bf16_supported: bool | None = None
) -> AmpChoice:
    """Decide the autocast dtype for `device`.

    amp="auto": bfloat16 on CUDA GPUs with native bf16 (Ampere and newer; same exponent range as
    float32, so no loss scaling is needed), float16 + GradScaler on older CUDA GPUs (float16's
    small range makes small gradients underflow unless the loss is scaled up first), and plain
    float32 on the CPU and MPS. On the CPU float32 is the default not because bfloat16 is always
    slower (lesson 08 measures it, and on a CPU with AVX-512 BF16 or AMX units it can be faster)
    but because it is not faster everywhere and float32 keeps the lessons' numbers comparable
    across machines; ask for it with amp="bf16".
    amp="bf16" / "fp16" force a dtype on any device (fp16 always with a GradScaler), "off"
    (or False) disables it. `bf16_supported` overrides the query of the GPU (for tests).
    """
    device = torch.device(device)
    if amp is True:
        amp = "auto"
    if amp is False or amp is None:
        amp = "off"
    if amp not in AMP_MODES:
        raise ValueError(f"amp must be one of {AMP_MODES} (or True/False), got {amp!r}")
    if amp == "off":
        return AmpChoice(None, False, "mixed precision off")
    if amp == "bf16":
        return AmpChoice(torch.bfloat16, False, "bfloat16 requested")
    if amp == "fp16":
        return AmpChoice(torch.float16, True, "float16 requested (with loss scaling)")
    if device.type != "cuda":
        return AmpChoice(None, False, f"float32 on {device.type} (amp='auto' uses it on CUDA only)")
    if bf16_supported is None:
        bf16_supported = _native_bf16(device)
    if bf16_supported:
        return AmpChoice(torch.bfloat16, False, "bfloat16: this GPU supports it natively")
    return AmpChoice(torch.float16, True, "float16 + GradScaler: this GPU has no native bfloat16")


def make_grad_scaler(device: torch.device, amp: AmpChoice) -> torch.amp.GradScaler:
    """A GradScaler for float16 on `device`; a disabled one (a no-op) otherwise.

    `torch.amp.GradScaler(device_type)` is the API that sets the course's torch floor (2.3).
    """
    return torch.amp.GradScaler(device.type, enabled=amp.use_scaler)


def use_channels_last(channels_last: str | bool) -> bool:
    """channels_last="auto" is on everywhere: NHWC convolutions are faster for these models on CPU
    (about 2x on the course's 2-core reference machine, see benchmarks/README.md) and on
    tensor-core GPUs."""
    if channels_last == "auto":
        return True
    if isinstance(channels_last, bool):
        return channels_last
    raise ValueError(f"channels_last must be 'auto', True or False, got {channels_last!r}")
