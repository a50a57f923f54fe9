"""Loaders: batches of normalised images on the training device, the same on every run.

Two paths yield the same batches (float32 N x C x H x W normalised images and int64 labels, on
the device): `TensorLoader` keeps an in-memory dataset on the device and augments there with
tensor ops; `WorkerLoader` reads through a `torch.utils.data.DataLoader` (worker processes, pinned
memory on CUDA), for image folders. Both ship uint8 images and normalise/augment after the
transfer, with the same code and the same random numbers, which depend on (seed, epoch, rank)
only: that is what makes a resumed run continue exactly.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from inception_lab._validate import check_int
from inception_lab.data.datasets import ImageDataset, load_dataset

__all__ = [
    "Loaders",
    "ShardedBatches",
    "TensorLoader",
    "WorkerLoader",
    "augment_batch",
    "make_loaders",
]


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
    return int(
        np.random.SeedSequence([int(p) for p in parts])
        .generate_state(2, np.uint32)
        .astype(np.uint64)
        .view(np.uint64)[0]
        >> np.uint64(1)
    )


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

    def __init__(
        self, n: int, batch_size: int, shuffle: bool, seed: int, rank: int, world_size: int
    ):
        self.n, self.batch_size, self.shuffle = n, batch_size, shuffle
        self.seed, self.rank, self.world_size, self.epoch = seed, rank, world_size, 0
        if shuffle:
            self.sampler = DistributedSampler(
                range(n),
                num_replicas=world_size,
                rank=rank,
                shuffle=True,
                seed=seed,
                drop_last=True,
            )

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[Tensor]:
        if self.shuffle:
            self.sampler.set_epoch(self.epoch)
            idx = torch.tensor(list(self.sampler), dtype=torch.long)
            k = max(1, len(idx) // self.batch_size)
            return (
                list(idx[: k * self.batch_size].split(self.batch_size))
                if len(idx) >= self.batch_size
                else [idx]
            )
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

    def __init__(
        self,
        dataset: ImageDataset,
        batch_size: int,
        device: torch.device,
        *,
        train: bool,
        augment: bool,
        seed: int,
        rank: int,
        world_size: int,
    ):
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

    def __init__(
        self,
        dataset: ImageDataset,
        batch_size: int,
        device: torch.device,
        *,
        num_workers: int = 0,
        **kw: Any,
    ):
        super().__init__(dataset, batch_size, device, **kw)
        self.loader = DataLoader(
            dataset.source,
            batch_sampler=self.plan,
            num_workers=num_workers,
            pin_memory=device.type == "cuda",
        )

    def _uint8_batches(self) -> Iterator[tuple[Tensor, Tensor]]:
        for images, labels in self.loader:
            yield (
                images.to(self.device, non_blocking=True),
                labels.to(self.device, non_blocking=True),
            )


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
    check_int("batch_size", batch_size)
    check_int("world_size", world_size)
    check_int("seed", seed, minimum=0)
    check_int("rank", rank, minimum=0, maximum=world_size - 1)
    if loader not in ("auto", "tensor", "dataloader"):
        raise ValueError(f"loader must be 'auto', 'tensor' or 'dataloader', got {loader!r}")
    if loader == "tensor" and name == "imagefolder":
        raise ValueError(
            "loader='tensor' needs an in-memory dataset; 'imagefolder' reads files "
            "lazily: use loader='dataloader' (the default for it)"
        )
    device = torch.device(device)
    use_tensor = loader == "tensor" or (loader == "auto" and name != "imagefolder")
    if num_workers is None:
        num_workers = (
            0 if use_tensor or name != "imagefolder" else min(4, (os.cpu_count() or 2) - 1)
        )
    parts = {}
    for split, n in (("train", train_size), ("val", val_size), ("test", test_size)):
        ds = load_dataset(
            name, root, split, download and split == "train", augment=False, **options
        ).subset(n)
        if len(ds) < world_size:
            raise ValueError(
                f"the {split} split has {len(ds)} images, fewer than world_size={world_size}"
            )
        kw = {
            "train": split == "train",
            "augment": augment and split == "train",
            "seed": seed,
            "rank": rank,
            "world_size": world_size,
        }
        if use_tensor:
            parts[split] = TensorLoader(ds, batch_size, device, **kw)
        else:
            parts[split] = WorkerLoader(ds, batch_size, device, num_workers=num_workers, **kw)
    ds = parts["train"].dataset
    return Loaders(
        **parts,
        num_classes=ds.num_classes,
        in_channels=ds.in_channels,
        class_names=ds.class_names,
        image_size=ds.image_size,
        mean=ds.mean,
        std=ds.std,
        name=name,
    )
