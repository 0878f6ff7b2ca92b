"""Metrics per source replicate, and their spread between sources.

One source model hides how much a method's numbers depend on which source was
trained. A run with `[source] replicates = N` builds N whole benchmarks that share no
model (the manifest's `replicate` column says which one a model belongs to). The
report's main tables pool them: every positive and negative of every replicate in
one set, as if they were one larger zoo. This module adds the view per source: the
same metrics computed on each replicate's own suspects alone (its copies against its
own negatives), and per cell the spread of those numbers between sources — mean,
standard deviation (ddof 1), min and max over the replicates that had both sides.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import polars as pl

from methods.scales import ScoreScale

from .metrics import METRIC_SCHEMA, compute_metrics
from .suspects import CELL_KEYS

REPLICATE_SCHEMA = pl.Schema({"replicate": pl.Int64, "source_id": pl.String, **METRIC_SCHEMA})
SPREAD_METRICS = ("auc", "aruc")


def replicates_of(models: pl.DataFrame) -> list[int]:
    """The replicate numbers of a run's manifest ([0] for a run of one source, or of an older version)."""
    if "replicate" not in models.columns:
        return [0]
    return sorted(models.get_column("replicate").drop_nulls().unique().to_list()) or [0]


def per_replicate_metrics(
    scores: pl.DataFrame,
    models: pl.DataFrame,
    run_id: str,
    min_count: int = 3,
    methods: Iterable[str] = (),
    scales: Mapping[str, ScoreScale] | None = None,
) -> pl.DataFrame:
    """REPLICATE_SCHEMA rows: every metric cell computed on one replicate's suspects; empty with one replicate.

    No ARUC bootstrap here (resamples = 0): the spread between sources is the interval
    this view is for.
    """
    replicates = replicates_of(models)
    if len(replicates) < 2:
        return pl.DataFrame(schema=REPLICATE_SCHEMA)
    frames = []
    for replicate in replicates:
        own = models.filter(pl.col("replicate") == replicate)
        clean = own.filter(pl.col("role") == "negative").get_column("source_id").unique().to_list()
        mine = scores.join(own.select("model_id"), on="model_id", how="semi")
        metrics = compute_metrics(mine, own, run_id, min_count, methods, resamples=0, scales=scales)
        frames.append(metrics.with_columns(replicate=pl.lit(replicate, pl.Int64),
                                           source_id=pl.lit(clean[0] if len(clean) == 1 else None, pl.String)))
    return pl.concat(frames).select(pl.col(name).cast(dtype) for name, dtype in REPLICATE_SCHEMA.items())


def replicate_spread(per_replicate: pl.DataFrame) -> pl.DataFrame:
    """Per cell: n_sources (replicates with a value), then mean, sd, min and max of AUC and ARUC."""
    stats = []
    for name in SPREAD_METRICS:
        value = pl.col(name)
        stats += [value.mean().alias(f"{name}_mean"), value.std(ddof=1).alias(f"{name}_sd"),
                  value.min().alias(f"{name}_min"), value.max().alias(f"{name}_max")]
    return (
        per_replicate.group_by(*CELL_KEYS, maintain_order=True)
        .agg(n_sources=pl.col("auc").is_not_null().sum().cast(pl.Int64), *stats)
    )


def spread_display(pooled: pl.DataFrame, spread: pl.DataFrame) -> pl.DataFrame:
    """The report's table: per (method, attack family) the pooled AUC beside the per-source mean ± sd [min–max]."""
    keys = list(CELL_KEYS)
    rows = pooled.filter(pl.col("param") == "all").select(*keys, "auc").join(spread, on=keys, how="inner")
    between = pl.format("{} ±{} [{}–{}]", *(pl.col(f"auc_{s}").round(3) for s in ("mean", "sd", "min", "max")))
    return rows.select(
        "method", "attack",
        pl.col("auc").round(3).cast(pl.String).fill_null("—").alias("pooled AUC"),
        pl.when(pl.col("n_sources") > 1).then(between).otherwise(pl.col("auc_mean").round(3).cast(pl.String))
        .fill_null("—").alias("per source: mean ±sd [min–max]"),
        pl.col("n_sources").cast(pl.String).alias("sources"),
    )
