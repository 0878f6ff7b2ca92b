"""Paper-style tables: the report's numbers laid out the way the papers print them.

Every function returns a small DataFrame of strings, ready for any renderer (HTML,
Markdown, rich). A metric cell reads `0.934 [0.85, 1.00] 5/40`: the point estimate,
its 95 % CI (AUC: DeLong on the logit scale; ARUC: bootstrap) and the cell's
n_pos/n_neg, so no number is shown without the suspect counts behind it. Marks: †
too few positives or negatives (too_small), * ARUC on the score mapped to [0, 1] by
the method's declared range (score_mapped); "—" where a cell has no positives or no
negatives; "n/a" where ARUC is not defined (aruc_note says why).

* attack_table — methods × attacks, like the SAC appendix tables: one column per
  method, one row per attack family ("all" first) and per sweep value below it.
* arch_table — methods × student architectures for the attack families that vary
  the architecture (distill, knockoff, extract; NaturalFinger Fig. 7 as numbers).
* margin_table — the matching-rate margin per attack and sweep value (Figs. 6-7).
* headline_table, cost_table, failures_table — the summary, what each method costs,
  and every failed job.
"""

from __future__ import annotations

import polars as pl

from .params import ALL

SMALL_MARK, MAPPED_MARK, INVALID_MARK, NO_ARUC = "†", "*", "⚠", "n/a"


def estimate(value, lo=None, hi=None, too_small=False, mapped=False) -> str:
    """`0.934 [0.85, 1.00]` with its marks, or "—"."""
    if value is None:
        return "—"
    text = f"{value:.3f}"
    if lo is not None and hi is not None:
        text += f" [{lo:.2f}, {hi:.2f}]"
    return text + (MAPPED_MARK if mapped else "") + (SMALL_MARK if too_small else "")


def _fraction(value) -> str:
    return "—" if value is None else f"{value:.2f}"


def setting(attack: str, param: str, value: str) -> str:
    """How a row is named in a table: "prune", "prune · rate=0.5" or "all"."""
    return attack if param == ALL else f"{attack} · {param}={value}"


def headline_table(metrics: pl.DataFrame) -> pl.DataFrame:
    """One line per (method, attack family): sizes, AUC and ARUC with CIs, ARUC (>), TPR at 1 %/5 % FPR."""
    rows = []
    for r in metrics.filter(pl.col("param") == ALL).iter_rows(named=True):
        rows.append({
            "method": r["method"],
            "attack": r["attack"],
            "n_pos": str(r["n_pos"]),
            "n_neg": str(r["n_neg"]),
            "invalid": str(r["n_invalid"]),
            "missing": str(r["n_missing"]),
            "AUC [95% CI]": estimate(r["auc"], r["auc_lo"], r["auc_hi"], r["too_small"]),
            "ARUC [95% CI]": _aruc(r, estimate(r["aruc"], r["aruc_lo"], r["aruc_hi"], r["too_small"],
                                               r["score_mapped"])),
            "ARUC (>)": _aruc(r, estimate(r["aruc_strict"], too_small=r["too_small"], mapped=r["score_mapped"])),
            "TPR@1%FPR": _fraction(r["tpr_at_1fpr"]),
            "TPR@5%FPR": _fraction(r["tpr_at_5fpr"]),
        })
    return pl.DataFrame(rows, schema=dict.fromkeys(rows[0] if rows else ["method", "attack"], pl.String))


def _aruc(r: dict, text: str) -> str:
    """An ARUC cell's text, or "n/a" where the method's score has no usable [0, 1] scale."""
    return NO_ARUC if r["aruc_note"] is not None else text


def _metric_cell(r: dict, metric: str) -> str:
    lo, hi = (r.get(f"{metric}_lo"), r.get(f"{metric}_hi"))
    text = estimate(r[metric], lo, hi, r["too_small"], metric.startswith("aruc") and r["score_mapped"])
    return f"{_aruc(r, text) if metric.startswith('aruc') else text} {r['n_pos']}/{r['n_neg']}"


def attack_table(metrics: pl.DataFrame, metric: str = "auc") -> pl.DataFrame:
    """Rows: attack settings in report order; columns: one per method; cells: `metric` with CI and n."""
    methods = metrics.get_column("method").unique().sort().to_list()
    table: dict[str, dict[str, str]] = {}
    for r in metrics.iter_rows(named=True):
        name = setting(r["attack"], r["param"], r["value"])
        table.setdefault(name, {"attack": name})[r["method"]] = _metric_cell(r, metric)
    schema = {"attack": pl.String} | {m: pl.String for m in methods}
    return pl.DataFrame(list(table.values()), schema=schema).fill_null("—")


def arch_table(metrics: pl.DataFrame, metric: str = "auc") -> pl.DataFrame:
    """Rows: (attack, method) of families swept over `arch`; columns: architectures; cells: `metric`."""
    swept = metrics.filter(pl.col("param") == "arch")
    archs = swept.get_column("value").unique().sort().to_list()
    table: dict[tuple[str, str], dict[str, str]] = {}
    for r in swept.iter_rows(named=True):
        table.setdefault((r["attack"], r["method"]), {"attack": r["attack"], "method": r["method"]})[r["value"]] = (
            _metric_cell(r, metric)
        )
    schema = {"attack": pl.String, "method": pl.String} | {a: pl.String for a in archs}
    return pl.DataFrame(list(table.values()), schema=schema).fill_null("—")


def margin_table(margins: pl.DataFrame) -> pl.DataFrame:
    """Rows: attack settings; columns: methods; cells: mean margin (min, n = number of pairs)."""
    methods = margins.get_column("method").unique().sort().to_list()
    table: dict[str, dict[str, str]] = {}
    for r in margins.iter_rows(named=True):
        name = setting(r["attack"], r["param"], r["value"])
        cell = "—" if r["margin"] is None else f"{r['margin']:+.3f} (min {r['margin_min']:+.2f}, n={r['n_pairs']})"
        if r["n_unusable"]:
            cell += f" {INVALID_MARK}{r['n_unusable']} unusable"
        table.setdefault(name, {"attack": name})[r["method"]] = cell
    schema = {"attack": pl.String} | {m: pl.String for m in methods}
    return pl.DataFrame(list(table.values()), schema=schema).fill_null("—")


def cost_table(cost: pl.DataFrame) -> pl.DataFrame:
    """What each method costs, as text; a pooled owner-model count is marked "(run total)"."""
    def seconds(value) -> str:
        return "—" if value is None else f"{value:.2f}"

    rows = [
        {
            "method": r["method"],
            "access": r["access"] or "—",
            "generation s": seconds(r["generation_seconds"]),
            "owner models": f"{r['owner_models']}" + ("" if r["owner_attributed"] else " (run total)"),
            "owner training s": seconds(r["owner_train_seconds"]),
            "queries / suspect": "—" if r["queries_per_suspect"] is None else str(r["queries_per_suspect"]),
            "suspects queried": str(r["suspects_queried"]),
        }
        for r in cost.iter_rows(named=True)
    ]
    return pl.DataFrame(rows, schema=dict.fromkeys(rows[0] if rows else ["method"], pl.String))


def failures_table(failures: pl.DataFrame) -> pl.DataFrame:
    """Every failed job, errors cut to one line of at most 160 characters."""
    first_line = pl.col("error").str.split("\n").list.first().str.slice(0, 160)
    return failures.select(
        pl.col("job"), pl.col("method").fill_null("—"), pl.col("model_id").fill_null("—"),
        pl.col("attempts").cast(pl.String).fill_null("—"), error=first_line,
    )
