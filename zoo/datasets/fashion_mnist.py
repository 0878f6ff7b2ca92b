"""Loader for a local copy of Fashion-MNIST in its original IDX files (plain or gzipped).

IDX is a bare big-endian header followed by raw bytes, so the magic number and the byte
count are the only evidence that a file is whole and of the right kind; both are checked
before any pixel is used. The header is read first and then exactly the bytes it
announces (at most MAX_IDX_BYTES), so a gzip bomb is refused after a few megabytes
instead of filling memory. Nothing is downloaded.
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from engine.safe_files import UnsafeFileError, open_regular
from zoo.datasets.base import ArraySet, DatasetError, LoadedDataset

CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
SIDE = 28
MAX_IDX_BYTES = 1 << 30  # the real training images are 47 MB; a header announcing more is not Fashion-MNIST


def load_fashion_mnist(root: str | Path) -> LoadedDataset:
    """Fashion-MNIST from the four IDX files in `root`, or in `root/FashionMNIST/raw`
    (the layout torchvision leaves behind); each file may also be gzipped (`.gz`)."""
    folder = _folder(Path(root))
    train = _split(folder, "train")
    test = _split(folder, "t10k")
    return LoadedDataset("fashion_mnist", train, test, CLASSES)


def _folder(root: Path) -> Path:
    candidates = (root, root / "FashionMNIST" / "raw")
    for folder in candidates:
        if any((folder / f"train-images-idx3-ubyte{ext}").exists() for ext in ("", ".gz")):
            return folder
    looked = " or ".join(str(c / "train-images-idx3-ubyte[.gz]") for c in candidates)
    raise DatasetError(f"no Fashion-MNIST copy at {root}: expected {looked}")


def _split(folder: Path, prefix: str) -> ArraySet:
    images_path, images, n_images = _read(folder, f"{prefix}-images-idx3-ubyte", IMAGES_MAGIC, (SIDE, SIDE))
    labels_path, labels, n_labels = _read(folder, f"{prefix}-labels-idx1-ubyte", LABELS_MAGIC, ())
    if n_images != n_labels:
        raise DatasetError(
            f"{images_path} has {n_images} images but {labels_path} has {n_labels} labels"
        )
    y = np.frombuffer(labels, dtype=np.uint8).astype(np.int64)
    if len(y) and y.max() >= len(CLASSES):
        raise DatasetError(f"{labels_path}: label {y.max()} is not below {len(CLASSES)}")
    pixels = np.frombuffer(images, dtype=np.uint8)
    x = pixels.reshape(-1, 1, SIDE, SIDE).astype(np.float32) / np.float32(255)
    return ArraySet(x, y)


def _read(folder: Path, name: str, magic: int, dims: tuple[int, ...]) -> tuple[Path, bytes, int]:
    """(the path read, the items' bytes after the header, the item count) from `name` or else `name.gz`."""
    path = folder / name
    gz = path.with_name(name + ".gz")
    if not path.exists() and not gz.exists():
        raise DatasetError(f"{path}: file not found (nor {gz.name})")
    source = path if path.exists() else gz
    try:
        handle = open_regular(source, inside=folder)
    except UnsafeFileError as err:
        raise DatasetError(str(err)) from None
    with handle:
        if source is path:
            return source, *_items(source, handle, magic, dims)
        try:
            with gzip.GzipFile(fileobj=handle) as stream:
                return source, *_items(source, stream, magic, dims)
        except (OSError, EOFError, zlib.error) as err:
            raise DatasetError(f"{gz}: corrupt gzip file ({err})") from err


def _items(path: Path, stream, magic: int, dims: tuple[int, ...]) -> tuple[bytes, int]:
    """Check the header, then read exactly the bytes it announces: fewer or more is an error."""
    header_len = 4 * (2 + len(dims))
    header = stream.read(header_len)
    if len(header) < header_len:
        raise DatasetError(f"{path}: {len(header)} bytes, shorter than its {header_len}-byte header")
    found_magic = int.from_bytes(header[:4], "big")
    if found_magic != magic:
        raise DatasetError(f"{path}: magic number {found_magic:#010x}, expected {magic:#010x}")
    n, *found_dims = (int.from_bytes(header[i:i + 4], "big") for i in range(4, header_len, 4))
    if tuple(found_dims) != dims:
        raise DatasetError(f"{path}: items are {tuple(found_dims)}, expected {dims}")
    size = n * int(np.prod(dims, dtype=np.int64))
    expected = header_len + size
    if expected > MAX_IDX_BYTES:
        raise DatasetError(f"{path}: the header announces {n} items ({expected} bytes), "
                           f"more than the {MAX_IDX_BYTES} a Fashion-MNIST file can hold")
    body = stream.read(size + 1)
    if len(body) > size:
        more = "decompresses to" if path.suffix == ".gz" else "has"
        raise DatasetError(f"{path}: {more} more than the {expected} bytes the header ({n} items) implies; "
                           "refusing to read further")
    if len(body) != size:
        raise DatasetError(
            f"{path}: {header_len + len(body)} bytes but the header ({n} items) implies {expected}"
        )
    return body, n
