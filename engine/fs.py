"""Where a run lives: a directory on any pyarrow filesystem.

A local path or a shared mount (NFS, EFS, Lustre) works as is; a URI such as
`s3://bucket/runs/x`, `gs://...`, `hdfs://...` or `file:///...` picks the matching
pyarrow filesystem, so every node of a cluster can write the same run. Writes go to
a temporary name and are moved into place: a rename on file systems, and on object
stores an object appears whole anyway. `Location` pickles, so Ray actors get it as is.
"""
from __future__ import annotations

import os
import posixpath
import uuid
from pathlib import Path

import pyarrow.fs as pafs


class WriteFailed(OSError):
    """A file of the run could not be written; the message names it."""


class Location:
    def __init__(self, where: str | Path, filesystem: pafs.FileSystem | None = None):
        where = str(where)
        if filesystem is not None:
            self.fs, self.path = filesystem, where
        elif "://" in where:
            self.fs, self.path = pafs.FileSystem.from_uri(where)
        else:
            self.fs, self.path = pafs.LocalFileSystem(), os.path.abspath(where)
        self.path = self.path.rstrip("/") or "/"
        self.label = where

    def __str__(self) -> str:
        return self.label

    def __truediv__(self, name: str) -> "Location":
        child = Location(posixpath.join(self.path, name), self.fs)
        child.label = posixpath.join(self.label, name)
        return child

    @property
    def local_path(self) -> Path | None:
        """The directory as a local Path, when it is on the local file system (reports need one)."""
        return Path(self.path) if isinstance(self.fs, pafs.LocalFileSystem) else None

    def _full(self, name: str) -> str:
        return posixpath.join(self.path, name)

    def exists(self, name: str = "") -> bool:
        target = self._full(name) if name else self.path
        return self.fs.get_file_info(target).type != pafs.FileType.NotFound

    def entries(self) -> set[str]:
        """The names directly in this directory (none if it does not exist)."""
        if not self.exists():
            return set()
        return {info.base_name for info in self.fs.get_file_info(pafs.FileSelector(self.path, recursive=False))}

    def is_empty(self) -> bool:
        return not self.entries()

    def list(self, sub: str, suffix: str = "") -> list[str]:
        """Names (relative to this location) of the files under `sub` ending in `suffix`, sorted;
        temporary files of writes in flight (dot names) are left out."""
        selector = pafs.FileSelector(self._full(sub), recursive=True, allow_not_found=True)
        names = []
        for info in self.fs.get_file_info(selector):
            if info.type == pafs.FileType.File and info.path.endswith(suffix) and not info.base_name.startswith("."):
                names.append(posixpath.relpath(info.path, self.path))
        return sorted(names)

    def read_bytes(self, name: str) -> bytes:
        with self.fs.open_input_stream(self._full(name)) as stream:
            return stream.read()

    def read_text(self, name: str) -> str:
        return self.read_bytes(name).decode()

    def write_bytes(self, name: str, data: bytes) -> None:
        """Write `name` whole or not at all (temporary name, then move).

        A failed write (a full disk, a read-only mount) removes its temporary file and
        raises a `WriteFailed` naming the target, so nothing half-written stays behind.
        """
        target = self._full(name)
        parent, base = posixpath.split(target)
        tmp = posixpath.join(parent, f".{base}.{uuid.uuid4().hex}.tmp")
        try:
            self.fs.create_dir(parent, recursive=True)
            with self.fs.open_output_stream(tmp) as stream:
                stream.write(data)
            self.fs.move(tmp, target)
        except OSError as err:
            try:
                self.fs.delete_file(tmp)
            except OSError:
                pass  # never created, or already gone
            raise WriteFailed(f"could not write {posixpath.join(self.label, name)}: {err}") from err

    def write_text(self, name: str, text: str) -> None:
        self.write_bytes(name, text.encode())

    def delete(self, name: str) -> None:
        if self.exists(name):
            self.fs.delete_file(self._full(name))
