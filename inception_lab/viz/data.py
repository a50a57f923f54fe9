"""Pictures of the data: a labelled grid of images, and one class at several scales.

`show_batch` and `show_scales` take tensors or an `inception_lab.data.ImageDataset` and return
a matplotlib Figure. `viz` sits above `data` (docs/architecture.md): it reads datasets, `data`
never draws.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import torch
from torch import Tensor

from .. import data


def _to_display(
    images: Tensor, mean: Sequence[float] | None, std: Sequence[float] | None
) -> Tensor:
    """(N, C, H, W) uint8 or normalised float -> float (N, H, W, C) in [0, 1] for imshow."""
    x = images.detach().cpu()
    if x.dtype == torch.uint8:
        x = x.float() / 255
    elif mean is not None and std is not None:
        c = x.shape[1]
        x = x.float() * torch.tensor(std).view(1, c, 1, 1) + torch.tensor(mean).view(1, c, 1, 1)
    else:  # unknown normalisation: stretch each image to [0, 1]
        lo = x.amin((1, 2, 3), keepdim=True)
        x = (x - lo) / (x.amax((1, 2, 3), keepdim=True) - lo).clamp_min(1e-8)
    return x.clamp(0, 1).permute(0, 2, 3, 1)


def show_batch(
    images: Tensor,
    labels: Tensor | Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    *,
    predictions: Tensor | Sequence[int] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    ncols: int = 8,
    max_images: int = 32,
    title: str | None = None,
) -> Any:
    """A labelled grid of images (N, C, H, W), uint8 or normalised; returns the Figure.

    Pass the loader's mean/std (e.g. `loaders.mean`) to undo the normalisation. With
    `predictions`, each title reads "label / prediction" and wrong ones are drawn in red.
    An `ImageDataset` may be passed as `images`: its first max_images items are shown.
    """
    if isinstance(images, data.ImageDataset):
        ds = images
        n = min(max_images, len(ds))
        images = torch.stack([ds.normalize(ds.source[i][0][None])[0] for i in range(n)])
        labels = ds.labels[:n] if labels is None else labels
        class_names = ds.class_names if class_names is None else class_names
        mean, std = ds.mean, ds.std
    if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[1] not in (1, 3):
        got = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"images must be a tensor (N, 1 or 3, H, W), got {got}")
    n = min(len(images), max_images)
    x = _to_display(images[:n], mean, std)
    rows = max(1, math.ceil(n / ncols))
    cols = min(ncols, n)
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.45 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = x[i].numpy()
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
        if labels is not None:
            y = int(labels[i])
            text = class_names[y] if class_names else str(y)
            colour = "black"
            if predictions is not None:
                p = int(predictions[i])
                text += f" / {class_names[p] if class_names else p}"
                colour = "black" if p == y else "red"
            ax.set_title(text, fontsize=7, color=colour)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_scales(
    dataset: data.ImageDataset | None = None, label: int | str = 0, per_scale: int = 6
) -> Any:
    """One class at several scales: a row per scale (small, medium, large); returns the Figure.

    dataset: a multiscale-shapes `ImageDataset` (default: the training split).
    label: class index or name, e.g. "ring".
    """
    ds = data.load_dataset("shapes", split="train") if dataset is None else dataset
    if ds.scales is None:
        raise ValueError(f"{ds.name!r} has no per-image scales; use a multiscale shapes dataset")
    if isinstance(label, str):
        if label not in ds.class_names:
            raise ValueError(f"unknown class {label!r}; classes are {', '.join(ds.class_names)}")
        label = ds.class_names.index(label)
    if not 0 <= int(label) < ds.num_classes:
        raise ValueError(f"label must be in 0 .. {ds.num_classes - 1}, got {label}")
    fig, axes = plt.subplots(3, per_scale, figsize=(1.3 * per_scale, 4.3), squeeze=False)
    for s, scale_name in enumerate(data.SCALE_NAMES):
        idx = torch.nonzero((ds.labels == label) & (ds.scales == s)).flatten()[:per_scale]
        for j, ax in enumerate(axes[s]):
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(idx):
                ax.imshow(ds.source[int(idx[j])][0].permute(1, 2, 0).numpy())
                if ds.object_sizes is not None:
                    ax.set_title(f"{float(ds.object_sizes[idx[j]]):.0f} px", fontsize=7)
        lo, hi = data.SCALE_RANGES[s]
        axes[s][0].set_ylabel(f"{scale_name}\n{lo:.0f}-{hi:.0f} px", fontsize=8)
    fig.suptitle(f"class {ds.class_names[label]!r} at three scales")
    fig.tight_layout()
    return fig
