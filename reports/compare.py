"""Several runs side by side: the same metrics, one column group per run.

Each run's metrics are recomputed from its own directory with the same settings
(min_count, bootstrap size and seed), so the columns are comparable; nothing is read
from an older report/ folder that might be stale. Runs are named by their directory
name, or by their path where two directory names are equal. The long table
(`compare_runs`) has `run` and `dataset` columns, then the METRIC_SCHEMA columns (runs
on different data sets are not comparable figure by figure: the printed header names
each run's data set); the printed table (`print_comparison`) shows the attack-level rows, AUC and ARUC with CI and n per run,
and, when exactly two runs are compared, ΔAUC (second minus first) with DeLong's test
(`compare_difference`: paired where the runs share a zoo, unpaired where they do not).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import polars as pl
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .load import load_run
from .metrics import compute_metrics
from .paper import estimate
from .params import ALL
from .run_difference import difference_display, run_difference
from .suspects import label_suspects, run_scales


def _names(run_dirs: Sequence[Path]) -> list[str]:
    short = [p.name for p in run_dirs]
    return [s if short.count(s) == 1 else str(p) for s, p in zip(short, run_dirs)]


def compare_runs(
    run_dirs: Sequence[str | os.PathLike], min_count: int = 3, resamples: int = 1000, seed: int = 0
) -> pl.DataFrame:
    """The metrics of every run stacked, with a leading `run` column naming the run."""
    paths = [Path(p) for p in run_dirs]
    frames = []
    for name, path in zip(_names(paths), paths):
        run = load_run(path)
        metrics = compute_metrics(run.scores, run.models, run.run_id, min_count, run.methods, resamples, seed,
                                  run_scales(run.info))
        frames.append(metrics.select(pl.lit(name).alias("run"), pl.lit(run.dataset).alias("dataset"), pl.all()))
    return pl.concat(frames)


def compare_difference(first: str | os.PathLike, second: str | os.PathLike) -> pl.DataFrame:
    """DeLong tests of AUC(second) − AUC(first) per method and attack family (`reports.run_difference`)."""
    labelled = []
    for path in (first, second):
        run = load_run(path)
        scores = run.scores.collect()
        labelled.append(label_suspects(scores, run.models.collect(), run_scales(run.info))
                        .filter(pl.col("param") == ALL).collect())
    return run_difference(*labelled)


def _cell(row: dict | None, metric: str) -> str:
    if row is None:
        return "not in run"
    mapped = metric == "aruc" and row["score_mapped"]
    value = estimate(row[metric], row[f"{metric}_lo"], row[f"{metric}_hi"], row["too_small"], mapped)
    return f"{value} {row['n_pos']}/{row['n_neg']}"


def render_comparison(compared: pl.DataFrame, difference: pl.DataFrame | None = None) -> Table:
    """One line per (method, attack) present in any run; AUC and ARUC per run; with two runs, ΔAUC
    and (given `difference`, from `compare_difference`) its test.

    Run, data set, method and attack names come from the run directories, so they are
    escaped: a directory named `x[/]` must print as that, not be read as markup.
    """
    runs = compared.get_column("run").unique(maintain_order=True).to_list()
    headline = compared.filter(pl.col("param") == ALL)
    by_key = {(r["run"], r["method"], r["attack"]): r for r in headline.iter_rows(named=True)}
    keys = headline.select("method", "attack").unique(maintain_order=True).sort(
        "method", pl.col("attack") != ALL, "attack"
    )
    table = Table(title=f"Comparison of {len(runs)} runs")
    table.add_column("method")
    table.add_column("attack")
    datasets = dict(compared.select("run", "dataset").unique(maintain_order=True).iter_rows())
    for run in runs:
        table.add_column(f"{escape(run)} ({escape(str(datasets[run]))})\nAUC [95% CI] n+/n−", justify="right")
        table.add_column(f"{escape(run)}\nARUC", justify="right")
    tested = difference_display(difference) if difference is not None else {}
    if len(runs) == 2:
        table.add_column("ΔAUC [95% CI] p (Holm)" if tested else "ΔAUC", justify="right")
    for method, attack in keys.iter_rows():
        rows = [by_key.get((run, method, attack)) for run in runs]
        cells = [text for row in rows for text in (_cell(row, "auc"), _cell(row, "aruc"))]
        if len(runs) == 2:
            first, second = (row["auc"] if row else None for row in rows)
            delta = "—" if first is None or second is None else f"{second - first:+.3f}"
            cells.append(tested.get((method, attack), delta))
        table.add_row(escape(str(method)), escape(str(attack)), *cells)
    table.caption = "† too few positives or negatives; * scores put on [0, 1] by the method's declared scale; — undefined"
    if tested:
        table.caption += ("; ΔAUC tested paired where the runs share the cell's suspects, unpaired where not; "
                          "* p (Holm) < 0.05")
    return table


def print_comparison(compared: pl.DataFrame, console: Console | None = None,
                     difference: pl.DataFrame | None = None) -> None:
    """Print render_comparison's table to `console` (default: stdout)."""
    (console or Console()).print(render_comparison(compared, difference))
