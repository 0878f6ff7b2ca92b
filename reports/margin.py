"""NaturalFinger's matching-rate margin: a positive's score minus its mirror negative's.

For each pair (see `reports.params.mirror_pairs`: the positive and the mirror negative
that went through the identical attack recipe from the mirror source), margin =
score(positive) − score(mirror). For matching-rate methods (IPGuard, NaturalFinger)
the score is the matching rate, so this is exactly the paper's margin; other methods'
scores are used on the same [0, 1] scale as ARUC (the fixed map of the method's
declared score scale, see `methods.scales`; an unbounded score stays raw). A pair where either side has no finite score is
left out and counted in n_unusable.

Rows are the cells of the metrics table: (attack, "all", "all") pools every pair of an
attack family, (attack, param, value) one value of a sweep axis, e.g. prune rate 0.5
(its replicates pooled); attack "source" is the source against the mirror source.
margin is the mean over the row's pairs, with its min and max.
"""

from __future__ import annotations

import polars as pl

from .curves import sort_rows
from .params import ALL, mirror_pairs
from .suspects import CELL_KEYS, mapped_scores, positive_cells

MARGIN_SCHEMA = pl.Schema(
    {
        "run_id": pl.String,
        **{key: pl.String for key in CELL_KEYS},
        "n_pairs": pl.Int64,
        "n_unusable": pl.Int64,
        "margin": pl.Float64,
        "margin_min": pl.Float64,
        "margin_max": pl.Float64,
        "score_positive": pl.Float64,
        "score_mirror": pl.Float64,
    }
)


def compute_margins(
    scores: pl.DataFrame | pl.LazyFrame, models: pl.DataFrame | pl.LazyFrame, run_id: str
) -> pl.DataFrame:
    """One MARGIN_SCHEMA row per (method, cell) that has at least one mirror pair."""
    pairs = mirror_pairs(models).lazy()
    mapped = mapped_scores(scores)
    sources = models.lazy().filter(pl.col("role") == "source").select(
        "model_id", param=pl.lit(ALL), value=pl.lit(ALL)
    )
    cells = pl.concat([positive_cells(models).select("model_id", "param", "value"), sources])
    per_pair = (
        pairs.join(mapped.select("method").unique(), how="cross")
        .join(mapped.rename({"model_id": "positive_id", "score": "positive"}), on=("method", "positive_id"), how="left")
        .join(mapped.rename({"model_id": "mirror_id", "score": "mirror"}), on=("method", "mirror_id"), how="left")
        .join(cells, left_on="positive_id", right_on="model_id")
        .with_columns(usable=(pl.col("positive").is_finite() & pl.col("mirror").is_finite()).fill_null(False))
    )
    usable = pl.col("usable")
    margin = (pl.col("positive") - pl.col("mirror")).filter(usable)
    frame = (
        per_pair.group_by(CELL_KEYS)
        .agg(
            n_pairs=usable.sum().cast(pl.Int64),
            n_unusable=usable.not_().sum().cast(pl.Int64),
            margin=margin.mean(),
            margin_min=margin.min(),
            margin_max=margin.max(),
            score_positive=pl.col("positive").filter(usable).mean(),
            score_mirror=pl.col("mirror").filter(usable).mean(),
        )
        .with_columns(run_id=pl.lit(run_id))
        .select(pl.col(name).cast(dtype) for name, dtype in MARGIN_SCHEMA.items())
        .collect()
    )
    return sort_rows(frame)
