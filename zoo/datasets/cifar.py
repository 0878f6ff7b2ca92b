"""Loaders for a local copy of CIFAR-10 and CIFAR-100 in the official "python version".

Nothing is downloaded: the user points at the unpacked archive. The batches are pickles, so
each file is first checked against the md5 the CIFAR authors publish and then read with the
restricted unpickler, which never runs code named by the file. Only regular files of at
most MAX_BATCH_BYTES are read, and symlinks must stay inside the copy's folder.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from engine.safe_files import UnsafeFileError, open_regular
from zoo.datasets.base import ArraySet, DatasetError, LoadedDataset
from zoo.datasets.safe_pickle import load_restricted

MAX_BATCH_BYTES = 512 << 20  # the largest official file (CIFAR-100 train) is 155 MB

CIFAR10_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
CIFAR100_MD5 = {
    "train": "16019d7e3df5f24257cddd939b257f8d",
    "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
    "meta": "7973b15100ade9c7d40fb424638fde48",
}


def load_cifar10(root: str | Path, verify_md5: bool = True) -> LoadedDataset:
    """CIFAR-10 from `root/cifar-10-batches-py/`, or from `root` if it holds the batches."""
    folder = _folder(Path(root), "cifar-10-batches-py", "batches.meta")
    batches = _read_all(folder, CIFAR10_MD5, verify_md5)
    classes = _names(batches, folder / "batches.meta", b"label_names")
    train_files = [folder / f"data_batch_{i}" for i in range(1, 6)]
    train = _arrays(batches, train_files, b"labels", len(classes))
    test = _arrays(batches, [folder / "test_batch"], b"labels", len(classes))
    return LoadedDataset("cifar10", train, test, classes)


def load_cifar100(root: str | Path, verify_md5: bool = True) -> LoadedDataset:
    """CIFAR-100 with its 100 fine labels from `root/cifar-100-python/`, or from `root`."""
    folder = _folder(Path(root), "cifar-100-python", "meta")
    batches = _read_all(folder, CIFAR100_MD5, verify_md5)
    classes = _names(batches, folder / "meta", b"fine_label_names")
    train = _arrays(batches, [folder / "train"], b"fine_labels", len(classes))
    test = _arrays(batches, [folder / "test"], b"fine_labels", len(classes))
    return LoadedDataset("cifar100", train, test, classes)


def _folder(root: Path, subdir: str, marker: str) -> Path:
    for folder in (root / subdir, root):
        if (folder / marker).exists():
            return folder
    raise DatasetError(
        f"no CIFAR copy at {root}: expected {root / subdir / marker} or {root / marker}"
    )


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    try:
        handle = open_regular(path, path.parent, MAX_BATCH_BYTES)
    except UnsafeFileError as err:
        raise DatasetError(str(err)) from None
    with handle as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_all(folder: Path, md5s: dict[str, str], verify_md5: bool) -> dict[Path, dict]:
    """Every file of the copy, unpickled only once all of them have passed the md5 check."""
    paths = {folder / name: md5 for name, md5 in md5s.items()}
    for path, md5 in paths.items():
        if not path.exists() and not path.is_symlink():
            raise DatasetError(f"{path}: file not found")
        if verify_md5 and (actual := _md5(path)) != md5:
            raise DatasetError(f"{path}: md5 {actual} does not match the official {md5}")
    batches = {path: load_restricted(path, folder, MAX_BATCH_BYTES) for path in paths}
    for path, batch in batches.items():
        if not isinstance(batch, dict):
            raise DatasetError(f"{path}: expected a dict, found {type(batch).__name__}")
    return batches


def _field(batches: dict[Path, dict], path: Path, key: bytes) -> object:
    if key not in batches[path]:
        found = ", ".join(repr(k) for k in batches[path])
        raise DatasetError(f"{path}: no {key!r} entry (found {found})")
    return batches[path][key]


def _names(batches: dict[Path, dict], path: Path, key: bytes) -> tuple[str, ...]:
    names = _field(batches, path, key)
    if not isinstance(names, list) or not all(isinstance(n, bytes) for n in names):
        raise DatasetError(f"{path}: {key!r} is not a list of strings")
    return tuple(n.decode("utf-8", errors="replace") for n in names)


def _arrays(
    batches: dict[Path, dict], paths: list[Path], label_key: bytes, num_classes: int
) -> ArraySet:
    xs, ys = [], []
    for path in paths:
        data = _field(batches, path, b"data")
        labels = _field(batches, path, label_key)
        if not (isinstance(data, np.ndarray) and data.dtype == np.uint8
                and data.ndim == 2 and data.shape[1] == 3 * 32 * 32):
            found = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data)
            raise DatasetError(f"{path}: b'data' must be uint8 N x 3072, found {found}")
        if not isinstance(labels, list) or not all(type(v) is int for v in labels):
            raise DatasetError(f"{path}: {label_key!r} is not a list of ints")
        y = np.asarray(labels, dtype=np.int64)
        if len(y) != len(data):
            raise DatasetError(f"{path}: {len(data)} images but {len(y)} labels")
        if len(y) and (y.min() < 0 or y.max() >= num_classes):
            raise DatasetError(f"{path}: labels outside 0..{num_classes - 1}")
        xs.append(data)
        ys.append(y)
    # A row holds 1024 red, then 1024 green, then 1024 blue values, each plane row-major.
    x = np.concatenate(xs).reshape(-1, 3, 32, 32).astype(np.float32) / np.float32(255)
    return ArraySet(x, np.concatenate(ys))
