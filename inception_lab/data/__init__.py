"""Datasets and loaders for the course: one idea a file.

- `shapes.py`: multiscale shapes, the dataset the lessons train on, generated on the spot;
- `files.py`: CIFAR-10, Fashion-MNIST and image folders, read from files you provide;
- `datasets.py`: `ImageDataset` and `load_dataset`, one door to all of them;
- `root.py`: `default_root`, the data folder they all read from;
- `loaders.py`: `make_loaders`, batches on the training device, deterministic per (seed, epoch).

    loaders = data.make_loaders("shapes", batch_size=128, device=device, seed=SEED)
    images, labels = next(iter(loaders.train))   # float32 (128, 3, 32, 32), int64 (128,)

Pictures of the data (`show_batch`, `show_scales`) live with the other figures, in `viz`.
"""

from inception_lab.data.datasets import DATASETS, ImageDataset, TensorImages, load_dataset
from inception_lab.data.files import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
)
from inception_lab.data.loaders import (
    Loaders,
    ShardedBatches,
    TensorLoader,
    WorkerLoader,
    augment_batch,
    make_loaders,
)
from inception_lab.data.root import DATA_ENV_VAR, default_root
from inception_lab.data.shapes import (
    SCALE_NAMES,
    SCALE_RANGES,
    SHAPES_CLASSES,
    SHAPES_MEAN,
    SHAPES_SIZES,
    SHAPES_STD,
    generate_shapes,
    load_shapes,
)

__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "DATASETS",
    "DATA_ENV_VAR",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_MEAN",
    "FASHION_MNIST_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SCALE_NAMES",
    "SCALE_RANGES",
    "SHAPES_CLASSES",
    "SHAPES_MEAN",
    "SHAPES_SIZES",
    "SHAPES_STD",
    "ImageDataset",
    "Loaders",
    "ShardedBatches",
    "TensorImages",
    "TensorLoader",
    "WorkerLoader",
    "augment_batch",
    "default_root",
    "generate_shapes",
    "load_dataset",
    "load_shapes",
    "make_loaders",
]
