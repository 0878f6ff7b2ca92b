"""Everything a report shows, computed from one run and held in memory (no files written).

`analyse` is the one place that decides which tables a report has; `reports.build`
writes them and `reports.document` lays them out. Warnings are plain sentences about
anything that makes a number less than it seems: failed or pending jobs, methods
without a single finite score, NaN/inf scores or logits, a method without a declared
score scale, ARUCs left out (no fixed score range, or a score outside it), cells too
small to trust.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from .budget import budget_table
from .calibration import calibration_table
from .cost import fingerprint_meta, method_cost
from .curves import ru_curves
from .failures import job_status
from .load import RunTables
from .margin import compute_margins
from .metrics import compute_metrics
from .paired import paired_table
from .params import ALL, mirror_pairs
from .queries import query_summary
from .replicates import per_replicate_metrics
from .suspects import COUNTED_ROLES, UNDECLARED, complete_scores, label_suspects, run_scales
from .tests_table import test_table, watermark_cost

EXPORT_MANIFEST = ("role", "attack", "attack_params", "arch", "lineage", "num_classes", "test_acc", "agreement")


@dataclass(frozen=True)
class Analysis:
    """The tables of one report; see the README's "Result tables" for every column."""

    run_id: str
    info: dict
    metrics: pl.DataFrame
    curves: pl.DataFrame
    margins: pl.DataFrame
    scores: pl.DataFrame
    models: pl.DataFrame
    cost: pl.DataFrame
    failures: pl.DataFrame
    warnings: tuple[str, ...]
    tests: pl.DataFrame  # watermark methods' hypothesis tests per (method, attack)
    marks: pl.DataFrame  # each marked source's accuracy drop and training-time ratio
    paired: pl.DataFrame  # paired DeLong tests of AUC_A = AUC_B per attack and method pair
    calibration: pl.DataFrame  # thresholds set on calibration negatives, TPR/FPR on held-out families
    budget: pl.DataFrame  # AUC/ARUC against the number of queries, for per-query methods
    replicates: pl.DataFrame  # every metric per source replicate (empty with one source)


def analyse(run: RunTables, min_count: int = 3, resamples: int = 1000, seed: int = 0) -> Analysis:
    """Compute metrics, curves, margins, per-suspect scores, model and cost tables and warnings."""
    models = run.models.collect()
    scores = run.scores.collect()
    methods = tuple(sorted({*run.methods, *scores.get_column("method").to_list()}))
    summary = query_summary(run.queries, run.models, scores)
    scales = run_scales(run.info)
    metrics = compute_metrics(scores, models, run.run_id, min_count, methods, resamples, seed, scales)
    labelled = label_suspects(scores, models, scales).filter(pl.col("param") == ALL)
    outside = pl.col("unit").is_nan().fill_null(False).any().over("method", "attack")
    # R/U on the [0, 1] scale, only where an ARUC is defined (unit null: no scale; NaN: out of range)
    curves = ru_curves(labelled.filter(outside.not_()).select("method", "attack", "label", score="unit"))
    per_suspect = _per_suspect(scores, models, summary, run.failures, methods)
    return Analysis(
        run_id=run.run_id,
        info=run.info,
        metrics=metrics,
        curves=curves,
        margins=compute_margins(scores, models, run.run_id),
        scores=per_suspect,
        models=_models_export(models, run.failures),
        cost=method_cost(methods, summary, scores, models, fingerprint_meta(run.run_dir)),
        failures=run.failures,
        warnings=tuple(_warnings(metrics, per_suspect, run.failures)),
        tests=test_table(scores, models),
        marks=watermark_cost(models, run.info.get("source_id")),
        paired=paired_table(labelled),
        calibration=calibration_table(labelled, models),
        budget=budget_table(scores, labelled, run.run_id, seed=seed),
        replicates=per_replicate_metrics(scores, models, run.run_id, min_count, methods, scales),
    )


def _per_suspect(scores, models, summary, failures, methods) -> pl.DataFrame:
    """One row per (method, suspect) the run owes, plus any other scored model: score, status, query facts."""
    expected = pl.concat([complete_scores(scores, models, methods).select("method", "model_id").collect(),
                          scores.select("method", "model_id")]).unique()
    status = job_status(expected, scores, failures)
    manifest = [c for c in EXPORT_MANIFEST if c in models.columns]
    return (
        status.join(scores.select("method", "model_id", "score", "access", "p_value", "effect"),
                    on=("method", "model_id"), how="left")
        .join(summary, on=("method", "model_id"), how="left")
        .join(models.select("model_id", *manifest), on="model_id", how="left")
        .with_columns(run_id=pl.lit(scores["run_id"].first() if scores.height else None, pl.String))
        .select("run_id", "method", "model_id", "score", "access", "p_value", "effect", "status", "error",
                "fingerprint_id", "n_queries", "n_nonfinite", "label_match", *manifest)
        .sort("method", "model_id")
    )


def _models_export(models: pl.DataFrame, failures: pl.DataFrame) -> pl.DataFrame:
    """The manifest plus mirror_of (a mirror's positive) and train_error (its failed training, if any)."""
    pairs = mirror_pairs(models).select(model_id="mirror_id", mirror_of="positive_id")
    trained = failures.filter(pl.col("job") == "train").group_by("model_id").agg(train_error=pl.col("error").first())
    return (
        models.join(pairs, on="model_id", how="left")
        .join(trained, on="model_id", how="left")
    )


def _warnings(metrics: pl.DataFrame, per_suspect: pl.DataFrame, failures: pl.DataFrame) -> list[str]:
    notes = []
    if failures.height:
        jobs = ", ".join(f"{n} {job}" for job, n in failures.group_by("job").len().sort("job").iter_rows())
        notes.append(f"{failures.height} job(s) failed ({jobs}); see 'Failed jobs'")
    counted = per_suspect.filter(pl.col("role").is_in(COUNTED_ROLES))
    for method, failed, pending in (
        counted.group_by("method")
        .agg(failed=(pl.col("status") == "failed").sum(), pending=(pl.col("status") == "pending").sum())
        .sort("method")
        .iter_rows()
    ):
        if failed or pending:
            notes.append(f"{method}: {failed} suspect(s) failed and {pending} not queried yet; they count in n_missing")
    overall = metrics.filter(pl.col("attack") == ALL)
    for row in overall.iter_rows(named=True):
        if row["n_pos"] + row["n_neg"] == 0:
            notes.append(f"{row['method']}: no finite score at all, so no metric (empty method)")
        if row["n_invalid"]:
            notes.append(f"{row['method']}: {row['n_invalid']} NaN/inf score(s) excluded from its metrics")
    for method, bad in per_suspect.group_by("method").agg(pl.col("n_nonfinite").sum()).sort("method").iter_rows():
        if bad:
            notes.append(f"{method}: {bad} query row(s) with NaN/inf logits (no label in label_match)")
    for method in overall.filter(pl.col("score_scale") == UNDECLARED.name).get_column("method").to_list():
        notes.append(f"{method}: declares no score scale (methods/scales.py), so ARUC reads its score as a rate")
    withheld = metrics.filter(pl.col("aruc_note").is_not_null()).group_by("method")
    for method, rows, note in withheld.agg(pl.len(), pl.col("aruc_note").min()).sort("method").iter_rows():
        notes.append(f"{method}: ARUC left out of {rows} metric row(s) ({note}; see aruc_note)")
    small = metrics.filter(pl.col("too_small")).height
    if small:
        notes.append(f"{small} of {metrics.height} metric rows have too few positives or negatives (marked †)")
    return notes
