"""Loader for a local copy of Tiny ImageNet (`tiny-imagenet-200`, as unpacked from its zip).

Class i is the i-th line of `wnids.txt`: the file's own order, not a sorted one, so the
indices match the archive and every tool that reads that file. `train/` becomes `train`;
`val/` becomes `test` because the archive's `test/` has no labels. Only the validation
images listed in `val/val_annotations.txt` are read. Some images are grayscale, so every
image is converted to RGB and arrives as 3 x 64 x 64. Nothing is downloaded.

Every file is read only if it is a regular file (a FIFO would hang the load) whose
symlinks stay inside the copy's folder, and text files and images have size caps, so a
stray multi-gigabyte file cannot exhaust memory.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from engine.safe_files import UnsafeFileError, open_regular, read_bytes
from zoo.datasets.base import ArraySet, DatasetError, LoadedDataset

SIDE = 64
IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png"}  # the archive uses .JPEG
MAX_TEXT_BYTES = 64 << 20  # words.txt, the largest text file, is 2.6 MB
MAX_IMAGE_BYTES = 4 << 20  # a 64 x 64 RGB image is 12 KB even uncompressed


def load_tiny_imagenet(root: str | Path) -> LoadedDataset:
    """Tiny ImageNet from `root/tiny-imagenet-200/`, or from `root` if it holds wnids.txt.

    Class names are the first synonym in the optional `words.txt`; a wnid without an entry
    there is its own name.
    """
    folder = _folder(Path(root))
    wnids = _wnids(folder / "wnids.txt", folder)
    train = [
        (image, label)
        for label, wnid in enumerate(wnids)
        for image in _images(folder / "train" / wnid / "images")
    ]
    val = _val(folder / "val", {wnid: label for label, wnid in enumerate(wnids)}, folder)
    classes = _names(folder / "words.txt", wnids, folder)
    return LoadedDataset("tiny_imagenet", _decode(train, folder), _decode(val, folder), classes)


def _folder(root: Path) -> Path:
    for folder in (root / "tiny-imagenet-200", root):
        if (folder / "wnids.txt").exists():
            return folder
    raise DatasetError(
        f"no Tiny ImageNet copy at {root}: expected {root / 'tiny-imagenet-200' / 'wnids.txt'}"
        f" or {root / 'wnids.txt'}"
    )


def _lines(path: Path, folder: Path) -> list[str]:
    try:
        return read_bytes(path, MAX_TEXT_BYTES, inside=folder).decode("utf-8", errors="replace").splitlines()
    except UnsafeFileError as err:
        raise DatasetError(str(err)) from None
    except OSError as err:
        raise DatasetError(f"{path}: cannot be read ({err})") from err


def _wnids(path: Path, folder: Path) -> list[str]:
    wnids = [line.strip() for line in _lines(path, folder) if line.strip()]
    if not wnids:
        raise DatasetError(f"{path}: lists no wnids")
    repeated = sorted(w for w, count in Counter(wnids).items() if count > 1)
    if repeated:
        raise DatasetError(f"{path}: wnids listed more than once: {', '.join(repeated)}")
    return wnids


def _names(path: Path, wnids: list[str], folder: Path) -> tuple[str, ...]:
    if not path.exists() and not path.is_symlink():
        return tuple(wnids)
    words = {}
    for line in _lines(path, folder):
        wnid, _, text = line.partition("\t")
        words[wnid.strip()] = text.split(",")[0].strip()
    return tuple(words.get(wnid) or wnid for wnid in wnids)


def _images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise DatasetError(f"{folder}: missing directory of training images")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise DatasetError(f"{folder}: holds no images")
    return images


def _val(folder: Path, label_of: dict[str, int], top: Path) -> list[tuple[Path, int]]:
    """(image, label) pairs from val_annotations.txt: file, wnid, x0, y0, x1, y1 per line."""
    annotations = folder / "val_annotations.txt"
    if not annotations.exists() and not annotations.is_symlink():
        raise DatasetError(f"{annotations}: file not found")
    pairs = []
    for number, line in enumerate(_lines(annotations, top), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        where = f"{annotations}, line {number}"
        if len(fields) < 2:
            raise DatasetError(f"{where}: expected tab-separated file and wnid, got {line!r}")
        name, wnid = fields[0].strip(), fields[1].strip()
        if wnid not in label_of:
            raise DatasetError(f"{where}: wnid {wnid!r} is not in wnids.txt")
        image = folder / "images" / name
        if not image.exists() and not image.is_symlink():
            raise DatasetError(f"{where}: image {image} not found")
        pairs.append((image, label_of[wnid]))
    return pairs


def _decode(pairs: list[tuple[Path, int]], folder: Path) -> ArraySet:
    try:
        from PIL import Image
    except ImportError as err:  # Pillow is only needed for this data set
        raise ImportError("reading Tiny ImageNet needs Pillow: pip install pillow") from err

    # Filled in place: the full training set is about 4.9 GB as float32.
    x = np.empty((len(pairs), 3, SIDE, SIDE), dtype=np.float32)
    for k, (path, _) in enumerate(pairs):
        try:
            with open_regular(path, folder, MAX_IMAGE_BYTES) as handle, Image.open(handle) as image:
                if image.size != (SIDE, SIDE):
                    width, height = image.size
                    raise DatasetError(f"{path}: {width}x{height} pixels, expected {SIDE}x{SIDE}")
                pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
        except DatasetError:
            raise
        except UnsafeFileError as err:
            raise DatasetError(str(err)) from None
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            raise DatasetError(f"{path}: cannot be decoded as an image ({err})") from err
        x[k] = pixels.transpose(2, 0, 1) / np.float32(255)
    y = np.array([label for _, label in pairs], dtype=np.int64)
    return ArraySet(x, y)
