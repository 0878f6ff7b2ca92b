"""AUC and ARUC against the query budget, recomputed from stored per-query outcomes.

A method whose score is the mean of per-query outcomes (`Method.per_query`: the
matching-rate methods) stores those outcomes beside its score. How good would it be
with only b of its N fingerprint queries? The owner would pick b queries once and ask
every suspect the same b, so for each repeat r a deterministic permutation of the N
query indices is drawn (seeded by the run's report seed, r and the method's label,
never by the suspects), and the budget-b score of every suspect is the mean of its
outcomes on the first b indices of that permutation: budgets are nested, as an owner
growing a budget would ask more of the same queries. AUC and ARUC are then computed
per (method, attack, budget, repeat) exactly as in `reports.metrics` (rank AUC; ARUC
on the 101-point grid), and summarised over the repeats: mean, standard deviation and
the 2.5 / 97.5 % quantiles (the spread due to which queries were picked). The full
budget (all N queries) has one draw and is the run's own AUC. No model is re-run.
"""
from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import polars as pl

from .curves import ru_curves
from .metrics import aruc_from_curves

BUDGETS = (5, 10, 20, 50)  # plus "all" of each method's queries
REPEATS = 20
KEYS = ("method", "attack", "queries", "repeat")

BUDGET_SCHEMA = pl.Schema(
    {
        "run_id": pl.String,
        "method": pl.String,
        "attack": pl.String,
        "queries": pl.Int64,  # the budget b
        "n_queries": pl.Int64,  # all of the method's fingerprint queries, N
        "repeats": pl.Int64,  # subsets drawn (1 at b = N)
        "n_pos": pl.Int64,
        "n_neg": pl.Int64,
        "auc": pl.Float64,  # mean over the repeats
        "auc_sd": pl.Float64,
        "auc_lo": pl.Float64,  # 2.5 % quantile over the repeats
        "auc_hi": pl.Float64,  # 97.5 %
        "aruc": pl.Float64,
        "aruc_sd": pl.Float64,
    }
)


def query_subsets(method: str, n_queries: int, budgets: Sequence[int], repeats: int, seed: int) -> pl.DataFrame:
    """(method, queries, repeat, query_index): the query indices each budget and repeat keeps."""
    rows: dict[str, list[int]] = {"queries": [], "repeat": [], "query_index": []}
    draws = [(b, repeats) for b in sorted(set(budgets)) if 0 < b < n_queries] + [(n_queries, 1)]
    orders = [np.random.default_rng([seed, r, zlib.crc32(method.encode())]).permutation(n_queries)
              for r in range(repeats)]
    for budget, times in draws:
        for r in range(times):
            rows["queries"] += [budget] * budget
            rows["repeat"] += [r] * budget
            rows["query_index"] += orders[r][:budget].tolist()
    return pl.DataFrame(rows, schema={"queries": pl.Int64, "repeat": pl.Int64, "query_index": pl.Int64}).with_columns(
        method=pl.lit(method))


def budget_table(
    scores: pl.DataFrame,
    labelled: pl.DataFrame | pl.LazyFrame,
    run_id: str,
    budgets: Sequence[int] = BUDGETS,
    repeats: int = REPEATS,
    seed: int = 0,
) -> pl.DataFrame:
    """BUDGET_SCHEMA rows per (method, attack, budget) for every method with stored outcomes.

    `scores` holds (method, model_id, outcomes); `labelled` the report's suspect sets
    per attack family (`label_suspects` rows with param = "all").
    """
    outcomes = _exploded(scores)
    if outcomes.is_empty():
        return pl.DataFrame(schema=BUDGET_SCHEMA)
    lengths = outcomes.group_by("method").agg(n_queries=pl.col("query_index").max() + 1).sort("method")
    subsets = pl.concat([query_subsets(m, n, budgets, repeats, seed) for m, n in lengths.iter_rows()])
    per_budget = (
        outcomes.join(subsets, on=["method", "query_index"])
        .group_by("method", "queries", "repeat", "model_id")
        .agg(score=pl.col("outcome").mean())
    )
    sets = pl.DataFrame(labelled.lazy().select("method", "attack", "model_id", "label").collect())
    scored = per_budget.join(sets, on=["method", "model_id"]).sort(*KEYS, "model_id")
    draws = _auc(scored).join(aruc_from_curves(ru_curves(scored, extra=KEYS[2:]), extra=KEYS[2:]),
                              on=list(KEYS), how="left")
    summary = draws.group_by("method", "attack", "queries").agg(
        repeats=pl.len().cast(pl.Int64),
        n_pos=pl.col("n_pos").max(),
        n_neg=pl.col("n_neg").max(),
        auc_sd=pl.col("auc").std(ddof=1).fill_null(0.0),
        auc_lo=pl.col("auc").quantile(0.025, "linear"),
        auc_hi=pl.col("auc").quantile(0.975, "linear"),
        aruc_sd=pl.col("aruc").std(ddof=1).fill_null(0.0),
        auc=pl.col("auc").mean(),
        aruc=pl.col("aruc").mean(),
    )
    return (
        summary.join(lengths, on="method")
        .with_columns(run_id=pl.lit(run_id))
        .select(pl.col(name).cast(dtype) for name, dtype in BUDGET_SCHEMA.items())
        .sort("method", pl.col("attack") != "all", "attack", "queries")
    )


def _exploded(scores: pl.DataFrame) -> pl.DataFrame:
    """(method, model_id, query_index, outcome) for every score that carries outcomes."""
    if "outcomes" not in scores.columns:
        return pl.DataFrame(schema={"method": pl.String, "model_id": pl.String, "query_index": pl.Int64,
                                    "outcome": pl.Float64})
    return (
        scores.filter(pl.col("outcomes").is_not_null() & (pl.col("outcomes").list.len() > 0))
        .select("method", "model_id", outcome=pl.col("outcomes"),
                query_index=pl.int_ranges(pl.col("outcomes").list.len(), dtype=pl.Int64))
        .explode("outcome", "query_index")
        .with_columns(pl.col("outcome").cast(pl.Float64))
    )


def _auc(scored: pl.DataFrame) -> pl.DataFrame:
    """Rank AUC (ties count half) and the side sizes per (method, attack, budget, repeat)."""
    label = pl.col("label")
    ranked = scored.with_columns(rank=pl.col("score").rank("average").over(KEYS))
    n_pos, n_neg = label.sum().cast(pl.Int64), label.not_().sum().cast(pl.Int64)
    counted = ranked.group_by(KEYS).agg(n_pos=n_pos, n_neg=n_neg, rank_pos=pl.col("rank").filter(label).sum())
    p, n = pl.col("n_pos").cast(pl.Float64), pl.col("n_neg").cast(pl.Float64)
    return counted.with_columns(auc=pl.when((p > 0) & (n > 0)).then((pl.col("rank_pos") - p * (p + 1) / 2) / (p * n)))


def budget_display(budget: pl.DataFrame) -> pl.DataFrame:
    """The report's table: one row per method, AUC mean ± sd at each budget of the "all" row."""
    overall = budget.filter(pl.col("attack") == "all")
    if overall.is_empty():
        return pl.DataFrame()
    cell = pl.when(pl.col("repeats") > 1).then(pl.format("{} ±{}", pl.col("auc").round(3), pl.col("auc_sd").round(3)))
    full = pl.col("queries") == pl.col("n_queries")
    wide = overall.with_columns(cell=cell.otherwise(pl.col("auc").round(3).cast(pl.String)).fill_null("—"),
                                budget=pl.when(full).then(pl.lit("all")).otherwise(pl.col("queries").cast(pl.String)))
    order = [str(b) for b in sorted(wide.filter(full.not_()).get_column("queries").unique())] + ["all"]
    table = wide.pivot("budget", index=["method", "n_queries"], values="cell", aggregate_function="first")
    present = [c for c in order if c in table.columns]
    return (table.sort("method").select("method", pl.col("n_queries").cast(pl.String).alias("queries"), *present)
            .fill_null(""))
