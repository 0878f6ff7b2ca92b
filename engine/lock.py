"""One driver per run directory: `run.lock` keeps two runs from writing the same files.

Two drivers on one directory would each schedule the same jobs and interleave their
shards, manifests and failure records. The lock is created exclusively (O_EXCL) on
a local or mounted file system and holds the owner's host, pid and start time. A
lock left by a driver that died on this host (its pid is gone) is taken over; one
held by a live process, or by another host, is refused with what to do. On object
stores (s3://, gs://) creation is not atomic: the check there is best effort.
"""
from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timezone

from engine.fs import Location
from engine.rundir import LOCK


class RunLocked(ValueError):
    """Another driver is using the run directory."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


class RunLock:
    def __init__(self, run_dir: Location):
        self.run_dir = run_dir
        self.record = {"host": socket.gethostname(), "pid": os.getpid(),
                       "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        self.took_over: dict | None = None  # the stale lock this driver replaced, if any

    def __enter__(self) -> "RunLock":
        self.created = not self.run_dir.exists()
        self.run_dir.fs.create_dir(self.run_dir.path, recursive=True)
        for _ in range(2):  # the second try follows the removal of a stale lock
            if self._create():
                return self
            holder = self._holder()
            if holder is not None and self._stale(holder):
                self.run_dir.delete(LOCK)
                self.took_over = holder
                continue
            who = f"pid {holder['pid']} on {holder['host']} since {holder['started']}" if holder else "another run"
            raise RunLocked(f"{self.run_dir} is in use by {who}; wait for it to finish, or delete "
                            f"{self.run_dir}/{LOCK} if that run is gone")
        raise RunLocked(f"could not lock {self.run_dir}: {LOCK} keeps reappearing")

    def __exit__(self, *exc) -> None:
        if self._holder() == self.record:
            self.run_dir.delete(LOCK)
        if self.created and self.run_dir.is_empty():  # a run refused before it wrote anything leaves nothing
            self.run_dir.fs.delete_dir(self.run_dir.path)

    def _create(self) -> bool:
        data = json.dumps(self.record).encode()
        local = self.run_dir.local_path
        if local is None:  # object store: no exclusive create
            if self.run_dir.exists(LOCK):
                return False
            self.run_dir.write_bytes(LOCK, data)
            return True
        try:
            fd = os.open(local / LOCK, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return True

    def _holder(self) -> dict | None:
        try:
            holder = json.loads(self.run_dir.read_bytes(LOCK))
        except (OSError, ValueError):
            return None
        return holder if isinstance(holder, dict) and {"host", "pid", "started"} <= set(holder) else None

    def _stale(self, holder: dict) -> bool:
        return holder["host"] == self.record["host"] and isinstance(holder["pid"], int) and not _alive(holder["pid"])
