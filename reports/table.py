"""Print the headline metrics as a rich table that never hides a weak or dirty number.

Only the attack-level rows are printed (param = "all"); the per-parameter rows are in
report.html/report.md and metrics.parquet. Rows with too few positives or negatives
(too_small) show their AUC/ARUC dimmed with a "†"; an ARUC on scores mapped to [0, 1]
by the method's declared range gets a "*", one that is not defined for the method's
score reads "n/a"; rows that had NaN/inf scores show the count in yellow with "⚠",
and print_metrics adds a warning line; suspects without a score show under
"missing". Missing values (no positives or no negatives) print as "—".
"""

from __future__ import annotations

import polars as pl
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .paper import INVALID_MARK, MAPPED_MARK, NO_ARUC, SMALL_MARK
from .winners import winner_lines


def _value(value: float | None, too_small: bool, suffix: str = "") -> Text:
    if value is None:
        return Text("—", style="dim")
    text = f"{value:.3f}{suffix}"
    return Text(text + SMALL_MARK, style="dim") if too_small else Text(text)


def _with_interval(value: Text, lo: float | None, hi: float | None) -> Text:
    if lo is None or hi is None:
        return value
    return value + Text(f" [{lo:.2f}, {hi:.2f}]", style="dim")


def render_metrics(metrics: pl.DataFrame) -> Table:
    """A table with one line per (method, attack) and a caption explaining the marks that occur."""
    if "param" in metrics.columns:
        metrics = metrics.filter(pl.col("param") == "all")
    run_ids = metrics.get_column("run_id").unique().sort().to_list()
    table = Table(title=f"Ownership verification — run {', '.join(run_ids) or '?'}")
    for name in ("method", "attack"):
        table.add_column(name)
    for name in ("n_pos", "n_neg", "invalid", "missing", "AUC [95% CI]", "ARUC [95% CI]", "TPR@1%FPR"):
        table.add_column(name, justify="right")

    previous_method = None
    for row in metrics.iter_rows(named=True):
        if previous_method is not None and row["method"] != previous_method:
            table.add_section()
        previous_method = row["method"]
        invalid = row["n_invalid"]
        table.add_row(
            row["method"],
            Text(row["attack"], style="bold" if row["attack"] == "all" else ""),
            str(row["n_pos"]),
            str(row["n_neg"]),
            Text(f"{invalid} {INVALID_MARK}", style="bold yellow") if invalid else Text("0", style="dim"),
            Text(str(row["n_missing"]), style="bold yellow" if row["n_missing"] else "dim"),
            _with_interval(_value(row["auc"], row["too_small"]), row["auc_lo"], row["auc_hi"]),
            Text(NO_ARUC, style="dim") if row["aruc_note"] is not None else _with_interval(
                _value(row["aruc"], row["too_small"], MAPPED_MARK if row["score_mapped"] else ""),
                row["aruc_lo"],
                row["aruc_hi"],
            ),
            _value(row["tpr_at_1fpr"], row["too_small"]),
        )

    notes = []
    if metrics.is_empty():
        notes.append("no scores yet: no method has finished")
    if metrics.get_column("too_small").any():
        notes.append(f"{SMALL_MARK} too few positives or negatives to trust")
    if metrics.get_column("score_mapped").any():
        notes.append(f"{MAPPED_MARK} ARUC on scores mapped to [0, 1] by the method's declared range")
    if metrics.get_column("aruc_note").is_not_null().any():
        notes.append(f"{NO_ARUC}: ARUC not defined for the method's score (aruc_note in metrics.parquet)")
    if metrics.get_column("n_invalid").sum():
        notes.append(f"{INVALID_MARK} NaN/inf scores excluded from the metrics")
    if metrics.get_column("n_missing").sum():
        notes.append("missing: suspects without a score (failed or not yet queried)")
    table.caption = "\n".join(notes) or None
    return table


def print_metrics(metrics: pl.DataFrame, console: Console | None = None) -> None:
    """Print the table, then a warning naming every method that produced NaN/inf scores."""
    console = console or Console()
    console.print(render_metrics(metrics))
    invalid = (
        metrics.filter(pl.col("attack") == "all", pl.col("n_invalid") > 0)
        .select("method", "n_invalid")
        .iter_rows()
    )
    for method, count in invalid:
        console.print(
            f"[bold yellow]{INVALID_MARK} {method}: {count} NaN/inf score(s) excluded from its metrics[/]"
        )


def print_winners(metrics: pl.DataFrame, console: Console | None = None, dataset: str | None = None) -> None:
    """Which method wins under which attack, one line each: what a reader looks for first."""
    console = console or Console()
    console.print(f"[bold]Which method wins{f' on {dataset}' if dataset else ''}[/]")
    for line in winner_lines(metrics):
        console.print(f"  {line}", soft_wrap=True)  # a sentence per line, even in a narrow or piped terminal
