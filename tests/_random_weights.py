"""Random weights for comparing our networks with reference implementations (torchvision, timm).

Freshly initialised BN layers are the identity and many biases start at zero, so a key mapped to
the wrong tensor could go unnoticed; random values everywhere make every tensor matter.
"""

from __future__ import annotations

import torch
from torch import nn


def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
    """He-scaled random conv / linear weights, random biases and BN statistics, so that every
    tensor matters to the output and the logits are far from zero."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                for t, lo, hi in [(m.weight, 0.5, 1.5), (m.running_var, 0.5, 1.5)]:
                    t.copy_(lo + (hi - lo) * torch.rand(t.shape, generator=gen))
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
    return model
