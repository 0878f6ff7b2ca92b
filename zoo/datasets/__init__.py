"""Data set registry: name -> loader of a `LoadedDataset`, then the benchmark's splits.

`digits` ships inside scikit-learn; the others read a user's local copy (`root`) and
never download. A loader is called as `loader(root)` and imported when its data set
is first loaded; third-party data sets come through the `fpbench.datasets`
entry-point group.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from zoo.datasets.base import ArraySet, DatasetError, LoadedDataset
from zoo.datasets.splits import SPLITS, split_loaded
from zoo.registry import Registry, UnknownName, resolve


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


def _needs_root(name: str, loader: str):
    """`loader` ("module:function", imported when called) with a message saying how to get the data."""

    def load(root: str | None) -> LoadedDataset:
        if not root:
            raise DatasetError(
                f"data set {name!r} reads a local copy: set [dataset] root = \"/path/to/{name}\"; {HOW_TO_GET[name]}"
            )
        try:
            return resolve(loader)(root)
        except DatasetError as err:  # missing, partial or damaged: say where a good copy comes from
            raise DatasetError(f"{err}; {HOW_TO_GET[name]}") from None

    return load


DATASETS = Registry("data set", group="fpbench.datasets", builtins={
    "digits": "zoo.datasets.digits:load_digits_dataset",
    "hard_digits": "zoo.datasets.hard_digits:load_hard_digits",
    "shapes": "zoo.datasets.shapes:load_shapes",
    "cifar10": _needs_root("cifar10", "zoo.datasets.cifar:load_cifar10"),
    "cifar100": _needs_root("cifar100", "zoo.datasets.cifar:load_cifar100"),
    "fashion_mnist": _needs_root("fashion_mnist", "zoo.datasets.fashion_mnist:load_fashion_mnist"),
    "tiny_imagenet": _needs_root("tiny_imagenet", "zoo.datasets.tiny_imagenet:load_tiny_imagenet"),
})
register_dataset = DATASETS.register


def list_datasets() -> list[str]:
    return DATASETS.names()


@lru_cache(maxsize=8)
def load_splits(name: str, root: str | None = None) -> Splits:
    """The five disjoint parts of a data set (cached: every step of a run shares them)."""
    try:
        loader = DATASETS.get(name)
    except UnknownName as err:  # unknown, or a plugin that cannot be used: the message says which
        raise DatasetError(str(err)) from err.__cause__
    loaded = loader(root)
    parts = split_loaded(loaded)
    return Splits(name, loaded.input_shape, loaded.num_classes, parts)


__all__ = ["ArraySet", "DatasetError", "LoadedDataset", "SPLITS", "Splits", "list_datasets", "load_splits"]
