"""Data set registry: name -> loader of a `LoadedDataset`, then the benchmark's splits.

`digits` ships inside scikit-learn; the others read a user's local copy (`root`) and
never download.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from zoo.datasets.base import ArraySet, DatasetError, LoadedDataset
from zoo.datasets.splits import SPLITS, split_loaded
from zoo.registry import Registry

DATASETS: Registry = Registry("data set")
register_dataset = DATASETS.register


@dataclass(frozen=True)
class Splits:
    name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    parts: dict[str, ArraySet]

    def __getitem__(self, split: str) -> ArraySet:
        if split not in self.parts:
            raise KeyError(f"unknown split {split!r}; allowed: {', '.join(self.parts)}")
        return self.parts[split]


# Where a user gets each local copy (fpbench never downloads: clusters and CI have no internet).
HOW_TO_GET = {
    "cifar10": "download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and "
               "extract it under root (it holds cifar-10-batches-py/)",
    "cifar100": "download cifar-100-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and "
                "extract it under root (it holds cifar-100-python/)",
    "fashion_mnist": "download the four *-ubyte.gz files from https://github.com/zalandoresearch/fashion-mnist "
                     "(data/fashion) into root",
    "tiny_imagenet": "download tiny-imagenet-200.zip from http://cs231n.stanford.edu/tiny-imagenet-200.zip and "
                     "unzip it under root (it holds tiny-imagenet-200/)",
}


def _needs_root(name: str, loader):
    def load(root: str | None) -> LoadedDataset:
        if not root:
            raise DatasetError(
                f"data set {name!r} reads a local copy: set [dataset] root = \"/path/to/{name}\"; {HOW_TO_GET[name]}"
            )
        try:
            return loader(root)
        except DatasetError as err:  # missing, partial or damaged: say where a good copy comes from
            raise DatasetError(f"{err}; {HOW_TO_GET[name]}") from None

    return load


def _register_builtins() -> None:
    from zoo.datasets.cifar import load_cifar10, load_cifar100
    from zoo.datasets.digits import load_digits_dataset
    from zoo.datasets.fashion_mnist import load_fashion_mnist
    from zoo.datasets.hard_digits import load_hard_digits
    from zoo.datasets.shapes import load_shapes
    from zoo.datasets.tiny_imagenet import load_tiny_imagenet

    register_dataset("digits")(load_digits_dataset)
    register_dataset("hard_digits")(load_hard_digits)
    register_dataset("shapes")(load_shapes)
    register_dataset("cifar10")(_needs_root("cifar10", load_cifar10))
    register_dataset("cifar100")(_needs_root("cifar100", load_cifar100))
    register_dataset("fashion_mnist")(_needs_root("fashion_mnist", load_fashion_mnist))
    register_dataset("tiny_imagenet")(_needs_root("tiny_imagenet", load_tiny_imagenet))


_register_builtins()


def list_datasets() -> list[str]:
    return DATASETS.names()


@lru_cache(maxsize=8)
def load_splits(name: str, root: str | None = None) -> Splits:
    """The five disjoint parts of a data set (cached: every step of a run shares them)."""
    loaded = DATASETS.get(name)(root)
    parts = split_loaded(loaded)
    return Splits(name, loaded.input_shape, loaded.num_classes, parts)


__all__ = ["ArraySet", "DatasetError", "LoadedDataset", "SPLITS", "Splits", "list_datasets", "load_splits"]
