"""Open a run directory written by the engine as lazy Polars tables.

Layout read here (everything else in the run directory is ignored)::

    <run_dir>/run.json                              provenance, at least {"run_id": ...}
    <run_dir>/models.parquet                        the zoo manifest, one row per model
    <run_dir>/scores/method=<m>/<hash>.parquet      one small file per (suspect, method)
    <run_dir>/queries/method=<m>/<hash>.parquet     the raw logits of that (suspect, method)
    <run_dir>/records/method=<m>/<hash>.json        the job record: both shards' sha256
    <run_dir>/failures.parquet, failures/*.json     failed jobs (see reports.failures)

(names: engine/rundir.py). Only shards a job record vouches for are read, each
checked against its recorded sha256 and filtered to run.json's run_id; a damaged one
is left out and named in `RunTables.damaged`. Each shard stores its `method` column
itself, so shards are scanned with hive partitioning off. No records yet means no
method has finished: the tables are simply empty.

A run directory may come from anywhere, so it is checked before Polars sees it: only
regular files and directories (a FIFO would block a scan for ever), no symlink out
of the directory, a run.json of the right shape, and a readable Parquet footer on
every table; each refusal is a ValueError that names the file.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from engine import rundir
from engine.rundir import DamagedFile, verified
from engine.safe_files import UnsafeFileError, check_tree, files_under, read_bytes, read_vetted

from .failures import read_failures
from .schemas import polars_schema

MAX_RUN_JSON_BYTES = 64 << 20
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")

SCORE_SCHEMA = polars_schema(rundir.SCORES_SCHEMA)
QUERY_SCHEMA = polars_schema(rundir.QUERIES_SCHEMA)
MANIFEST_COLUMNS = ("model_id", "role", "attack", "arch", "attack_params", "test_acc")


@dataclass(frozen=True)
class RunTables:
    """The tables of one run; `models`, `scores` and `queries` are lazy so nothing is read until needed."""

    run_dir: Path
    run_id: str
    models: pl.LazyFrame
    scores: pl.LazyFrame
    queries: pl.LazyFrame
    info: dict
    failures: pl.DataFrame

    @property
    def methods(self) -> tuple[str, ...]:
        """The method labels the run names in its spec or its failures (cheap: reads no shard).

        Methods that only appear in score shards are added by whoever reads the scores.
        """
        in_spec = [m.get("label", m.get("name")) for m in self.info.get("spec", {}).get("methods", [])]
        failed = self.failures.get_column("method").drop_nulls().to_list()
        return tuple(sorted({str(m) for m in (*in_spec, *failed) if m}))

    @property
    def dataset(self) -> str:
        return dataset_name(self.info)


def dataset_name(info: dict) -> str:
    """The data set a run's models learned, as its spec names it: every figure holds for that data only."""
    return str(info.get("spec", {}).get("dataset", {}).get("name", "unknown data set"))


def load_run(run_dir: str | os.PathLike) -> RunTables:
    """Open `run_dir`; raise ValueError naming the file when a file of the run is unusable."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"run directory {run_dir} does not exist")
    files = check_tree(run_dir)
    for required in ("run.json", "models.parquet"):
        if not (run_dir / required).is_file():
            raise ValueError(f"{run_dir} is not a complete run: {required} is missing")

    run_info = read_run_info(run_dir / "run.json")
    for table in ("models.parquet", "fingerprints.parquet"):
        if (run_dir / table).exists():
            check_parquet(run_dir / table)
    models = pl.scan_parquet(run_dir / "models.parquet", glob=False)  # a run named x[1] is a path, not a pattern
    missing = [c for c in MANIFEST_COLUMNS if c not in models.collect_schema()]
    if missing:
        raise ValueError(f"{run_dir / 'models.parquet'} lacks columns {missing}")

    shards = recorded_shards(run_dir, files)
    this_run = pl.col("run_id") == run_info["run_id"]  # a shard of another run is never mixed in
    return RunTables(
        run_dir=run_dir,
        run_id=run_info["run_id"],
        models=models,
        scores=scan_shards(shards["scores"], SCORE_SCHEMA).filter(this_run),
        queries=scan_shards(shards["queries"], QUERY_SCHEMA).filter(this_run),
        info=run_info,
        failures=read_failures(run_dir),
    )


REBUILD = "`fpbench check --repair` then `fpbench run` rebuild it"


def recorded_shards(run_dir: Path, files: set[str] | None = None) -> dict[str, list[Path]]:
    """The score and query shards that job records vouch for, each checked against its sha256;
    a damaged or missing one is a ValueError naming it. A shard without a record belongs to a
    job that never finished: it is not read. `files` is `check_tree(run_dir)`'s listing
    (taken here when not given): every file named is a vetted regular file of the run."""
    files = check_tree(run_dir) if files is None else files
    shards: dict[str, list[Path]] = {"scores": [], "queries": []}
    records = sorted(f for f in files if f.startswith("records/") and f.endswith(".json")
                     and not f.rsplit("/", 1)[-1].startswith("."))  # a dot name is a write in flight
    for record in records:
        try:
            items = sorted(json.loads(read_vetted(run_dir / record))["files"].items())
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ValueError(f"{run_dir / record} is not a job record; {REBUILD}") from None
        for name, sha in items:
            table, path = str(name).split("/", 1)[0], run_dir / str(name)
            if table not in shards or str(name) not in files:
                raise ValueError(f"{path} is missing, though {run_dir / record} records it; {REBUILD}")
            try:  # the bytes are the recorded ones
                verified(read_vetted(path), sha, str(path))
            except (DamagedFile, UnsafeFileError) as err:
                raise ValueError(f"{err}; {REBUILD}") from None
            shards[table].append(path)
    return {table: sorted(paths) for table, paths in shards.items()}


def read_run_info(path: Path) -> dict:
    """run.json as a dict with a string run_id, and `spec`, `spec.methods`, `spec.dataset` of the
    shapes the reports read (the engine writes them so; a hand-edited file may not be)."""
    try:
        info = json.loads(read_bytes(path, MAX_RUN_JSON_BYTES, inside=path.parent).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ValueError(f"{path} is not valid JSON") from None
    if not isinstance(info, dict):
        kind = {list: "an array", str: "a string", type(None): "null", bool: "a boolean"}.get(type(info), "a number")
        raise ValueError(f"{path} holds {kind}, expected a JSON object with a 'run_id'")
    if "run_id" not in info:
        raise ValueError(f"{path} has no 'run_id'")
    if not isinstance(info["run_id"], str) or not info["run_id"]:
        raise ValueError(f"{path}: 'run_id' must be a non-empty string, got {info['run_id']!r}")
    spec = info.get("spec", {})
    shapes = (("spec", spec, dict), ("spec.methods", spec.get("methods", []) if isinstance(spec, dict) else [], list),
              ("spec.dataset", spec.get("dataset", {}) if isinstance(spec, dict) else {}, dict))
    for where, value, kind in shapes:
        if not isinstance(value, kind):
            raise ValueError(f"{path}: '{where}' must be a JSON {kind.__name__.replace('dict', 'object')}, "
                             f"got {type(value).__name__}")
    if not all(isinstance(m, dict) for m in spec.get("methods", [])):
        raise ValueError(f"{path}: every entry of 'spec.methods' must be a JSON object")
    # Names the reports print (and rich would read '[/red]' in them as markup): plain words only.
    names = [("spec.dataset.name", spec.get("dataset", {}).get("name", "digits"))]
    names += [(f"spec.methods[{i}].{k}", m[k]) for i, m in enumerate(spec.get("methods", [])) for k in ("name", "label")
              if k in m]
    for where, name in names:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"{path}: '{where}' must be a name of letters, digits, '_', '-' or '.', got {name!r}")
    check_score_scales(info.get("score_scales", {}), path)
    return info


def check_score_scales(scales, path: Path) -> None:
    """run.json's `score_scales`: label -> {name, lo, hi}, lo < hi finite numbers or both null."""
    if not isinstance(scales, dict):
        raise ValueError(f"{path}: 'score_scales' must be a JSON object, got {type(scales).__name__}")
    for label, scale in scales.items():
        where = f"{path}: 'score_scales.{label}'"
        if not isinstance(scale, dict) or not isinstance(scale.get("name"), str):
            raise ValueError(f"{where} must be an object with a 'name', got {scale!r}")
        lo, hi = scale.get("lo"), scale.get("hi")
        bounded = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (lo, hi))
        if not ((lo is None and hi is None) or (bounded and lo < hi)):
            raise ValueError(f"{where} needs lo < hi (finite numbers), or both null for an unbounded score; "
                             f"got lo={lo!r}, hi={hi!r}")


def check_parquet(path: Path) -> None:
    """Refuse a file whose Parquet footer does not read (random bytes, a truncated write)."""
    try:
        pq.read_metadata(path)
    except (pa.ArrowException, OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable Parquet file ({err})") from None


def find_unreadable_parquet(run_dir: str | os.PathLike) -> str | None:
    """A message naming the first Parquet file of `run_dir` that does not read in full, or None."""
    run_dir = Path(run_dir)
    for path in files_under(run_dir, ".parquet", run_dir):
        try:
            pq.read_table(path)
        except (pa.ArrowException, OSError, ValueError) as err:
            return f"{path} is not a readable Parquet file ({err})"
    return None


def scan_shards(shards: list[Path], schema: pl.Schema) -> pl.LazyFrame:
    """Lazily scan `shards` (already checked by `recorded_shards`) cast to `schema`, or an empty
    frame if there are none."""
    if not shards:
        return pl.LazyFrame(schema=schema)
    scanned = pl.scan_parquet(shards, hive_partitioning=False, schema=schema, missing_columns="insert",
                              extra_columns="ignore", glob=False)  # shards from before a column existed read as null
    return scanned.select(pl.col(name).cast(dtype) for name, dtype in schema.items())
