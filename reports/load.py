"""Open a run directory written by the engine as lazy Polars tables.

Layout read here (everything else in the run directory is ignored)::

    <run_dir>/run.json                              provenance, at least {"run_id": ...}
    <run_dir>/models.parquet                        the zoo manifest, one row per model
    <run_dir>/scores/method=<m>/<hash>.parquet      one small file per (suspect, method)
    <run_dir>/queries/method=<m>/<hash>.parquet     the raw logits of that (suspect, method)
    <run_dir>/failures.parquet, failures/*.json     failed jobs (see reports.failures)

Each shard stores its `method` column itself, so shards are scanned with hive
partitioning off. A missing or empty `scores/` or `queries/` directory is not an
error: it means no method has finished yet, and that table is simply empty.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from .failures import read_failures

SCORE_SCHEMA = pl.Schema(
    {
        "run_id": pl.String,
        "method": pl.String,
        "model_id": pl.String,
        "score": pl.Float64,
        "access": pl.String,
        "p_value": pl.Float64,
        "effect": pl.Float64,
    }
)
QUERY_SCHEMA = pl.Schema(
    {
        "run_id": pl.String,
        "method": pl.String,
        "fingerprint_id": pl.String,
        "model_id": pl.String,
        "query_index": pl.Int32,
        "logits": pl.List(pl.Float32),
    }
)
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
    """Open `run_dir`; raise ValueError naming the file when run.json or models.parquet is unusable."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"run directory {run_dir} does not exist")
    for required in ("run.json", "models.parquet"):
        if not (run_dir / required).is_file():
            raise ValueError(f"{run_dir} is not a complete run: {required} is missing")

    run_info = json.loads((run_dir / "run.json").read_text())
    if "run_id" not in run_info:
        raise ValueError(f"{run_dir / 'run.json'} has no 'run_id'")

    models = pl.scan_parquet(run_dir / "models.parquet")
    missing = [c for c in MANIFEST_COLUMNS if c not in models.collect_schema()]
    if missing:
        raise ValueError(f"{run_dir / 'models.parquet'} lacks columns {missing}")

    return RunTables(
        run_dir=run_dir,
        run_id=str(run_info["run_id"]),
        models=models,
        scores=scan_shards(run_dir / "scores", SCORE_SCHEMA),
        queries=scan_shards(run_dir / "queries", QUERY_SCHEMA),
        info=run_info,
        failures=read_failures(run_dir),
    )


def scan_shards(directory: Path, schema: pl.Schema) -> pl.LazyFrame:
    """Lazily scan all shards under `directory` cast to `schema`, or an empty frame if there are none.

    Files are listed here rather than globbed by Polars so that hidden files (temporary
    names of writes still in flight) are skipped and an empty directory is not an error.
    """
    shards = sorted(p for p in directory.glob("**/*.parquet") if not p.name.startswith("."))
    if not shards:
        return pl.LazyFrame(schema=schema)
    scanned = pl.scan_parquet(shards, hive_partitioning=False, schema=schema, missing_columns="insert",
                              extra_columns="ignore")  # shards from before a column existed read as null
    return scanned.select(pl.col(name).cast(dtype) for name, dtype in schema.items())
