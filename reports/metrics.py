"""Per cell (method, attack, param, value) verification metrics with their sizes and CIs.

Who counts as positive and negative in each cell is defined in `reports.suspects`;
R(τ) and U(τ) in `reports.curves`.

* auc = P(s⁺ > s⁻) + ½·P(s⁺ = s⁻) over all positive/negative pairs (the Mann–Whitney
  form, sklearn's ROC-AUC). Computed from average ranks, so ties count half exactly:
  AUC = (Σ rank(positives) − n_pos(n_pos+1)/2) / (n_pos·n_neg).
* aruc = ∫₀¹ min(R(τ), U(τ)) dτ by the trapezoid rule on τ = 0, 0.01, …, 1 with
  R counting s ≥ τ and U counting s < τ — IPGuard's definition, also NaturalFinger's.
  It rewards a single threshold that both catches the copies and spares the
  innocents; 1 only if all positives score strictly above all negatives at every τ
  in (0, 1]. It is computed on the score mapped to [0, 1] by the method's declared
  range (`reports.suspects`; score_scale names it, score_mapped is True where the map
  is not the identity; a method that declares none is read as a rate). It is null,
  with the reason in aruc_note, for a method whose score is unbounded and in a cell
  holding a score outside the scale's range.
* aruc_strict: the same with R counting s > τ, as MarginFinger's evaluation/ARUC.py
  does. The two differ only where a positive's score equals a grid threshold exactly
  (e.g. a matching rate of 37/100): there aruc counts it caught and aruc_strict not,
  so aruc_strict <= aruc.
* tpr_at_1fpr / tpr_at_5fpr: the threshold is chosen from the negatives alone — the
  smallest threshold (over the observed scores, decision "stolen if s ≥ τ") whose
  false-positive rate is at most 1 % (5 %). That is: t = the (⌊α·n_neg⌋ + 1)-th
  highest negative score, TPR = the share of positives scoring strictly above t
  (a positive tied with t is not caught). With fewer than 1/α negatives this is the
  TPR at zero false positives.
* auc_lo/auc_hi: DeLong's variance on the logit scale, continuity-corrected so a
  perfectly separated cell still gets a real interval (`reports.delong`); null with
  fewer than 2 positives or negatives. aruc_lo/aruc_hi: percentile bootstrap over
  suspects (`reports.bootstrap`), there being no analytic variance for ARUC.

Every row carries its true sizes: n_pos and n_neg count the finite scores used,
n_invalid the NaN/inf scores left out, n_missing the suspects of the cell without any
score (failed or not yet queried). Rows with n_pos or n_neg below `min_count` get
too_small = True; their metrics are still reported (and flagged wherever shown),
never dropped. With n_pos or n_neg equal to 0 every metric is null. Every method (of
the scores, or named in `methods`) gets one row per cell of the manifest plus "all",
even where it scored none of that cell's positives.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import polars as pl

from methods.scales import ScoreScale

from .bootstrap import CI_SCHEMA, bootstrap_cis
from .curves import cell_keys, ru_curves, sort_rows
from .delong import auc_cis
from .params import ALL
from .suspects import CELL_KEYS, complete_scores, label_suspects, positive_cells, with_scales

METRIC_SCHEMA = pl.Schema(
    {
        "run_id": pl.String,
        "method": pl.String,
        "attack": pl.String,
        "param": pl.String,
        "value": pl.String,
        "n_pos": pl.Int64,
        "n_neg": pl.Int64,
        "n_invalid": pl.Int64,
        "n_missing": pl.Int64,
        "auc": pl.Float64,
        "auc_lo": pl.Float64,
        "auc_hi": pl.Float64,
        "aruc": pl.Float64,
        "aruc_lo": pl.Float64,
        "aruc_hi": pl.Float64,
        "aruc_strict": pl.Float64,
        "tpr_at_1fpr": pl.Float64,
        "tpr_at_5fpr": pl.Float64,
        "score_scale": pl.String,
        "score_mapped": pl.Boolean,
        "aruc_note": pl.String,
        "too_small": pl.Boolean,
    }
)
FPR_TARGETS_PERCENT = (1, 5)
RANKED = ("auc", "auc_lo", "auc_hi", "tpr_at_1fpr", "tpr_at_5fpr")  # need both sides only
ON_UNIT_SCALE = ("aruc", "aruc_lo", "aruc_hi", "aruc_strict")  # also need a declared, respected score range


def aruc_from_curves(curves: pl.DataFrame | pl.LazyFrame, extra: tuple[str, ...] = ()) -> pl.DataFrame:
    """Trapezoid integral of min(R, U) over τ per cell (and `extra` key); null where R or U is undefined."""
    keys = cell_keys(curves, extra)
    r, u = pl.col("robustness"), pl.col("uniqueness")
    lower = pl.when(r.is_not_null() & u.is_not_null()).then(pl.min_horizontal(r, u))
    tau = pl.col("threshold").sort()
    m = pl.col("lower").sort_by("threshold")
    trapezoids = tau.diff() * (m + m.shift(1)) / 2
    arucs = (
        curves.lazy()
        .with_columns(lower=lower)
        .group_by(keys)
        .agg(aruc=pl.when(pl.col("lower").null_count() == 0).then(trapezoids.sum()))
        .collect()
    )
    return sort_rows(arucs, *extra)


def _tpr_at_fpr(percent: int) -> pl.Expr:
    """Share of positives strictly above the (⌊n_neg·percent/100⌋ + 1)-th highest negative (integer maths)."""
    label, score = pl.col("label"), pl.col("score")
    allowed = (label.not_().sum() * percent) // 100
    threshold = score.filter(label.not_()).sort(descending=True).get(allowed, null_on_oob=True)
    return (score.filter(label) > threshold).mean().alias(f"tpr_at_{percent}fpr")


def _point_metrics(labelled: pl.LazyFrame) -> pl.LazyFrame:
    """Counts, rank-based AUC and TPR at fixed FPR (on the raw score) per cell; n_outside: scores out of range."""
    keys = list(CELL_KEYS)
    valid = pl.col("score").is_finite().fill_null(False)
    label = pl.col("label")
    # Invalid scores become null, which rank() skips, so they neither get nor shift ranks.
    rank = pl.when(valid).then(pl.col("score")).rank("average").over(keys)
    n_pos, n_neg = pl.col("n_pos").cast(pl.Float64), pl.col("n_neg").cast(pl.Float64)
    counts = labelled.with_columns(valid=valid, rank=rank).group_by(keys).agg(
        n_pos=(label & pl.col("valid")).sum().cast(pl.Int64),
        n_neg=(label.not_() & pl.col("valid")).sum().cast(pl.Int64),
        n_invalid=(pl.col("score").is_not_null() & pl.col("valid").not_()).sum().cast(pl.Int64),
        n_missing=pl.col("score").is_null().sum().cast(pl.Int64),
        rank_pos=pl.col("rank").filter(label).sum(),
        n_outside=pl.col("unit").is_nan().sum().cast(pl.Int64),
    )
    finite = labelled.filter(pl.col("score").is_finite()).group_by(keys).agg(
        *(_tpr_at_fpr(percent) for percent in FPR_TARGETS_PERCENT)
    )
    auc = (pl.col("rank_pos") - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return counts.with_columns(auc=auc).join(finite, on=keys, how="left")


def _aruc_note() -> pl.Expr:
    """Why a row has no ARUC although it may have positives and negatives; null where it has one."""
    lo, hi, outside = pl.col("lo"), pl.col("hi"), pl.col("n_outside")
    return (
        pl.when(lo.is_null()).then(pl.format("{} score: no fixed map to [0, 1]", "score_scale"))
        .when(outside > 0).then(pl.format("{} score(s) outside [{}, {}], the {} scale's range", outside, lo, hi,
                                          "score_scale"))
    )


def compute_metrics(
    scores: pl.DataFrame | pl.LazyFrame,
    models: pl.DataFrame | pl.LazyFrame,
    run_id: str,
    min_count: int = 3,
    methods: Iterable[str] = (),
    resamples: int = 1000,
    seed: int = 0,
    scales: Mapping[str, ScoreScale] | None = None,
) -> pl.DataFrame:
    """One row per cell with the columns of METRIC_SCHEMA, sorted by method, attack, param, value ("all" first).

    `methods` adds methods the run names but that have no scores; `resamples` is the
    ARUC bootstrap size B (0 leaves aruc_lo/aruc_hi null), `seed` seeds it; `scales`
    replaces the declared score scales (`methods.scales.SCORE_SCALES`).
    """
    complete = complete_scores(scores, models, methods).collect()
    labelled = label_suspects(complete, models, scales).collect()
    on_unit = labelled.with_columns(score=pl.col("unit"))
    keys = list(CELL_KEYS)
    arucs = aruc_from_curves(ru_curves(on_unit)).lazy()
    strict = aruc_from_curves(ru_curves(on_unit, strict=True)).rename({"aruc": "aruc_strict"}).lazy()
    cis = bootstrap_cis(on_unit, resamples=resamples, seed=seed) if resamples else pl.DataFrame(schema=CI_SCHEMA)
    everything = pl.LazyFrame({"attack": [ALL], "param": [ALL], "value": [ALL]})
    cells = pl.concat([everything, positive_cells(models).select("attack", "param", "value")]).unique()
    both_sides = (pl.col("n_pos") > 0) & (pl.col("n_neg") > 0)
    with_aruc = both_sides & pl.col("aruc_note").is_null()
    lo, hi = pl.col("lo"), pl.col("hi")
    metrics = (
        with_scales(complete.lazy().select("method").unique(), scales)
        .with_columns(score_mapped=((lo != 0) | (hi != 1)).fill_null(False))
        .join(cells, how="cross")
        .join(_point_metrics(labelled.lazy()), on=keys, how="left")
        .join(arucs, on=keys, how="left")
        .join(strict, on=keys, how="left")
        .join(cis.lazy(), on=keys, how="left")
        .join(auc_cis(labelled).lazy(), on=keys, how="left")
        .with_columns(pl.col("n_pos", "n_neg", "n_invalid", "n_missing", "n_outside").fill_null(0))
        .with_columns(aruc_note=_aruc_note())
        .with_columns(
            run_id=pl.lit(run_id),
            *(pl.when(both_sides).then(pl.col(name)).alias(name) for name in RANKED),
            *(pl.when(with_aruc).then(pl.col(name)).alias(name) for name in ON_UNIT_SCALE),
            too_small=(pl.col("n_pos") < min_count) | (pl.col("n_neg") < min_count),
        )
        .select(pl.col(name).cast(dtype) for name, dtype in METRIC_SCHEMA.items())
        .collect()
    )
    return sort_rows(metrics)
