"""Robustness/uniqueness curves over a threshold grid.

For a threshold τ, robustness R(τ) is the share of positives with score >= τ (the
true-positive rate) and uniqueness U(τ) the share of negatives with score < τ (the
true-negative rate), each over its own true denominator: the positives, resp.
negatives, of that cell that have a finite score. Where a cell has no positives (or
no negatives), R (or U) is null rather than a made-up 0 or 1. With strict=True, R
counts score > τ instead (MarginFinger's evaluation code); U is the same either way.

The curves are computed without pairing every score with every threshold: each score
is bucketed by how many grid thresholds it clears (a binary search on the same grid
floats, so comparisons are exact), and R and U are cumulative bucket counts.
"""

from __future__ import annotations

import polars as pl

from .params import value_order
from .suspects import CELL_KEYS


def threshold_grid(thresholds: int = 101) -> pl.DataFrame:
    """`thresholds` evenly spaced τ from 0 to 1, each the float nearest k / (n - 1).

    Built with Python division on purpose: Polars divides a column by a scalar via its
    reciprocal, which gives 0.35000000000000003 for 35 / 100, so a score of exactly
    0.35 would fall on the wrong side of τ = 0.35.
    """
    if thresholds < 2:
        raise ValueError(f"need at least 2 thresholds, got {thresholds}")
    return pl.DataFrame({"threshold": [k / (thresholds - 1) for k in range(thresholds)]})


def cell_keys(frame: pl.DataFrame | pl.LazyFrame, extra: tuple[str, ...] = ()) -> list[str]:
    """The cell key columns (method, attack[, param, value]) that `frame` has, then `extra`."""
    names = frame.collect_schema().names()
    return [key for key in CELL_KEYS if key in names] + list(extra)


def sort_rows(frame: pl.DataFrame, *then: str) -> pl.DataFrame:
    """Sort by method, attack ("all" first), param and value ("all" first, numbers by size), then `then`."""
    keys: list[pl.Expr | str] = ["method", pl.col("attack") != "all", "attack"]
    if "param" in frame.columns:
        keys += [pl.col("param") != "all", "param", *value_order(pl.col("value"))]
    return frame.sort(*keys, *then, nulls_last=True)


def ru_curves(scored: pl.DataFrame | pl.LazyFrame, thresholds: int = 101, strict: bool = False,
              extra: tuple[str, ...] = ()) -> pl.DataFrame:
    """R(τ) and U(τ) per cell from labelled scores (columns method, attack[, param, value], label, score).

    `extra` names further key columns (e.g. a query budget and its repeat). Non-finite
    and null scores are ignored here; the metrics count them separately.
    """
    keys = cell_keys(scored, extra)
    grid = threshold_grid(thresholds).with_row_index("bucket")
    taus = grid.get_column("threshold")
    label = pl.col("label")
    # A positive counts at τ_j iff j < cleared(R); a negative counts for U at τ_j iff j >= cleared(U).
    cleared_r = pl.lit(taus).search_sorted(pl.col("score"), side="left" if strict else "right")
    cleared_u = pl.lit(taus).search_sorted(pl.col("score"), side="right")
    hist = (
        scored.lazy()
        .filter(pl.col("score").is_finite())
        .with_columns(bucket=pl.when(label).then(cleared_r).otherwise(cleared_u).cast(pl.UInt32))
        .group_by(*keys, "bucket")
        .agg(pos=label.sum(), neg=label.not_().sum())
    )
    totals = hist.group_by(keys).agg(n_pos=pl.col("pos").sum(), n_neg=pl.col("neg").sum())
    curves = (
        totals.join(grid.lazy(), how="cross")
        .join(hist, on=[*keys, "bucket"], how="left")
        .with_columns(pl.col("pos", "neg").fill_null(0))
        .sort(*keys, "bucket")
        .with_columns(
            below_pos=pl.col("pos").cum_sum().over(keys),
            below_neg=pl.col("neg").cum_sum().over(keys),
        )
        .select(
            *keys,
            "threshold",
            robustness=pl.when(pl.col("n_pos") > 0).then(
                (pl.col("n_pos") - pl.col("below_pos")) / pl.col("n_pos")
            ),
            uniqueness=pl.when(pl.col("n_neg") > 0).then(pl.col("below_neg") / pl.col("n_neg")),
        )
        .collect()
    )
    return sort_rows(curves, *extra, "threshold")
