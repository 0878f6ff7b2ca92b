"""Reading files a user or an old run handed us, without hanging, escaping or exhausting memory.

Spec files, data set copies and run directories come from outside fpbench. A FIFO
named `*.parquet` would block a reader for ever, a device file can be endless, and a
symlink may point anywhere on the machine. Every read of such a file goes through
here: it must be a regular file, a symlink must resolve inside the directory it was
found in (or the tree it belongs to), and reads stop at a stated size. Standard
library only, so reports and data loaders can use it without importing torch.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO


class UnsafeFileError(ValueError):
    """A file fpbench refuses to read; the message names it and says why."""

    def __init__(self, path: str | os.PathLike, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = str(path), reason


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _check_inside(path: Path, inside: str | os.PathLike | None) -> Path:
    """`path` resolved; refused when any symlink on the way leads outside `inside` (default: its directory)."""
    try:
        base = Path(inside if inside is not None else path.parent).resolve()
        target = path.resolve()
    except (OSError, RuntimeError) as err:  # Python 3.11 raises RuntimeError on a symlink loop
        raise UnsafeFileError(path, f"cannot be resolved ({err})") from None
    if target != base and base not in target.parents:
        raise UnsafeFileError(path, f"is a symlink to {target}, outside {base}; copy the file there instead")
    return target


def regular_file(path: str | os.PathLike, inside: str | os.PathLike | None = None) -> Path:
    """`path` if it is (or links, within `inside`, to) a regular file; else UnsafeFileError."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise UnsafeFileError(path, "file not found") from None
    except OSError as err:
        raise UnsafeFileError(path, f"cannot be read ({err.strerror or err})") from None
    if not stat.S_ISREG(mode):
        raise UnsafeFileError(path, f"is {_kind(mode)}, expected a regular file")
    _check_inside(path, inside)
    return path


def open_regular(path: str | os.PathLike, inside: str | os.PathLike | None = None,
                 limit: int | None = None) -> BinaryIO:
    """`path` opened for binary reading, checked again on the open handle (no swap in between).

    Opened non-blocking, so a FIFO put in place after the check still cannot hang the
    open; `limit` refuses a file larger than that many bytes before anything is read.
    """
    path = regular_file(path, inside)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as err:
        raise UnsafeFileError(path, f"cannot be read ({err.strerror or err})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise UnsafeFileError(path, f"is {_kind(info.st_mode)}, expected a regular file")
    if limit is not None and info.st_size > limit:
        os.close(fd)
        raise UnsafeFileError(path, f"is {info.st_size} bytes, more than the {limit} allowed")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_bytes(path: str | os.PathLike, limit: int, inside: str | os.PathLike | None = None) -> bytes:
    """The whole file, if it is a regular file of at most `limit` bytes (it may grow while read)."""
    with open_regular(path, inside, limit) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UnsafeFileError(path, f"is more than the {limit} bytes allowed")
    return data


def check_tree(root: str | os.PathLike) -> set[str]:
    """Refuse a directory tree holding anything but regular files, directories and symlinks
    that resolve to those inside `root`: what a run directory may contain. Returns the
    regular files' paths relative to `root` ('/'-separated), for `read_vetted`."""
    root = Path(root)
    found = set()
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in (*dirs, *files):
            path = os.path.join(folder, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                _check_inside(Path(path), root)
                try:
                    mode = os.stat(path).st_mode
                except OSError:
                    raise UnsafeFileError(path, "is a broken symlink") from None
            if stat.S_ISREG(mode):
                found.add(Path(os.path.relpath(path, root)).as_posix())
            elif not stat.S_ISDIR(mode):
                raise UnsafeFileError(path, f"is {_kind(mode)}, expected a regular file or directory")
    return found


def read_vetted(path: str | os.PathLike) -> bytes:
    """The bytes of a file `check_tree` listed: opened non-blocking and checked regular on the
    handle (so a FIFO swapped in since cannot hang the read), without resolving its path again."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as err:
        raise UnsafeFileError(path, f"cannot be read ({err.strerror or err})") from None
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise UnsafeFileError(path, f"is {_kind(mode)}, expected a regular file")
        return handle.read()


def files_under(directory: str | os.PathLike, suffix: str, inside: str | os.PathLike) -> list[Path]:
    """Regular files below `directory` ending in `suffix`, sorted; dot names (writes in flight)
    are left out, and anything that is not a regular file or escapes `inside` is refused."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for folder, dirs, files in os.walk(directory, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.endswith(suffix) and not name.startswith("."):
                found.append(regular_file(Path(folder) / name, inside))
    return sorted(found)
