"""Reports of a run that lives on an object store or any other pyarrow file system.

The report code reads a local directory, so a run at a URI (`s3://bucket/runs/x`,
`gs://...`, `file:///...`) is mirrored first: only its result tables come down
(run.json, models.parquet, failures.parquet, queries/, scores/), never the model
store, which is most of a run's bytes and which no report reads.
"""
from __future__ import annotations

import json
import posixpath
from pathlib import Path

import pyarrow.fs as pafs

TABLES = ("run.json", "models.parquet", "failures.parquet")
SHARD_DIRS = ("queries", "scores")


def is_uri(where: str | Path) -> bool:
    return "://" in str(where)


def default_mirror(uri: str) -> Path:
    """Where a run at `uri` is mirrored unless told otherwise: results/remote/<last path part>."""
    _, path = pafs.FileSystem.from_uri(uri)
    return Path("results") / "remote" / (posixpath.basename(path.rstrip("/")) or "run")


def _run_id(text: str, where: str) -> str:
    try:
        return str(json.loads(text)["run_id"])
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{where} is not a valid run.json") from None


def mirror_run(uri: str, dest: str | Path) -> Path:
    """Copy the result tables of the run at `uri` into `dest` and return it.

    `dest` must be empty or a mirror of the same run (its run.json names the same run
    id); anything else is refused rather than overwritten.
    """
    fs, root = pafs.FileSystem.from_uri(uri)
    root, dest, local = root.rstrip("/"), Path(dest), pafs.LocalFileSystem()
    kind = lambda name: fs.get_file_info(f"{root}/{name}").type  # noqa: E731
    if kind("run.json") != pafs.FileType.File:
        raise ValueError(f"{uri} is not a run directory: run.json is missing")
    with fs.open_input_stream(f"{root}/run.json") as stream:
        run_id = _run_id(stream.read().decode(), f"{uri}/run.json")
    if (dest / "run.json").is_file():
        if _run_id((dest / "run.json").read_text(), str(dest / "run.json")) != run_id:
            raise ValueError(f"{dest} holds another run; choose an empty directory with --local")
    elif dest.exists() and any(dest.iterdir()):
        raise ValueError(f"{dest} is not empty and holds no run; choose an empty directory with --local")
    dest.mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        if kind(name) == pafs.FileType.File:
            pafs.copy_files(f"{root}/{name}", str(dest / name), source_filesystem=fs, destination_filesystem=local)
        elif (dest / name).exists():
            (dest / name).unlink()  # e.g. failures.parquet, gone once a re-run fixed them
    for sub in SHARD_DIRS:  # shard names are fixed per (method, model): a newer copy overwrites an older one
        if kind(sub) == pafs.FileType.Directory:
            pafs.copy_files(f"{root}/{sub}", str(dest / sub), source_filesystem=fs, destination_filesystem=local)
    return dest


def upload_report(report_dir: str | Path, uri: str) -> str:
    """Put a report written locally next to the run it describes: `<uri>/report/`."""
    fs, root = pafs.FileSystem.from_uri(uri)
    target = f"{root.rstrip('/')}/report"
    fs.create_dir(target, recursive=True)
    pafs.copy_files(str(report_dir), target, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs)
    return f"{uri.rstrip('/')}/report"
