"""Which methods tell output-based stealing from independent training, per run (= per data set).

For each run directory given (e.g. the `default` spec on `digits` and on
`hard_digits`), prints per method: ROC-AUC of the distillation and Knockoff
students against the run's negatives, the same for fine-tuning (the easy case), and
the mean agreement with the source on the method's own queries (`label_match`) of
the distilled students, the Knockoff students and the independent models. For
methods with a hypothesis test, also the share of distilled students and of
independent models with p < 0.01 and p < 0.05.

    .venv/bin/python benchmarks/stealing_by_dataset.py RUN_DIR [RUN_DIR ...]
"""
from __future__ import annotations

import sys

import polars as pl

from reports.analysis import analyse
from reports.load import load_run


def summarise(run_dir: str) -> pl.DataFrame:
    run = load_run(run_dir)
    analysis = analyse(run, resamples=0)
    auc = analysis.metrics.filter(pl.col("param") == "all").pivot(
        on="attack", index="method", values="auc", aggregate_function="first")
    scores = analysis.scores.filter(pl.col("status") == "scored")
    positive = (pl.col("role") == "positive")
    groups = {
        "distill": positive & (pl.col("attack") == "distill"),
        "knockoff": positive & (pl.col("attack") == "knockoff"),
        "indep": (pl.col("role") == "negative") & (pl.col("lineage") == "independent")
        & (pl.col("attack") == "independent"),
    }
    aggregations = [pl.col("label_match").filter(g).mean().alias(f"match {k}") for k, g in groups.items()]
    for key in ("distill", "indep"):
        for alpha in (0.01, 0.05):
            hit = (pl.col("p_value") < alpha).cast(pl.Float64)
            aggregations.append(hit.filter(groups[key] & pl.col("p_value").is_not_null()).mean()
                                .alias(f"p<{alpha} {key}"))
    agreement = scores.group_by("method").agg(aggregations)
    columns = [c for c in ("finetune", "distill", "knockoff") if c in auc.columns]
    table = auc.select("method", *[pl.col(c).alias(f"AUC {c}") for c in columns]).join(agreement, on="method")
    return table.with_columns(pl.lit(run.dataset).alias("dataset")).sort("method")


def main(run_dirs: list[str]) -> None:
    if not run_dirs:
        raise SystemExit(__doc__)
    with pl.Config(tbl_rows=100, tbl_cols=20, float_precision=3, tbl_width_chars=200):
        for run_dir in run_dirs:
            print(run_dir)
            print(summarise(run_dir))


if __name__ == "__main__":
    main(sys.argv[1:])
