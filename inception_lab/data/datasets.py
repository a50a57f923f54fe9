"""What a course dataset is, and `load_dataset`, the one door to every dataset.

An `ImageDataset` holds uint8 images (in memory, or read lazily from an image folder), its class
names and normalisation; its items are normalised float images. `load_dataset(name, split=...)`
returns one for the generated multiscale shapes (`shapes.py`) or for files on disk (`files.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from inception_lab._validate import check_int
from inception_lab.data import files
from inception_lab.data.root import DATA_ENV_VAR, default_root
from inception_lab.data.shapes import SHAPES_CLASSES, SHAPES_MEAN, SHAPES_STD, SPLITS, load_shapes

__all__ = [
    "DATASETS",
    "DATA_ENV_VAR",
    "ImageDataset",
    "TensorImages",
    "default_root",
    "load_dataset",
]

DATASETS = ("shapes", "cifar10", "fashion_mnist", "imagefolder")


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
        what = f"an integer in [1, {len(self)}] (the {self.split} images of {self.name!r})"
        check_int(f"{self.split}_size", n, maximum=len(self), what=what)
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
            source,
            self.labels[idx],
            self.class_names,
            self.mean,
            self.std,
            self.image_size,
            name=self.name,
            split=self.split,
            augment=self.augment,
            scales=None if self.scales is None else self.scales[idx],
            object_sizes=None if self.object_sizes is None else self.object_sizes[idx],
        )

    def __repr__(self) -> str:
        c, s = self.in_channels, self.image_size
        return (
            f"ImageDataset({self.name!r}, split={self.split!r}, {len(self)} images of "
            f"{c}x{s}x{s}, {self.num_classes} classes, augment={self.augment})"
        )


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
    options: shapes: data_seed=0, sizes={"train": 10000, "val": 1000, "test": 2000},
        scale_ranges, clutter (harder or easier variants: `generate_shapes`);
        fashion_mnist: channels=1 (or 3: grey copied to RGB); imagefolder: image_size=32.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    allowed = {
        "shapes": {"data_seed", "sizes", "scale_ranges", "clutter"},
        "cifar10": set(),
        "fashion_mnist": {"channels"},
        "imagefolder": {"image_size"},
    }[name]
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
            TensorImages(images, labels),
            labels,
            SHAPES_CLASSES,
            SHAPES_MEAN,
            SHAPES_STD,
            32,
            name=name,
            split=split,
            augment=augment,
            scales=torch.from_numpy(arrays["scales"]).long(),
            object_sizes=torch.from_numpy(arrays["sizes"]),
        )
    if name == "imagefolder":
        source, classes, size = files.read_imagefolder(root, split, download, **options)
        labels = torch.tensor(source.targets, dtype=torch.long)
        return ImageDataset(
            source,
            labels,
            classes,
            files.IMAGENET_MEAN,
            files.IMAGENET_STD,
            size,
            name=name,
            split=split,
            augment=augment,
        )
    if download:
        files.download(name, root)
    if name == "cifar10":
        images, labels, classes = files.read_cifar10(root, split)
        mean, std = files.CIFAR10_MEAN, files.CIFAR10_STD
    else:
        images, labels = files.read_fashion_mnist(root, split)
        classes = files.FASHION_MNIST_CLASSES
        mean, std = files.FASHION_MNIST_MEAN, files.FASHION_MNIST_STD
        channels = options.get("channels", 1)
        if channels not in (1, 3):
            raise ValueError(f"fashion_mnist channels must be 1 or 3, got {channels!r}")
        if channels == 3:
            images, mean, std = images.expand(-1, 3, -1, -1).contiguous(), mean * 3, std * 3
    return ImageDataset(
        TensorImages(images, labels),
        labels,
        classes,
        mean,
        std,
        images.shape[-1],
        name=name,
        split=split,
        augment=augment,
    )
