"""`run.json`: what produced a run directory, and the guard that keeps runs apart.

A run directory belongs to one spec (its `run_id`). Re-running the same spec
resumes; pointing a different spec at it is refused, so existing results are never
mixed with or overwritten by another experiment's.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import pyarrow.fs as pafs

from engine.config import RunSpec
from engine.fs import Location
from engine.rundir import LOCK
from engine.safe_files import UnsafeFileError, check_tree, read_bytes

MAX_RUN_JSON_BYTES = 64 << 20  # run.json holds the resolved spec: kilobytes, never this much


class RunDirError(ValueError):
    """The output directory cannot be used: not a directory, not writable, or holding odd files."""


class RunDirConflict(RunDirError):
    """The output directory already holds results of a different spec."""


def parse_run_json(data: bytes, where: str) -> dict:
    """The provenance record in `data`: a JSON object with a string run_id; else RunDirConflict."""
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise RunDirConflict(f"{where} is not valid JSON; refusing to touch its run directory") from None
    if not isinstance(record, dict):
        kind = {list: "an array", str: "a string", type(None): "null", bool: "a boolean"}.get(type(record), "a number")
        raise RunDirConflict(f"{where} holds {kind}, not a JSON object with a run_id; "
                             "refusing to touch its run directory")
    run_id = record.get("run_id")
    if not isinstance(run_id, str) or not run_id:
        raise RunDirConflict(f"{where} has no string 'run_id' (found {run_id!r}); refusing to touch its run directory")
    return record


def check_output(run_dir: Location) -> str | None:
    """What is already at `run_dir`, checked before anything is written: the run_id of the run
    it holds, or None when it is absent or empty. Raises RunDirError when it is unusable."""
    local = run_dir.local_path
    if local is not None:
        _check_local_output(local)
    info = run_dir.fs.get_file_info(run_dir.path)
    if info.type == pafs.FileType.NotFound:
        return None
    if info.type != pafs.FileType.Directory:
        raise RunDirError(f"{run_dir} exists and is not a directory; choose another output directory (--out)")
    if not run_dir.exists("run.json"):
        if run_dir.entries() - {LOCK}:  # a lock alone: a driver that is starting, or one that died
            raise RunDirConflict(f"{run_dir} is not empty and has no run.json; choose another output directory")
        return None
    if local is not None:
        try:
            data = read_bytes(local / "run.json", MAX_RUN_JSON_BYTES, inside=local)
        except UnsafeFileError as err:
            raise RunDirConflict(f"{err}; refusing to touch {run_dir}") from None
    else:
        data = run_dir.read_bytes("run.json")
    return parse_run_json(data, f"{run_dir}/run.json")["run_id"]


def _check_local_output(path: Path, walk: bool = True) -> None:
    """A local output directory: an existing one must be a writable directory holding only regular
    files and directories (`walk`); a new one must be creatable under its nearest existing parent."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        if existing.is_symlink():
            raise RunDirError(f"{existing} is a broken symlink; choose another output directory (--out)")
        existing = existing.parent
    if not existing.is_dir():
        what = f"{path} exists and" if existing == path else f"{path} cannot be created: {existing}"
        raise RunDirError(f"{what} is not a directory; choose another output directory (--out)")
    if not os.access(existing, os.W_OK | os.X_OK):
        what = path if existing == path else f"{path} cannot be created: {existing}"
        raise RunDirError(f"{what} is not writable; choose another output directory (--out)")
    if existing == path and walk:
        try:
            check_tree(path)
        except UnsafeFileError as err:
            raise RunDirError(f"{path} holds a file fpbench will not read: {err}") from None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def check_output_dir(path: str | os.PathLike) -> None:
    """A directory fpbench will write into (a report's): a writable directory, or creatable as one."""
    _check_local_output(Path(os.path.abspath(path)), walk=False)


def check_run_dir(run_dir: Location, run_id: str) -> bool:
    """True if `run_dir` already belongs to this run; raises if it belongs to another or is unusable."""
    existing = check_output(run_dir)
    if existing is None:
        return False
    if existing != run_id:
        raise RunDirConflict(
            f"{run_dir} holds run {existing}, but this spec is run {run_id}; "
            "use another output directory (--out) to keep both"
        )
    return True


def declared_scales(spec: RunSpec) -> dict[str, dict]:
    """Each method entry's declared score scale, by label: what the torch-free report maps ARUC with,
    for plugin methods too (methods.scales only knows the builtins)."""
    from methods import get_method

    scales = {}
    for entry in spec.methods:
        scale = get_method(entry.name).score_scale
        scales[entry.label] = {"name": scale.name, "lo": scale.lo, "hi": scale.hi}
    return scales


def write_provenance(run_dir: Location, spec: RunSpec, run_id: str, device: str) -> None:
    record = {
        "run_id": run_id,
        "name": spec.name,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_sha": git_sha(),
        "spec": spec.resolved,
        "seed": spec.seed,
        "source_id": spec.source_id,
        "score_scales": declared_scales(spec),
        "versions": {p: _version(p) for p in ("fpbench", "torch", "ray", "pyarrow", "polars", "numpy")},
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "processor": platform.machine(), "cpus": os.cpu_count(), "device": device},
    }
    run_dir.write_text("run.json", json.dumps(record, indent=1, sort_keys=True))


def record_summary(run_dir: Location, summary: dict) -> None:
    """Keep the end-of-run summary in run.json (`summary`: the latest attempt's), next to the provenance."""
    record = parse_run_json(run_dir.read_bytes("run.json"), f"{run_dir}/run.json")
    run_dir.write_text("run.json", json.dumps({**record, "summary": summary}, indent=1, sort_keys=True))
