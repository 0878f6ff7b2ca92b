"""scikit-learn's 8x8 digits: the embedded default that needs no download.

The CSV that scikit-learn ships is read directly (see `sklearn_file`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.datasets.base import ArraySet, LoadedDataset, sklearn_file


def digits_csv() -> Path:
    return sklearn_file("datasets/data/digits.csv.gz")


def load_digits_dataset(root: str | None = None) -> LoadedDataset:
    table = np.loadtxt(digits_csv(), delimiter=",", dtype=np.float32)  # 64 pixels (0..16), then the label
    x = (table[:, :-1].reshape(-1, 1, 8, 8) / 16.0).astype(np.float32)
    y = table[:, -1].astype(np.int64)
    empty = ArraySet(np.zeros((0, 1, 8, 8), np.float32), np.zeros(0, np.int64))
    return LoadedDataset("digits", ArraySet(x, y), empty, tuple(str(i) for i in range(10)))
