"""Deterministic, per-class, disjoint splits: who may see which images.

The benchmark's honesty rests on these parts never overlapping: the source and the
owner's own models learn from `defender`, independent negatives from `independent`,
stealing attacks use `attacker` (extraction queries) and `finetune`, and every
accuracy is measured on `test`.
"""
from __future__ import annotations

import numpy as np

from zoo.datasets.base import ArraySet, DatasetError, LoadedDataset

SPLIT_FRACTIONS: dict[str, float] = {
    "defender": 0.35,
    "independent": 0.35,
    "attacker": 0.10,
    "finetune": 0.10,
    "test": 0.10,
}
SPLITS = tuple(SPLIT_FRACTIONS)
SPLIT_SEED = 0  # fixed: a split is part of the data set's identity, not of a run


def split_loaded(loaded: LoadedDataset) -> dict[str, ArraySet]:
    """The benchmark's parts of a loaded data set, keeping each group of renditions in one part."""
    return split_per_class(pooled(loaded), groups=loaded.groups)


def pooled(loaded: LoadedDataset) -> ArraySet:
    """Train and test together; the benchmark draws its own parts from the pool."""
    if len(loaded.test) == 0:
        return loaded.train
    return ArraySet(
        np.concatenate([loaded.train.x, loaded.test.x]),
        np.concatenate([loaded.train.y, loaded.test.y]),
    )


def split_per_class(
    data: ArraySet, fractions: dict[str, float] = SPLIT_FRACTIONS, seed: int = SPLIT_SEED,
    groups: np.ndarray | None = None,
) -> dict[str, ArraySet]:
    """Cut every class by the same fractions, so each part keeps the class balance.

    With `groups` (one id per image, e.g. the distorted renditions of one original
    digit), whole groups are cut, so no original is seen by two parts: an
    independent model never trains on another rendition of the source's images.
    """
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-9:
        raise DatasetError(f"split fractions must sum to 1, got {total}")
    if groups is not None and len(groups) != len(data):
        raise DatasetError(f"{len(groups)} group ids for {len(data)} images")
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in fractions}
    bounds = np.cumsum([0.0, *fractions.values()])
    for label in np.unique(data.y):
        in_class = np.flatnonzero(data.y == label)
        units = rng.permutation(in_class if groups is None else _class_groups(groups, in_class, label))
        cuts = np.floor(bounds * len(units) + 1e-9).astype(int)
        for name, lo, hi in zip(fractions, cuts[:-1], cuts[1:]):
            chosen = units[lo:hi]
            parts[name].append(chosen if groups is None else in_class[np.isin(groups[in_class], chosen)])
    return {name: data.subset(np.sort(np.concatenate(idx))) for name, idx in parts.items()}


def _class_groups(groups: np.ndarray, in_class: np.ndarray, label) -> np.ndarray:
    """The group ids of one class, each of which must hold images of that class only."""
    ids = np.unique(groups[in_class])
    outside = np.isin(groups, ids)
    outside[in_class] = False
    if outside.any():
        raise DatasetError(f"a group of class {label} also holds images of another class")
    return ids
