"""The in-memory form every data set loader returns.

Images are float32 arrays shaped N x C x H x W with values in [0, 1] and labels are
int64 class indices, so architectures, attacks and methods never care where the
pixels came from.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def sklearn_file(relative: str) -> Path:
    """A data file scikit-learn ships, found without importing it (`sklearn.datasets` costs about
    a second, paid by every worker process that starts)."""
    spec = importlib.util.find_spec("sklearn")  # locates the package without running it
    if spec is None or spec.origin is None:
        raise RuntimeError("the embedded data comes with scikit-learn: pip install scikit-learn")
    return Path(spec.origin).parent / relative


class DatasetError(ValueError):
    """A local data set copy that is missing, corrupt or of the wrong format."""


@dataclass(frozen=True)
class ArraySet:
    x: np.ndarray  # float32, N x C x H x W, values in [0, 1]
    y: np.ndarray  # int64, N

    def __post_init__(self):
        if self.x.ndim != 4:
            raise DatasetError(f"images must be N x C x H x W, got shape {self.x.shape}")
        if len(self.x) != len(self.y):
            raise DatasetError(f"{len(self.x)} images but {len(self.y)} labels")

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, index: np.ndarray) -> "ArraySet":
        return ArraySet(self.x[index], self.y[index])


@dataclass(frozen=True)
class LoadedDataset:
    """A whole data set as read from disk, before the benchmark's own split."""

    name: str
    train: ArraySet
    test: ArraySet
    classes: tuple[str, ...]
    groups: np.ndarray | None = None  # per image of train then test: renditions of one original share an id

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.x.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.classes)
