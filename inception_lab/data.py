"""Datasets and loaders for the course.

The default dataset, *multiscale shapes*, is generated on the spot (no download): 32x32 RGB
images of 10 patterns (`SHAPES_CLASSES`), each drawn at a small (6-10 px), medium (10-16 px) or
large (16-28 px) size, at a random place, with a random small rotation, random foreground and
background colours, a colour gradient, clutter strokes and pixel noise. The class is the pattern,
never the colour, the brightness or the size, so a detector tuned to one size misses the others:
the problem the Inception module answers with parallel 1x1 / 3x3 / 5x5 branches. Each image also
records its scale (`dataset.scales`, 0/1/2 = small/medium/large, names in `SCALE_NAMES`) so lessons
can report accuracy per scale.

Calibration: what the data asks of a model (8,000 training images, the 2,000 test images).
A linear probe and a stand-in CNN were measured while other jobs shared the 2 CPU cores (CPU
seconds are this process's own); the course's mini models on a quiet 2-core machine, two runs
side by side with one thread each (wall seconds, validation included). The mini-model recipe:
3 epochs, batch 128, crop + flip, channels_last, `train.fit(..., optimizer="adamw", lr=...)`
with its one-cycle schedule.

    | model                                          | test   | val acc after epochs 1/2/3 | s     |
    |------------------------------------------------|--------|----------------------------|-------|
    | linear probe on raw pixels, 15 epochs          | 12.6%  | (train accuracy 29.3%)     | 21 cpu|
    | stand-in CNN, 4 conv3x3+BN+ReLU, 11.3 M MACs,  | 87.9%  | 29.6% / 64.2% / 87.9%      |130 cpu|
    |   AdamW 3e-3 (small/medium/large: 72/95/96%)   |        |                            |       |
    | mini_baseline(bn=True),  AdamW 1e-2            | 85.5%  | 20.9% / 65.0% / 87.2%      | 39    |
    | mini_baseline(bn=True),  AdamW 3e-3            | 81.2%  | 21.1% / 66.5% / 84.5%      | 42    |
    | mini_googlenet(bn=True), AdamW 1e-2            | 84.4%  | 11.2% / 52.9% / 84.6%      | 85    |
    | mini_googlenet(bn=True), AdamW 3e-3            | 29.6%  | 11.8% / 23.1% / 30.8%      | 71 (*)|
    | mini_reduced(bn=True),   AdamW 1e-2            | 97.0%  | 37.9% / 81.7% / 97.0%      | 79    |
    | mini_googlenet() (no BN, as the paper), 3e-3   | 15.2%  | 10.8% / 10.6% / 14.7%      | 55 (*)|
    | mini_googlenet() (no BN), AdamW 1e-3           | 12.4%  | 12.1% / 12.9% / 13.2%      | 75    |
    | mini_googlenet() (no BN), SGD 0.05             | 15.7%  | 10.7% / 14.2% / 18.5%      | 75    |
    (*) alone, two threads.

So: a linear classifier stays near chance; a small CNN of about 11 M MACs *with batch norm*
passes 80% within about a minute of a quiet 2-core CPU; the deep, narrow mini GoogLeNet needs
BN and the higher learning rate to get there in three epochs, and without BN (the paper's v1,
which trained for days on ImageNet) it has not started learning after three epochs, whatever the
optimizer. That is why the lessons train `bn=True` models and lesson 5 measures the difference.
Short runs are noisy (the first epoch is often at chance, then accuracy jumps), and small objects
stay the hardest. Generation of all 13,000 images: 1.9-2.0 s of CPU (about 2.5 s wall when
quiet).

Public API:
    load_dataset(name, root=None, split="train", download=False, **options) -> ImageDataset
    make_loaders(name="shapes", batch_size=128, device="cpu", root=None, seed=0, rank=0,
                 world_size=1, train_size=None, val_size=None, test_size=None, ...) -> Loaders
    show_batch(images, labels, ...) -> Figure;  show_scales(dataset, label, ...) -> Figure
    default_root() -> Path     (INCEPTION_LAB_DATA, else the project's data/ folder)

Two loader paths yield the same batches (float32 N x C x H x W normalised images and int64
labels, on the device): `TensorLoader` keeps an in-memory dataset on the device and augments there
with tensor ops; `WorkerLoader` reads through a `torch.utils.data.DataLoader` (worker processes,
pinned memory on CUDA), for image folders. Both ship uint8 images and normalise/augment after the
transfer, with the same code and the same random numbers.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import pickle
import tempfile
import time
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

DATA_ENV_VAR = "INCEPTION_LAB_DATA"
DATASETS = ("shapes", "cifar10", "fashion_mnist", "imagefolder")
SPLITS = ("train", "val", "test")
VAL_FRACTION = 0.1  # CIFAR-10 / Fashion-MNIST: the last 10% of the official training files


def default_root() -> Path:
    """The data folder: $INCEPTION_LAB_DATA if set, else `data/` next to the package.

    Resolved from this file, not from the working directory, so a notebook finds the same cache
    whether it runs from notebooks/, from the repository root or from a test.
    """
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent.parent / "data"


# ----------------------------------------------------------------------------- datasets


class TensorImages(Dataset):
    """In-memory uint8 images (N, C, H, W) and int64 labels (N,); items (uint8 C x H x W, int)."""

    def __init__(self, images: Tensor, labels: Tensor):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(
                f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}"
            )
        if labels.shape != (len(images),):
            raise ValueError(f"labels must have shape ({len(images)},), got {tuple(labels.shape)}")
        self.images, self.labels = images, labels.long()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self.images[i], int(self.labels[i])


class ImageDataset(Dataset):
    """A course dataset: items are (normalised float image C x H x W, int label).

    `source` yields uint8 images (a `TensorImages` in memory, or an image folder read lazily);
    this class adds the normalisation `(x / 255 - mean) / std` and, if `augment`, torchvision's
    standard augmentation (random crop with 4 px of zero padding, horizontal flip) per item.
    Attributes: class_names, mean, std, name, split, labels (int64 N), scales (int64 N or None:
    0/1/2 = small/medium/large, multiscale shapes only), object_sizes (float32 N px, or None).
    """

    def __init__(
        self,
        source: Dataset,
        labels: Tensor,
        class_names: Sequence[str],
        mean: Sequence[float],
        std: Sequence[float],
        image_size: int,
        *,
        name: str,
        split: str,
        augment: bool = False,
        scales: Tensor | None = None,
        object_sizes: Tensor | None = None,
    ):
        from torchvision.transforms import v2

        self.source, self.labels = source, labels
        self.class_names = tuple(class_names)
        self.mean, self.std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
        self.image_size, self.name, self.split, self.augment = image_size, name, split, augment
        self.scales, self.object_sizes = scales, object_sizes
        steps = [v2.ToDtype(torch.float32, scale=True)]
        if augment:
            steps += [v2.RandomCrop(image_size, padding=4), v2.RandomHorizontalFlip()]
        steps.append(v2.Normalize(self.mean, self.std))
        self.transform = v2.Compose(steps)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def in_channels(self) -> int:
        return len(self.mean)

    @property
    def images(self) -> Tensor:
        """All images as uint8 (N, C, H, W) — in-memory datasets only."""
        if not isinstance(self.source, TensorImages):
            raise TypeError(f"{self.name!r} is read from files lazily; it has no .images tensor")
        return self.source.images

    def normalize(self, images: Tensor) -> Tensor:
        """uint8 (N, C, H, W) -> float32 normalised, as the items and the loaders return them."""
        mean = torch.tensor(self.mean, device=images.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=images.device).view(1, -1, 1, 1)
        return (images.float() / 255 - mean) / std

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        image, label = self.source[i]
        return self.transform(image).as_subclass(Tensor), int(label)

    def subset(self, n: int | None) -> ImageDataset:
        """The first n images (in memory) or a fixed random n (folders are sorted by class)."""
        if n is None or n == len(self):
            return self
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(self):
            raise ValueError(
                f"a {self.split} subset of {self.name!r} must have 1 to {len(self)} images, "
                f"got {n!r}"
            )
        if isinstance(self.source, TensorImages):
            idx = torch.arange(n)
            source: Dataset = TensorImages(self.source.images[:n], self.source.labels[:n])
        else:
            idx = (
                torch.randperm(len(self), generator=torch.Generator().manual_seed(0))[:n]
                .sort()
                .values
            )
            source = torch.utils.data.Subset(self.source, idx.tolist())
        return ImageDataset(
            source, self.labels[idx], self.class_names, self.mean, self.std, self.image_size,
            name=self.name, split=self.split, augment=self.augment,
            scales=None if self.scales is None else self.scales[idx],
            object_sizes=None if self.object_sizes is None else self.object_sizes[idx],
        )  # fmt: skip

    def __repr__(self) -> str:
        c, s = self.in_channels, self.image_size
        return (f"ImageDataset({self.name!r}, split={self.split!r}, {len(self)} images of "
                f"{c}x{s}x{s}, {self.num_classes} classes, augment={self.augment})")  # fmt: skip


def load_dataset(
    name: str = "shapes",
    root: str | Path | None = None,
    split: str = "train",
    download: bool = False,
    *,
    augment: bool | None = None,
    **options: Any,
) -> ImageDataset:
    """Load one split of a dataset as an `ImageDataset` of (float C x H x W, int label) items.

    name: "shapes" (generated, cached in root), "cifar10" (root/cifar-10-batches-py/),
        "fashion_mnist" (root/FashionMNIST/raw/), "imagefolder" (root/{train,val,test}/<class>/).
    root: the data folder; None = `default_root()`. For "imagefolder", the dataset's own folder.
    split: "train", "val" or "test". CIFAR-10 and Fashion-MNIST have no official validation set:
        "val" is the last 10% of the official training files and "train" the rest.
    download: fetch CIFAR-10 / Fashion-MNIST with torchvision first (needs internet).
    augment: random crop (padding 4) + horizontal flip per item; default: on for "train" only.
    options: shapes: data_seed=0, sizes={"train": 10000, "val": 1000, "test": 2000};
        fashion_mnist: channels=1 (or 3: grey copied to RGB); imagefolder: image_size=32.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    allowed = {"shapes": {"data_seed", "sizes"}, "cifar10": set(),
               "fashion_mnist": {"channels"}, "imagefolder": {"image_size"}}[name]  # fmt: skip
    unknown = set(options) - allowed
    if unknown:
        raise TypeError(
            f"load_dataset({name!r}) got unexpected option(s) {sorted(unknown)}; "
            f"it accepts {sorted(allowed) or 'none'}"
        )
    root = default_root() if root is None else Path(root).expanduser()
    augment = split == "train" if augment is None else augment
    if name == "shapes":
        arrays = load_shapes(root, **options)[split]
        images = torch.from_numpy(arrays["images"])
        labels = torch.from_numpy(arrays["labels"]).long()
        return ImageDataset(
            TensorImages(images, labels), labels, SHAPES_CLASSES, SHAPES_MEAN, SHAPES_STD, 32,
            name=name, split=split, augment=augment,
            scales=torch.from_numpy(arrays["scales"]).long(),
            object_sizes=torch.from_numpy(arrays["sizes"]),
        )  # fmt: skip
    if name == "imagefolder":
        return _load_imagefolder(root, split, augment, download, **options)
    if name == "cifar10":
        if download:
            _download(name, root)
        images, labels, classes = _read_cifar10(root, split)
        mean, std = CIFAR10_MEAN, CIFAR10_STD
    else:
        if download:
            _download(name, root)
        images, labels = _read_fashion_mnist(root, split)
        classes, mean, std = FASHION_MNIST_CLASSES, FASHION_MNIST_MEAN, FASHION_MNIST_STD
        channels = options.get("channels", 1)
        if channels not in (1, 3):
            raise ValueError(f"fashion_mnist channels must be 1 or 3, got {channels!r}")
        if channels == 3:
            images, mean, std = images.expand(-1, 3, -1, -1).contiguous(), mean * 3, std * 3
    return ImageDataset(TensorImages(images, labels), labels, classes, mean, std,
                        images.shape[-1], name=name, split=split, augment=augment)  # fmt: skip


# ------------------------------------------------------------------- multiscale shapes

SHAPES_VERSION = 1
SHAPES_CLASSES = ("disc", "ring", "square", "triangle", "plus", "cross",
                  "hstripes", "vstripes", "checker", "corner")  # fmt: skip
SCALE_NAMES = ("small", "medium", "large")
SCALE_RANGES = ((6.0, 10.0), (10.0, 16.0), (16.0, 28.0))  # object size in px (diameter or side)
SHAPES_SIZES = {"train": 10_000, "val": 1_000, "test": 2_000}
SHAPES_FILE = "multiscale_shapes.npz"
# Per-channel mean and std of the uint8/255 training images of seed 0 (measured, then fixed).
SHAPES_MEAN = (0.4990, 0.5006, 0.4996)
SHAPES_STD = (0.2914, 0.2927, 0.2920)
_SPLIT_IDS = {"train": 0, "val": 1, "test": 2}
_SIZE = 32


def _coverage(sdf: np.ndarray) -> np.ndarray:
    """Signed distance (px, negative inside) -> antialiased pixel coverage in [0, 1]."""
    return np.minimum(np.maximum(0.5 - sdf, 0.0), 1.0)


def _box(u: np.ndarray, v: np.ndarray, a: Any, b: Any) -> np.ndarray:
    """Distance-like function of the box |u| <= a, |v| <= b (exact inside and on the axes)."""
    return np.maximum(np.abs(u) - a, np.abs(v) - b)


def _bands(t: np.ndarray, r: Any, n_bands: int) -> np.ndarray:
    """Signed distance to n equal bands across [-r, r] along t, bands 0, 2, 4, ... filled."""
    h = 2 * r / n_bands
    f = (t + r) / (2 * h)
    f = f - np.floor(f)
    return (np.abs(f - 0.25) - 0.25) * 2 * h


def _outline(sdf: np.ndarray, w: Any) -> np.ndarray:
    """The inner stroke of width w along a filled shape's boundary."""
    return np.abs(sdf + w / 2) - w / 2


def _shape_coverage(c: int, u: np.ndarray, v: np.ndarray, r: Any, w: Any) -> np.ndarray:
    """Coverage of class c at local (u, v) (px from the centre); half size r, stroke width w."""
    t = w * 0.6  # half thickness of bars
    if c == 0:  # disc
        return _coverage(np.sqrt(u * u + v * v) - r)
    if c == 1:  # ring
        return _coverage(_outline(np.sqrt(u * u + v * v) - r, w))
    if c == 2:  # square outline
        return _coverage(_outline(_box(u, v, r * 0.9, r * 0.9), w))
    if c == 3:  # triangle outline, apex up: three half-planes at inradius a
        a, s3 = r * 0.55, np.float32(math.sqrt(3) / 2)
        vv = v - a / 2
        d = np.maximum(np.maximum(vv - a, s3 * u - 0.5 * vv - a), -s3 * u - 0.5 * vv - a)
        return _coverage(_outline(d, w))
    if c == 4:  # plus
        return _coverage(np.minimum(_box(u, v, r, t), _box(u, v, t, r)))
    if c == 5:  # cross: the plus turned by 45 degrees
        a, b = (u + v) * np.float32(0.7071), (v - u) * np.float32(0.7071)
        return _coverage(np.minimum(_box(a, b, r * 1.15, t), _box(a, b, t, r * 1.15)))
    if c == 6:  # horizontal stripes: 3 bars in a square
        return _coverage(np.maximum(_box(u, v, r, r), _bands(v, r, 5)))
    if c == 7:  # vertical stripes
        return _coverage(np.maximum(_box(u, v, r, r), _bands(u, r, 5)))
    if c == 8:  # 2x2 checkerboard: XNOR of a left-half and a top-half band
        a, b = _coverage(_bands(u, r, 2)), _coverage(_bands(v, r, 2))
        return (a * b + (1 - a) * (1 - b)) * _coverage(_box(u, v, r, r))
    # c == 9, corner: an L of two bars (its mirror images come from the sign flips of u, v)
    return _coverage(np.minimum(_box(u, v - (r - t), r, t), _box(u + (r - t), v, t, r)))


def generate_shapes(n: int, seed: int = 0, split: str = "train") -> dict[str, np.ndarray]:
    """Generate n multiscale-shapes images, deterministically from (seed, split).

    Returns images uint8 (n, 3, 32, 32), labels int64 (n,), scales int8 (n,) (0/1/2 =
    small/medium/large) and sizes float32 (n,) (object size in px). Every block of 30 images holds
    each (class, scale) pair once, in random order, so any prefix of the split is balanced.
    Vectorised with numpy over chunks of images; no Python loop over pixels or images.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if split not in _SPLIT_IDS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    rng = np.random.default_rng([SHAPES_VERSION, int(seed), _SPLIT_IDS[split]])
    f32 = np.float32
    pairs = np.stack(np.meshgrid(np.arange(10), np.arange(3), indexing="ij"), -1).reshape(30, 2)
    order = np.argsort(rng.random((-(-n // 30), 30)), axis=1)
    plan = pairs[order].reshape(-1, 2)[:n]
    labels, scales = plan[:, 0], plan[:, 1]
    lo, hi = np.array(SCALE_RANGES, dtype=f32)[scales].T
    size = lo + (hi - lo) * rng.random(n, dtype=f32)
    r = size / 2
    cx = r + (_SIZE - 2 * r) * rng.random(n, dtype=f32)  # the whole object stays inside
    cy = r + (_SIZE - 2 * r) * rng.random(n, dtype=f32)
    theta = np.deg2rad(rng.uniform(-15, 15, n)).astype(f32)  # < 22.5: plus and cross stay apart
    stroke = np.maximum(f32(1.25), size * f32(0.12))
    mirror = np.where(rng.random((2, n)) < 0.5, -1, 1).astype(f32)  # corner: 4 orientations
    bg, fg = rng.random((n, 3), dtype=f32), rng.random((n, 3), dtype=f32)
    for _ in range(50):  # redraw foregrounds too close to their background (then by contrast)
        bad = np.linalg.norm(fg - bg, axis=1) < 0.5
        if not bad.any():
            break
        fg[bad] = rng.random((int(bad.sum()), 3), dtype=f32)
    grad_angle = rng.uniform(0, 2 * np.pi, n).astype(f32)
    grad_amp = rng.uniform(0, 0.25, n).astype(f32)
    n_strokes = rng.integers(0, 3, n)  # clutter: 0-2 short translucent strokes
    stroke_pos = rng.uniform(0, _SIZE, (n, 2, 2)).astype(f32)
    stroke_angle = rng.uniform(0, np.pi, (n, 2)).astype(f32)
    stroke_len = rng.uniform(3, 8, (n, 2)).astype(f32)
    stroke_alpha = rng.uniform(0.3, 0.7, (n, 2)).astype(f32) * (np.arange(2) < n_strokes[:, None])
    clutter_colour = rng.random((n, 3), dtype=f32)
    noise_sd = rng.uniform(0.02, 0.06, n).astype(f32)

    ys, xs = np.mgrid[0:_SIZE, 0:_SIZE].astype(f32) + f32(0.5)  # pixel centres
    images = np.empty((n, 3, _SIZE, _SIZE), np.uint8)
    for start in range(0, n, 1024):
        s = slice(start, min(n, start + 1024))

        def col(a: np.ndarray, s: slice = s) -> np.ndarray:  # per image -> broadcast over pixels
            return a[s, None, None]

        dx, dy = xs - col(cx), ys - col(cy)
        cos, sin = np.cos(col(theta)), np.sin(col(theta))
        u, v = cos * dx + sin * dy, cos * dy - sin * dx
        cov = np.empty(u.shape, f32)
        lab = labels[s]
        for c in range(10):
            k = lab == c
            if k.any():
                uk, vk = u[k], v[k]
                if c == 9:
                    uk, vk = uk * mirror[0, s][k, None, None], vk * mirror[1, s][k, None, None]
                rk, wk = r[s][k, None, None], stroke[s][k, None, None]
                cov[k] = _shape_coverage(c, uk, vk, rk, wk)
        clutter = np.zeros_like(cov)
        for j in range(2):
            px, py = xs - stroke_pos[s, j, 0, None, None], ys - stroke_pos[s, j, 1, None, None]
            ca = np.cos(stroke_angle[s, j])[:, None, None]
            sa = np.sin(stroke_angle[s, j])[:, None, None]
            half = stroke_len[s, j, None, None] / 2
            along = np.minimum(np.maximum(px * ca + py * sa, -half), half)
            dist = np.sqrt((px - along * ca) ** 2 + (py - along * sa) ** 2) - f32(0.5)
            np.maximum(clutter, _coverage(dist) * stroke_alpha[s, j, None, None], out=clutter)
        gradient = np.cos(col(grad_angle)) * (xs - 16) + np.sin(col(grad_angle)) * (ys - 16)
        img = bg[s, :, None, None] + (gradient * col(grad_amp) / 16)[:, None]
        img += cov[:, None] * (fg[s, :, None, None] - img)
        img += clutter[:, None] * (clutter_colour[s, :, None, None] - img)
        noise = rng.random(img.shape, dtype=f32) - f32(0.5)  # uniform, std = noise_sd
        img += noise * (noise_sd[s] * f32(math.sqrt(12)))[:, None, None, None]
        img = img * 255 + 0.5
        np.clip(img, 0, 255, out=img)
        images[s] = img
    return {"images": images, "labels": labels.astype(np.int64),
            "scales": scales.astype(np.int8), "sizes": size}  # fmt: skip


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _atomic_write(path: Path, write: Any) -> None:
    """Write via a temporary file in the same folder, then os.replace: never a half file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; a cache is readable like any other file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_shapes_cache(path: Path, meta_path: Path, expected: dict) -> tuple[dict | None, str]:
    """The cached splits if the cache matches `expected` and its checksum; else (None, reason)."""
    if not path.exists() or not meta_path.exists():
        return None, "missing"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as e:
        return None, f"unreadable metadata {meta_path.name} ({e})"
    for key, value in expected.items():
        if meta.get(key) != value:
            return None, f"stale ({key} is {meta.get(key)!r}, expected {value!r})"
    if _sha256(path) != meta.get("sha256"):
        return None, f"corrupt ({path.name} does not match its sha256)"
    try:
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        splits = {}
        for split, n in expected["sizes"].items():
            part = {k: arrays[f"{split}_{k}"] for k in ("images", "labels", "scales", "sizes")}
            if part["images"].shape != (n, 3, _SIZE, _SIZE) or part["images"].dtype != np.uint8:
                raise ValueError(f"{split}_images has shape {part['images'].shape}")
            splits[split] = part
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as e:  # reader says why
        return None, f"corrupt ({type(e).__name__}: {e})"
    return splits, "ok"


def load_shapes(
    root: str | Path | None = None, data_seed: int = 0, sizes: dict[str, int] | None = None
) -> dict[str, dict[str, np.ndarray]]:
    """All three splits of multiscale shapes, from the cache in root or freshly generated.

    The cache is `root/multiscale_shapes.npz` plus `multiscale_shapes.json` (version, seed, sizes,
    sha256 of the .npz). A missing, stale or corrupt cache is regenerated and rewritten atomically
    (a warning says why when an existing cache was rejected). If root is not writable the data is
    generated in memory with a warning.
    """
    root = default_root() if root is None else Path(root).expanduser()
    sizes = dict(SHAPES_SIZES if sizes is None else sizes)
    if set(sizes) != set(SPLITS) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in sizes.values()
    ):
        raise ValueError(f"sizes must give a positive int for each of {SPLITS}, got {sizes!r}")
    path, meta_path = root / SHAPES_FILE, root / SHAPES_FILE.replace(".npz", ".json")
    expected = {"version": SHAPES_VERSION, "seed": int(data_seed), "sizes": sizes}
    splits, reason = _check_shapes_cache(path, meta_path, expected)
    if splits is not None:
        return splits
    if reason != "missing":
        warnings.warn(
            f"multiscale shapes cache in {root} is {reason}; regenerating it", stacklevel=3
        )
    t0 = time.perf_counter()
    splits = {split: generate_shapes(n, data_seed, split) for split, n in sizes.items()}
    seconds = time.perf_counter() - t0
    flat = {f"{split}_{k}": a for split, part in splits.items() for k, a in part.items()}
    try:
        root.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, lambda f: np.savez(f, **flat))
        meta = {**expected, "sha256": _sha256(path), "file": SHAPES_FILE,
                "classes": list(SHAPES_CLASSES),
                "generation_seconds": round(seconds, 2)}  # fmt: skip
        _atomic_write(meta_path, lambda f: f.write(json.dumps(meta, indent=2).encode()))
    except OSError as e:
        warnings.warn(f"could not cache multiscale shapes in {root} ({e}); using it uncached",
                      stacklevel=3)  # fmt: skip
    return splits


# ---------------------------------------------------------------------- real datasets

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR10_DIR = "cifar-10-batches-py"
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")  # fmt: skip
FASHION_MNIST_DIR = Path("FashionMNIST") / "raw"
# Fashion-MNIST's 28x28 statistics are mean 0.2860, std 0.3530; the 2-px zero border that pads it
# to 32x32 keeps the sums and adds pixels: mean' = mean * f, E'[x^2] = E[x^2] * f, f = 784 / 1024.
_F = 784 / 1024
FASHION_MNIST_MEAN = (0.2860 * _F,)
FASHION_MNIST_STD = (math.sqrt((0.3530**2 + 0.2860**2) * _F - (0.2860 * _F) ** 2),)
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # image folders (e.g. Imagenette) use ImageNet's statistics
IMAGENET_STD = (0.229, 0.224, 0.225)

_HOW_TO_GET = (
    "To get it, run load_dataset({name!r}, root={root!r}, download=True) on a machine with "
    "internet (torchvision downloads and unpacks it), then copy the folder here if needed."
)


def _missing(name: str, root: Path, looked: list[Path], layout: str) -> FileNotFoundError:
    paths = "\n  ".join(str(p) for p in looked)
    return FileNotFoundError(
        f"{name} not found: missing\n  {paths}\nExpected layout: {layout}\n"
        + _HOW_TO_GET.format(name=name, root=str(root))
    )


def _download(name: str, root: Path) -> None:
    import torchvision.datasets as tvd

    root.mkdir(parents=True, exist_ok=True)
    cls = tvd.CIFAR10 if name == "cifar10" else tvd.FashionMNIST
    for train in (True, False):
        cls(str(root), train=train, download=True)


def _split_train_val(images: Tensor, labels: Tensor, split: str) -> tuple[Tensor, Tensor]:
    n_val = max(1, round(len(images) * VAL_FRACTION))
    keep = slice(len(images) - n_val, None) if split == "val" else slice(0, len(images) - n_val)
    return images[keep].contiguous(), labels[keep].contiguous()


def _read_cifar10(root: Path, split: str) -> tuple[Tensor, Tensor, tuple[str, ...]]:
    """CIFAR-10 python pickle batches (torchvision's layout) -> uint8 (N,3,32,32), labels, names."""
    folder = root / CIFAR10_DIR
    names = CIFAR10_TRAIN_FILES if split != "test" else ("test_batch",)
    wanted = [folder / f for f in (*names, "batches.meta")]
    missing = [p for p in wanted if not p.is_file()]
    if missing:
        layout = (f"<root>/{CIFAR10_DIR}/ with data_batch_1 ... data_batch_5, test_batch and "
                  "batches.meta (the python version: cifar-10-python.tar.gz unpacked)")  # fmt: skip
        raise _missing("cifar10", root, missing, layout)
    images, labels = [], []
    for path in wanted[:-1]:
        entry = _unpickle(path)
        try:
            data = np.asarray(entry["data"], dtype=np.uint8)
            lab = np.asarray(entry["labels"], dtype=np.int64)
            if data.ndim != 2 or data.shape[1] != 3072 or lab.shape != (len(data),):
                raise ValueError(f"data {data.shape}, labels {lab.shape}; expected (N, 3072), (N,)")
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(
                f"corrupt CIFAR-10 file {path}: {e!r}; delete it and download again"
            ) from e
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(lab)
    meta = _unpickle(folder / "batches.meta")
    if not isinstance(meta, dict) or "label_names" not in meta:
        raise ValueError(f"corrupt CIFAR-10 file {folder / 'batches.meta'}: no 'label_names' entry")
    x, y = torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))
    if split != "test":
        x, y = _split_train_val(x, y, split)
    return x, y, tuple(meta["label_names"])


def _unpickle(path: Path) -> Any:
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="latin1")
    except Exception as e:  # truncated: EOFError/UnpicklingError; garbage: many kinds
        raise ValueError(
            f"corrupt or truncated CIFAR-10 file {path} ({type(e).__name__}: {e}); "
            "delete it and download again"
        ) from e
    if not isinstance(entry, dict):
        raise TypeError(
            f"corrupt CIFAR-10 file {path}: expected a dict, got {type(entry).__name__}"
        )
    return entry


def _read_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    """An IDX file (MNIST format: big-endian int32 magic, dims, then uint8 data), maybe gzipped."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:  # a truncated gzip stream raises EOFError
        raise ValueError(f"corrupt or truncated Fashion-MNIST file {path} ({e})") from e
    header = 4 * (1 + ndim)
    if len(raw) < header or int.from_bytes(raw[:4], "big") != magic:
        found = raw[:4].hex() if len(raw) >= 4 else "nothing"
        raise ValueError(
            f"corrupt Fashion-MNIST file {path}: expected IDX magic number {magic:#010x}, found "
            f"{found}"
        )
    dims = [int.from_bytes(raw[4 * i : 4 * i + 4], "big") for i in range(1, ndim + 1)]
    if len(raw) - header != math.prod(dims):
        raise ValueError(
            f"truncated Fashion-MNIST file {path}: header says {dims} = {math.prod(dims)} bytes of "
            f"data, the file has {len(raw) - header}"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def _read_fashion_mnist(root: Path, split: str) -> tuple[Tensor, Tensor]:
    """Fashion-MNIST IDX files (torchvision's layout) -> uint8 (N, 1, 32, 32) (2 px zero border)."""
    folder = root / FASHION_MNIST_DIR
    prefix = "t10k" if split == "test" else "train"
    files = []
    for stem in (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"):
        found = [p for p in (folder / stem, folder / f"{stem}.gz") if p.is_file()]
        if not found:
            layout = (f"<root>/{FASHION_MNIST_DIR}/ with train-images-idx3-ubyte, "
                      "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte "
                      "(each may also be gzipped, .gz)")  # fmt: skip
            raise _missing("fashion_mnist", root, [folder / stem, folder / f"{stem}.gz"], layout)
        files.append(found[0])
    images = _read_idx(files[0], 0x00000803, 3)
    labels = _read_idx(files[1], 0x00000801, 1)
    if len(images) != len(labels) or images.shape[1:] != (28, 28):
        raise ValueError(
            f"Fashion-MNIST files {files[0]} and {files[1]} disagree: images {images.shape}, "
            f"labels {labels.shape}; expected (N, 28, 28) and (N,)"
        )
    x = F.pad(torch.from_numpy(images.copy()), (2, 2, 2, 2)).unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64))
    if split != "test":
        x, y = _split_train_val(x, y, split)
    return x, y


def _read_rgb(path: str) -> Any:
    """PIL loader that names the file when it cannot be decoded (runs in DataLoader workers)."""
    from PIL import Image

    try:
        with open(path, "rb") as f:
            return Image.open(f).convert("RGB")
    except Exception as e:
        raise RuntimeError(f"cannot read image file {path} ({type(e).__name__}: {e})") from e


def _load_imagefolder(
    root: Path, split: str, augment: bool, download: bool, image_size: int = 32
) -> ImageDataset:
    """root/<split>/<class>/<image>; each image resized (shorter side) and centre-cropped."""
    import torchvision.datasets as tvd
    from torchvision.transforms import v2

    if download:
        raise ValueError(
            "an image folder cannot be downloaded: copy it into place (download=False)"
        )
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8:
        raise ValueError(f"image_size must be an integer >= 8, got {image_size!r}")
    layout = ("<root>/train/<class name>/<image files>, <root>/val/<class name>/..., optionally "
              "<root>/test/... (e.g. Imagenette: imagenette2-160/train, /val)")  # fmt: skip
    folder = root / split
    if split == "test" and not folder.is_dir() and (root / "val").is_dir():
        warnings.warn(
            f"{folder} does not exist; using {root / 'val'} as the test split", stacklevel=3
        )
        folder = root / "val"
    if not folder.is_dir():
        raise FileNotFoundError(
            f"imagefolder split {split!r} not found: missing folder {folder}\n"
            f"Expected layout: {layout}\nCopy your images there (nothing is downloaded)."
        )
    to_uint8 = v2.Compose([v2.ToImage(), v2.Resize(image_size, antialias=True),
                           v2.CenterCrop(image_size), v2.ToPureTensor()])  # fmt: skip
    try:
        source = tvd.ImageFolder(str(folder), transform=to_uint8, loader=_read_rgb)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"no images under {folder}: {e}\nExpected layout: {layout}") from e
    if split != "train" and (root / "train").is_dir():
        train_classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
        if train_classes != source.classes:
            raise ValueError(
                f"{folder} has classes {source.classes}, but {root / 'train'} has {train_classes}"
            )
    labels = torch.tensor(source.targets, dtype=torch.long)
    return ImageDataset(source, labels, source.classes, IMAGENET_MEAN, IMAGENET_STD, image_size,
                        name="imagefolder", split=split, augment=augment)  # fmt: skip


# ------------------------------------------------------------------------------ loaders


def augment_batch(images: Tensor, generator: torch.Generator, padding: int = 4) -> Tensor:
    """Random crop (zero padding) + horizontal flip of a batch, one draw per image, as tensor ops.

    images: (N, C, H, W) of any dtype on any device (the loaders pass uint8, before
    normalisation, so the padding is black as in torchvision). The random numbers come from a CPU
    `generator`, so the result does not depend on the device. Same distribution as torchvision's
    RandomCrop(size, padding) then RandomHorizontalFlip(). One gather for the whole batch.
    """
    n, c, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    cols = dx[:, None] + torch.arange(w)
    cols = torch.where(flip[:, None], cols.flip(1), cols)  # flipping = reading the row backwards
    # flat index into each padded (H + 2p) x (W + 2p) plane, the same for every channel
    index = (dy[:, None, None] + torch.arange(h)[:, None]) * (w + 2 * padding) + cols[:, None, :]
    index = index.to(images.device).view(n, 1, h * w).expand(n, c, h * w)
    return padded.flatten(2).gather(2, index).view(n, c, h, w)


def _mix_seed(*parts: int) -> int:
    """One 63-bit seed from several integers (numpy's SeedSequence mixes them well)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint32)
               .astype(np.uint64).view(np.uint64)[0] >> np.uint64(1))  # fmt: skip


class ShardedBatches(Sampler[list[int]]):
    """Which images form each batch of an epoch, for one rank.

    Training (shuffle=True): torch's DistributedSampler(drop_last=True) order — a permutation
    seeded by seed + epoch, the same on every rank, cut to a multiple of world_size and dealt out
    rank::world_size — so shards are disjoint and equal; then batches of batch_size, the last
    partial batch dropped (unless it is the only one).
    Evaluation (shuffle=False): images rank::world_size in order (every image once over all
    ranks), split into ceil(ceil(n / world_size) / batch_size) near-equal batches, the same count
    on every rank.
    """

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int, rank: int,
                 world_size: int):  # fmt: skip
        self.n, self.batch_size, self.shuffle = n, batch_size, shuffle
        self.seed, self.rank, self.world_size, self.epoch = seed, rank, world_size, 0
        if shuffle:
            self.sampler = DistributedSampler(range(n), num_replicas=world_size, rank=rank,
                                              shuffle=True, seed=seed, drop_last=True)  # fmt: skip

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[Tensor]:
        if self.shuffle:
            self.sampler.set_epoch(self.epoch)
            idx = torch.tensor(list(self.sampler), dtype=torch.long)
            k = max(1, len(idx) // self.batch_size)
            return list(idx[: k * self.batch_size].split(self.batch_size)) if len(idx) >= \
                self.batch_size else [idx]  # fmt: skip
        idx = torch.arange(self.rank, self.n, self.world_size)
        k = math.ceil(math.ceil(self.n / self.world_size) / self.batch_size)
        return list(idx.tensor_split(k))

    def __iter__(self) -> Iterator[list[int]]:
        return (b.tolist() for b in self.batches())

    def __len__(self) -> int:
        if self.shuffle:
            return max(1, len(self.sampler) // self.batch_size)
        return math.ceil(math.ceil(self.n / self.world_size) / self.batch_size)


class _Loader:
    """Shared part of both loader paths: the batch plan, the epoch, normalisation, augmentation.

    Each pass (iter) uses the loader's current epoch and then moves to the next, so forgetting
    set_epoch still reshuffles; set_epoch(e) makes the next pass epoch e. Batches and
    augmentation are a deterministic function of (seed, epoch, rank).
    """

    def __init__(self, dataset: ImageDataset, batch_size: int, device: torch.device, *,
                 train: bool, augment: bool, seed: int, rank: int, world_size: int):  # fmt: skip
        self.dataset, self.device, self.augment = dataset, device, augment
        self.seed, self.rank, self.batch_size = seed, rank, batch_size
        self.plan = ShardedBatches(len(dataset), batch_size, train, seed, rank, world_size)
        self.epoch = 0
        c = dataset.in_channels
        std = torch.tensor(dataset.std).view(1, c, 1, 1)
        self._scale = (1 / (255 * std)).to(device)
        self._shift = (torch.tensor(dataset.mean).view(1, c, 1, 1) / std).to(device)

    def __len__(self) -> int:
        return len(self.plan)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        self.plan.set_epoch(epoch)
        gen = torch.Generator().manual_seed(_mix_seed(self.seed, epoch, self.rank))
        return self._batches(self._uint8_batches(), gen)

    def _batches(self, raw: Iterator, gen: torch.Generator) -> Iterator[tuple[Tensor, Tensor]]:
        for images, labels in raw:
            if self.augment:  # crop/flip the uint8 pixels (zero padding = black, as torchvision)
                images = augment_batch(images, gen)
            yield images.float() * self._scale - self._shift, labels

    def _uint8_batches(self) -> Iterator[tuple[Tensor, Tensor]]:
        raise NotImplementedError  # each loader path says where its uint8 batches come from


class TensorLoader(_Loader):
    """Keeps the whole uint8 dataset on the device; a batch is one indexing operation."""

    def __init__(self, dataset: ImageDataset, batch_size: int, device: torch.device, **kw: Any):
        super().__init__(dataset, batch_size, device, **kw)
        self.images = dataset.images.to(device)
        self.labels = dataset.labels.to(device)

    def _uint8_batches(self) -> Iterator[tuple[Tensor, Tensor]]:
        for idx in self.plan.batches():
            idx = idx.to(self.device)
            yield self.images[idx], self.labels[idx]


class WorkerLoader(_Loader):
    """A torch DataLoader over the uint8 source (worker processes, pinned memory on CUDA)."""

    def __init__(self, dataset: ImageDataset, batch_size: int, device: torch.device, *,
                 num_workers: int = 0, **kw: Any):  # fmt: skip
        super().__init__(dataset, batch_size, device, **kw)
        self.loader = DataLoader(dataset.source, batch_sampler=self.plan, num_workers=num_workers,
                                 pin_memory=device.type == "cuda")  # fmt: skip

    def _uint8_batches(self) -> Iterator[tuple[Tensor, Tensor]]:
        for images, labels in self.loader:
            yield (images.to(self.device, non_blocking=True),
                   labels.to(self.device, non_blocking=True))  # fmt: skip


@dataclass
class Loaders:
    """The three loaders of a dataset and what a model needs to know about it."""

    train: TensorLoader | WorkerLoader
    val: TensorLoader | WorkerLoader
    test: TensorLoader | WorkerLoader
    num_classes: int
    in_channels: int
    class_names: tuple[str, ...]
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    name: str


def make_loaders(
    name: str = "shapes",
    batch_size: int = 128,
    device: str | torch.device = "cpu",
    root: str | Path | None = None,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    train_size: int | None = None,
    val_size: int | None = None,
    test_size: int | None = None,
    *,
    augment: bool = True,
    loader: str = "auto",
    num_workers: int | None = None,
    download: bool = False,
    **options: Any,
) -> Loaders:
    """Train/val/test loaders yielding (float32 N x C x H x W images, int64 N labels) on `device`.

    root: None = `default_root()`. seed, rank, world_size: shuffling and augmentation are a
    deterministic function of (seed, epoch, rank); with world_size > 1 each rank gets a disjoint
    shard (see `ShardedBatches`). train_size / val_size / test_size: use only that many images
    (the first ones in memory, balanced for shapes; a fixed random subset of a folder).
    augment: random crop + flip on the training batches (never on val/test).
    loader: "tensor" (in-memory datasets on the device), "dataloader" (DataLoader + workers) or
    "auto" (tensor for shapes/cifar10/fashion_mnist, dataloader for imagefolder).
    num_workers: DataLoader workers (default: 0 for in-memory data, min(4, cores - 1) for folders).
    options: passed to `load_dataset` (e.g. channels=3, image_size=64, sizes=...).
    """
    for arg, value, lo in (("batch_size", batch_size, 1), ("world_size", world_size, 1),
                           ("rank", rank, 0), ("seed", seed, 0)):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            raise ValueError(f"{arg} must be an integer >= {lo}, got {value!r}")
    if rank >= world_size:
        raise ValueError(f"rank must be in 0 .. world_size - 1 = {world_size - 1}, got {rank}")
    if loader not in ("auto", "tensor", "dataloader"):
        raise ValueError(f"loader must be 'auto', 'tensor' or 'dataloader', got {loader!r}")
    if loader == "tensor" and name == "imagefolder":
        raise ValueError("loader='tensor' needs an in-memory dataset; 'imagefolder' reads files "
                         "lazily: use loader='dataloader' (the default for it)")  # fmt: skip
    device = torch.device(device)
    use_tensor = loader == "tensor" or (loader == "auto" and name != "imagefolder")
    if num_workers is None:
        num_workers = (
            0 if use_tensor or name != "imagefolder" else min(4, (os.cpu_count() or 2) - 1)
        )
    parts = {}
    for split, n in (("train", train_size), ("val", val_size), ("test", test_size)):
        ds = load_dataset(name, root, split, download and split == "train", augment=False,
                          **options).subset(n)  # fmt: skip
        if len(ds) < world_size:
            raise ValueError(
                f"the {split} split has {len(ds)} images, fewer than world_size={world_size}"
            )
        kw = {"train": split == "train", "augment": augment and split == "train",
              "seed": seed, "rank": rank, "world_size": world_size}  # fmt: skip
        if use_tensor:
            parts[split] = TensorLoader(ds, batch_size, device, **kw)
        else:
            parts[split] = WorkerLoader(ds, batch_size, device, num_workers=num_workers, **kw)
    ds = parts["train"].dataset
    return Loaders(**parts, num_classes=ds.num_classes, in_channels=ds.in_channels,
                   class_names=ds.class_names, image_size=ds.image_size, mean=ds.mean,
                   std=ds.std, name=name)  # fmt: skip


# ------------------------------------------------------------------------------ figures


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
    import matplotlib.pyplot as plt

    if isinstance(images, ImageDataset):
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
    dataset: ImageDataset | None = None, label: int | str = 0, per_scale: int = 6
) -> Any:
    """One class at several scales: a row per scale (small, medium, large); returns the Figure.

    dataset: a multiscale-shapes `ImageDataset` (default: the training split).
    label: class index or name, e.g. "ring".
    """
    import matplotlib.pyplot as plt

    ds = load_dataset("shapes", split="train") if dataset is None else dataset
    if ds.scales is None:
        raise ValueError(f"{ds.name!r} has no per-image scales; use a multiscale shapes dataset")
    if isinstance(label, str):
        if label not in ds.class_names:
            raise ValueError(f"unknown class {label!r}; classes are {', '.join(ds.class_names)}")
        label = ds.class_names.index(label)
    if not 0 <= int(label) < ds.num_classes:
        raise ValueError(f"label must be in 0 .. {ds.num_classes - 1}, got {label}")
    fig, axes = plt.subplots(3, per_scale, figsize=(1.3 * per_scale, 4.3), squeeze=False)
    for s, scale_name in enumerate(SCALE_NAMES):
        idx = torch.nonzero((ds.labels == label) & (ds.scales == s)).flatten()[:per_scale]
        for j, ax in enumerate(axes[s]):
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(idx):
                ax.imshow(ds.source[int(idx[j])][0].permute(1, 2, 0).numpy())
                if ds.object_sizes is not None:
                    ax.set_title(f"{float(ds.object_sizes[idx[j]]):.0f} px", fontsize=7)
        lo, hi = SCALE_RANGES[s]
        axes[s][0].set_ylabel(f"{scale_name}\n{lo:.0f}-{hi:.0f} px", fontsize=8)
    fig.suptitle(f"class {ds.class_names[label]!r} at three scales")
    fig.tight_layout()
    return fig
