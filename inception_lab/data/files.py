"""Datasets read from files: CIFAR-10, Fashion-MNIST and any folder of images.

torchvision's dataset classes read the formats (CIFAR-10's python pickles, checked against the
official MD5 sums; Fashion-MNIST's IDX files; image folders); this file adds what a learner needs
when the files are not there or not right: an error that says where it looked, which layout it
expects, and how to get the files. Nothing is downloaded unless `download=True` is asked for.
"""

from __future__ import annotations

import gzip
import math
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from inception_lab._io import atomic_write
from inception_lab._validate import check_int

__all__ = ["download", "read_cifar10", "read_fashion_mnist", "read_imagefolder"]

VAL_FRACTION = 0.1  # CIFAR-10 / Fashion-MNIST: the last 10% of the official training files

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR10_DIR = "cifar-10-batches-py"
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
FASHION_MNIST_DIR = Path("FashionMNIST") / "raw"
# Fashion-MNIST's 28x28 statistics are mean 0.2860, std 0.3530; the 2-px zero border that pads it
# to 32x32 keeps the sums and adds pixels: mean' = mean * f, E'[x^2] = E[x^2] * f, f = 784 / 1024.
_PADDED = 784 / 1024  # the fraction of a 32x32 image that is the 28x28 original
FASHION_MNIST_MEAN = (0.2860 * _PADDED,)
FASHION_MNIST_STD = (math.sqrt((0.3530**2 + 0.2860**2) * _PADDED - (0.2860 * _PADDED) ** 2),)
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


def download(name: str, root: Path) -> None:
    """Fetch CIFAR-10 or Fashion-MNIST with torchvision (needs internet; never done implicitly)."""
    import torchvision.datasets as tvd

    root.mkdir(parents=True, exist_ok=True)
    cls = tvd.CIFAR10 if name == "cifar10" else tvd.FashionMNIST
    for train in (True, False):
        cls(str(root), train=train, download=True)


def _split_train_val(images: Tensor, labels: Tensor, split: str) -> tuple[Tensor, Tensor]:
    n_val = max(1, round(len(images) * VAL_FRACTION))
    keep = slice(len(images) - n_val, None) if split == "val" else slice(0, len(images) - n_val)
    return images[keep].contiguous(), labels[keep].contiguous()


def read_cifar10(root: Path, split: str) -> tuple[Tensor, Tensor, tuple[str, ...]]:
    """CIFAR-10 (torchvision's layout) -> uint8 (N, 3, 32, 32), int64 labels, class names."""
    import torchvision.datasets as tvd
    from torchvision.datasets.utils import check_integrity

    cls, folder = tvd.CIFAR10, root / CIFAR10_DIR
    # torchvision checks every file of both splits against its MD5 sum, whichever split is read.
    wanted = [*cls.train_list, *cls.test_list, [cls.meta["filename"], cls.meta["md5"]]]
    missing = [folder / name for name, _ in wanted if not (folder / name).is_file()]
    if missing:
        layout = (
            f"<root>/{CIFAR10_DIR}/ with data_batch_1 ... data_batch_5, test_batch and "
            "batches.meta (the python version: cifar-10-python.tar.gz unpacked)"
        )
        raise _missing("cifar10", root, missing, layout)
    try:  # torchvision checks every file's MD5 sum before reading
        ds = cls(str(root), train=split != "test", download=False)
    except RuntimeError as e:  # "Dataset not found or corrupted": name the damaged files
        damaged = [str(folder / n) for n, md5 in wanted if not check_integrity(folder / n, md5)]
        raise ValueError(
            f"corrupt or truncated CIFAR-10 file(s): {', '.join(damaged)} (their MD5 sums differ "
            "from the official files'); delete them and download again"
        ) from e
    x = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # (N, 32, 32, 3) -> NCHW
    y = torch.tensor(ds.targets, dtype=torch.int64)
    if split != "test":
        x, y = _split_train_val(x, y, split)
    return x, y, tuple(ds.classes)


def _unpack_gz(folder: Path, stem: str) -> None:
    """torchvision reads the unpacked IDX files; unpack `stem`.gz if only the archive is here."""
    archive = folder / f"{stem}.gz"
    if (folder / stem).is_file() or not archive.is_file():
        return
    try:
        with gzip.open(archive, "rb") as f:
            content = f.read()
    except (OSError, EOFError) as e:  # a truncated gzip stream raises EOFError
        raise ValueError(f"corrupt or truncated Fashion-MNIST file {archive} ({e})") from e
    atomic_write(folder / stem, content)


def _check_idx(path: Path, magic: int) -> None:
    """The IDX header (big-endian magic, dims) must match the file's size: names a bad file.
    Reads the header only; torchvision reads the data."""
    ndim = magic & 0xFF
    header = 4 * (1 + ndim)
    with open(path, "rb") as f:
        head = f.read(header)
    if len(head) < header or int.from_bytes(head[:4], "big") != magic:
        found = head[:4].hex() if len(head) >= 4 else "nothing"
        raise ValueError(
            f"corrupt Fashion-MNIST file {path}: expected IDX magic number {magic:#010x}, "
            f"found {found}"
        )
    dims = [int.from_bytes(head[4 * i : 4 * i + 4], "big") for i in range(1, ndim + 1)]
    size = path.stat().st_size - header
    if size != math.prod(dims):
        raise ValueError(
            f"truncated Fashion-MNIST file {path}: header says {dims} = {math.prod(dims)} bytes "
            f"of data, the file has {size}"
        )


def read_fashion_mnist(root: Path, split: str) -> tuple[Tensor, Tensor]:
    """Fashion-MNIST (torchvision's layout) -> uint8 (N, 1, 32, 32) with a 2 px zero border
    (so the 32x32 models of the course take it), int64 labels."""
    import torchvision.datasets as tvd

    folder = root / FASHION_MNIST_DIR
    prefix = "t10k" if split == "test" else "train"
    layout = (
        f"<root>/{FASHION_MNIST_DIR}/ with train-images-idx3-ubyte, "
        "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte "
        "(each may also be gzipped, .gz)"
    )
    # torchvision's class wants all four files, whichever split is read; the asked-for split first,
    # so that the error names the files the learner asked for.
    other = "train" if prefix == "t10k" else "t10k"
    for part in (prefix, other):
        for stem, magic in (
            (f"{part}-images-idx3-ubyte", 0x803),
            (f"{part}-labels-idx1-ubyte", 0x801),
        ):
            _unpack_gz(folder, stem)
            if not (folder / stem).is_file():
                looked = [folder / stem, folder / f"{stem}.gz"]
                raise _missing("fashion_mnist", root, looked, layout)
            _check_idx(folder / stem, magic)
    ds = tvd.FashionMNIST(str(root), train=split != "test", download=False)
    if len(ds.data) != len(ds.targets):
        raise ValueError(
            f"Fashion-MNIST files in {folder} disagree: {len(ds.data)} images, "
            f"{len(ds.targets)} labels"
        )
    x = F.pad(ds.data, (2, 2, 2, 2)).unsqueeze(1)
    y = ds.targets.to(torch.int64)
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


def read_imagefolder(
    root: Path, split: str, download: bool, image_size: int = 32
) -> tuple[Any, list[str], int]:
    """root/<split>/<class>/<image>, read lazily by torchvision's ImageFolder; each image resized
    (shorter side) and centre-cropped to image_size. Returns (source of uint8 (3, S, S) items,
    class names, image_size)."""
    import torchvision.datasets as tvd
    from torchvision.transforms import v2

    if download:
        raise ValueError(
            "an image folder cannot be downloaded: copy it into place (download=False)"
        )
    check_int("image_size", image_size, minimum=8)
    layout = (
        "<root>/train/<class name>/<image files>, <root>/val/<class name>/..., optionally "
        "<root>/test/... (e.g. Imagenette: imagenette2-160/train, /val)"
    )
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
    to_uint8 = v2.Compose(
        [
            v2.ToImage(),
            v2.Resize(image_size, antialias=True),
            v2.CenterCrop(image_size),
            v2.ToPureTensor(),
        ]
    )
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
    return source, source.classes, image_size
