"""What each method costs the verifier: fingerprint generation, owner-side models, queries.

* generation_seconds: the seconds the engine timed around the fingerprint's
  generation, from the run's `fingerprints.parquet` (a result table, so a mirrored
  run keeps it); null when the table does not have it. The method's fingerprint is
  the one its query shards name.
* owner_models / owner_train_seconds: the owner-side models (manifest role "owner")
  the method had trained for itself, and their summed training time. If
  `fingerprints.parquet` lists them they are attributed to that method
  (owner_attributed = True). Otherwise (a run without the table) every owner model
  of the run is shown for every method and owner_attributed = False marks the
  pooled figure.
* queries_per_suspect: the median number of query rows per suspect in its query
  shards (the fingerprint size); suspects_queried: how many suspects it queried.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from engine.rundir import FINGERPRINTS

COST_SCHEMA = pl.Schema(
    {
        "method": pl.String,
        "access": pl.String,
        "fingerprint_id": pl.String,
        "generation_seconds": pl.Float64,
        "owner_models": pl.Int64,
        "owner_train_seconds": pl.Float64,
        "owner_attributed": pl.Boolean,
        "queries_per_suspect": pl.Int64,
        "suspects_queried": pl.Int64,
    }
)


def fingerprint_meta(run_dir: Path) -> dict[str, dict]:
    """fingerprint_id -> {"generation_seconds", "owner_models"} from the run's fingerprints table."""
    path = run_dir / FINGERPRINTS
    if not path.is_file():
        return {}
    table = pl.read_parquet(path, columns=["fingerprint_id", "generation_seconds", "owner_models"])
    return {row.pop("fingerprint_id"): row for row in table.iter_rows(named=True)}


def method_cost(
    methods: tuple[str, ...],
    summary: pl.DataFrame,
    scores: pl.DataFrame,
    models: pl.DataFrame,
    metas: dict[str, dict],
) -> pl.DataFrame:
    """One COST_SCHEMA row per method; `summary` is reports.queries.query_summary's output."""
    owners = models.filter(pl.col("role") == "owner")
    seconds = dict(zip(owners["model_id"].to_list(), owners["train_seconds"].fill_null(0.0).to_list()))
    access = dict(scores.group_by("method").agg(pl.col("access").first()).iter_rows())
    rows = []
    for method in methods:
        asked = summary.filter(pl.col("method") == method)
        fingerprints = asked.get_column("fingerprint_id").drop_nulls().mode().sort().to_list()
        fingerprint_id = fingerprints[0] if fingerprints else None
        meta = metas.get(fingerprint_id, {}) if fingerprint_id else {}
        listed = meta.get("owner_models")
        owner_ids = list(listed) if isinstance(listed, list) else list(seconds)
        median = asked.get_column("n_queries").median()
        rows.append({
            "method": method,
            "access": access.get(method),
            "fingerprint_id": fingerprint_id,
            "generation_seconds": meta.get("generation_seconds", meta.get("seconds")),
            "owner_models": len(owner_ids),
            "owner_train_seconds": sum(seconds.get(m, 0.0) for m in owner_ids),
            "owner_attributed": isinstance(listed, list),
            "queries_per_suspect": int(median) if median is not None else None,
            "suspects_queried": asked.height,
        })
    return pl.DataFrame(rows, schema=COST_SCHEMA)
