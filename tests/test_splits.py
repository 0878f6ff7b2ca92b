"""The data set registry and the benchmark's disjoint per-class splits."""
import numpy as np
import pytest

from zoo.datasets import DatasetError, list_datasets, load_splits
from zoo.datasets.base import ArraySet
from zoo.datasets.splits import SPLIT_FRACTIONS, split_per_class


def test_digits_splits_are_disjoint_complete_and_balanced():
    splits = load_splits("digits")
    assert splits.input_shape == (1, 8, 8) and splits.num_classes == 10
    sizes = {k: len(v) for k, v in splits.parts.items()}
    assert sum(sizes.values()) == 1797
    per_class = np.bincount(np.concatenate([p.y for p in splits.parts.values()]), minlength=10)
    for name, fraction in SPLIT_FRACTIONS.items():
        share = np.bincount(splits[name].y, minlength=10) / per_class
        assert np.all(np.abs(share - fraction) <= 1.0 / per_class + 1e-9), (name, share)
    # disjoint: no image appears in two parts (digits has a few exact duplicates, so compare row ids)
    flat = {k: {v.x[i].tobytes() + bytes([v.y[i]]) for i in range(len(v))} for k, v in splits.parts.items()}
    names = list(flat)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            overlap = flat[a] & flat[b]
            assert len(overlap) <= 3, (a, b, len(overlap))


def test_split_is_deterministic_and_seed_dependent():
    data = ArraySet(np.random.default_rng(0).random((200, 1, 2, 2), dtype=np.float32), np.arange(200) % 4)
    a, b = split_per_class(data), split_per_class(data)
    c = split_per_class(data, seed=1)
    assert all(np.array_equal(a[k].x, b[k].x) for k in a)
    assert not np.array_equal(a["defender"].x, c["defender"].x)
    ids = np.concatenate([np.flatnonzero(np.isin(data.x[:, 0, 0, 0], a[k].x[:, 0, 0, 0])) for k in a])
    assert sorted(ids) == list(range(200))


def test_images_are_float_in_unit_range():
    x = load_splits("digits")["test"].x
    assert x.dtype == np.float32 and x.min() >= 0.0 and x.max() <= 1.0


def test_local_copies_need_a_root():
    assert {"digits", "cifar10", "cifar100", "fashion_mnist", "tiny_imagenet"} <= set(list_datasets())
    with pytest.raises(DatasetError, match=r"\[dataset\] root"):
        load_splits("cifar10")


def test_digits_read_from_the_shipped_csv_equal_scikit_learns_loader():
    from sklearn.datasets import load_digits

    from zoo.datasets.digits import load_digits_dataset

    bunch, ours = load_digits(), load_digits_dataset().train
    assert np.array_equal(ours.x.reshape(len(ours.x), -1) * 16.0, bunch.data)
    assert np.array_equal(ours.y, bunch.target)
