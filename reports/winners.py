"""Which method wins under which attack: the first lines a reader of a benchmark wants.

Per attack family (and over all attacks), the method with the highest ROC-AUC,
ARUC breaking ties, with the runner-up so a narrow win reads as one (and a tie as a
tie). Cells with too few positives or negatives to trust are left out, and an attack
where no method has a trustworthy cell says so instead of naming a winner.
"""
from __future__ import annotations

import polars as pl

from .metrics import ALL

COLUMNS = {"attack": pl.String, "winner": pl.String, "auc": pl.Float64, "aruc": pl.Float64,
           "runner_up": pl.String, "runner_up_auc": pl.Float64, "tie": pl.Boolean, "methods": pl.Int64}


def winners(metrics: pl.DataFrame) -> pl.DataFrame:
    """One row per attack: the winning method, its AUC/ARUC, the runner-up and how many methods competed."""
    cells = metrics
    if "param" in cells.columns:
        cells = cells.filter(pl.col("param") == ALL)
    cells = cells.filter(~pl.col("too_small"), pl.col("auc").is_not_null())
    rows = []
    attacks = sorted(set(cells.get_column("attack").to_list()), key=lambda a: (a != ALL, a))
    for attack in attacks:
        ranked = (cells.filter(pl.col("attack") == attack)
                  .sort(["auc", "aruc", "method"], descending=[True, True, False], nulls_last=True))
        best = ranked.row(0, named=True)
        second = ranked.row(1, named=True) if ranked.height > 1 else None
        rows.append({"attack": attack, "winner": best["method"], "auc": best["auc"], "aruc": best["aruc"],
                     "runner_up": second["method"] if second else None,
                     "runner_up_auc": second["auc"] if second else None,
                     "tie": bool(second) and (second["auc"], second["aruc"]) == (best["auc"], best["aruc"]),
                     "methods": ranked.height})
    return pl.DataFrame(rows, schema=COLUMNS)


def winner_lines(metrics: pl.DataFrame) -> list[str]:
    """Plain sentences, one per attack, for the top of a report or a terminal."""
    lines = []
    for row in winners(metrics).iter_rows(named=True):
        where = "over all attacks" if row["attack"] == ALL else f"under {row['attack']}"
        who = f"{row['winner']} and {row['runner_up']} tie" if row["tie"] else f"{row['winner']} wins"
        line = f"{where}: {who} (AUC {row['auc']:.3f}"
        line += f", ARUC {row['aruc']:.3f})" if row["aruc"] is not None else ")"
        if row["runner_up"] is not None and not row["tie"]:
            line += f"; runner-up {row['runner_up']} (AUC {row['runner_up_auc']:.3f})"
        lines.append(line)
    return lines or ["no method has enough positives and negatives under any attack to name a winner"]
