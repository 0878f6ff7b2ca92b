"""A local copy of a run's result tables, so a run at a URI can be reported on.

The report code reads a local directory. A run at `s3://bucket/runs/x`, `gs://...` or
`file:///...` is mirrored first: only its result tables come down (run.json,
models.parquet, fingerprints.parquet, failures.parquet, queries/, scores/ and the
job records that check them), never the model store, which
is most of a run's bytes and which no report reads. The mirror is guarded like any
run directory: one that holds another run is refused, not overwritten.
"""
from __future__ import annotations

import json
import posixpath
from pathlib import Path

import pyarrow.fs as pafs

from engine.fs import Location
from engine.provenance import check_run_dir
from engine.rundir import DERIVED_TABLES, RUN_JSON, SHARD_TABLES

TABLES = (RUN_JSON, *DERIVED_TABLES)
SHARD_DIRS = (*SHARD_TABLES, "records")  # the job records let the mirror's shards be checked


def is_uri(where: str | Path) -> bool:
    return "://" in str(where)


def default_mirror(uri: str) -> Path:
    """Where a run at `uri` is mirrored unless told otherwise: results/remote/<last path part>."""
    return Path("results") / "remote" / (posixpath.basename(Location(uri).path) or "run")


def _copy(src: Location, dst: Location) -> None:
    pafs.copy_files(src.path, dst.path, source_filesystem=src.fs, destination_filesystem=dst.fs)


def mirror_run(uri: str, dest: str | Path) -> Path:
    """Copy the result tables of the run at `uri` into `dest` (empty, or a mirror of the same run)."""
    run, local = Location(uri), Location(dest)
    if not run.exists("run.json"):
        raise ValueError(f"{uri} is not a run directory: run.json is missing")
    try:
        run_id = str(json.loads(run.read_text("run.json"))["run_id"])
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{uri}/run.json is not a valid run.json") from None
    check_run_dir(local, run_id)
    local.fs.create_dir(local.path, recursive=True)
    for name in TABLES:
        if run.exists(name):
            _copy(run / name, local / name)
        else:
            local.delete(name)  # e.g. failures.parquet, gone once a re-run fixed them
    for sub in SHARD_DIRS:  # shard names are fixed per (method, model): a newer copy overwrites an older one
        if run.exists(sub):
            _copy(run / sub, local / sub)
    return Path(local.path)


def upload_report(report_dir: str | Path, uri: str) -> str:
    """Put a report written locally next to the run it describes: `<uri>/report/`."""
    target = Location(uri) / "report"
    target.fs.create_dir(target.path, recursive=True)
    _copy(Location(report_dir), target)
    return str(target)
