"""Query budget axis: AUC/ARUC recomputed from stored per-query outcomes, without re-running models."""
from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from reports.budget import BUDGET_SCHEMA, budget_display, budget_table, query_subsets
from reports.metrics import compute_metrics
from reports.suspects import label_suspects

N_QUERIES = 100


def synthetic(n_pos=25, n_neg=25, p_pos=0.7, p_neg=0.5, seed=0, extra=()):
    """Scores with outcomes (positives match a query with p_pos, negatives with p_neg) and their manifest."""
    rng = np.random.default_rng(seed)
    rows, models = [], [("src", "source", "source")]
    for i in range(n_pos):
        models.append((f"p{i}", "positive", "finetune" if i % 2 else "prune"))
    for i in range(n_neg):
        models.append((f"n{i}", "negative", "independent"))
    for model_id, role, _ in models:
        p = 1.0 if role == "source" else p_pos if role == "positive" else p_neg
        outcomes = (rng.random(N_QUERIES) < p).astype(np.float32)
        rows.append({"run_id": "r", "method": "ipguard", "model_id": model_id, "score": float(np.mean(outcomes == 1.0)),
                     "outcomes": outcomes.tolist()})
    rows += list(extra)
    scores = pl.DataFrame(rows, schema={"run_id": pl.String, "method": pl.String, "model_id": pl.String,
                                        "score": pl.Float64, "outcomes": pl.List(pl.Float32)})
    manifest = pl.DataFrame(models, schema=["model_id", "role", "attack"], orient="row").with_columns(
        attack_params=pl.lit("{}"), source_id=pl.lit("src"))
    return scores, manifest


def table_of(scores, models, **kw):
    labelled = label_suspects(scores, models).filter(pl.col("param") == "all").collect()
    return budget_table(scores, labelled, "r", **kw)


def test_more_queries_separate_better_and_all_queries_give_the_runs_auc():
    scores, models = synthetic()
    table = table_of(scores, models)
    assert table.schema == BUDGET_SCHEMA
    overall = {row["queries"]: row for row in table.filter(pl.col("attack") == "all").iter_rows(named=True)}
    assert sorted(overall) == [5, 10, 20, 50, N_QUERIES]
    aucs = [overall[b]["auc"] for b in (5, 20, N_QUERIES)]
    assert aucs[0] < aucs[1] < aucs[2], aucs
    assert aucs[0] < 0.85 and aucs[2] > 0.97  # 5 coin flips at 0.7 vs 0.5 blur; 100 nearly separate
    assert overall[5]["repeats"] == 20 and overall[5]["auc_sd"] > 0.02
    assert overall[5]["auc_lo"] <= overall[5]["auc"] <= overall[5]["auc_hi"]
    assert overall[N_QUERIES]["repeats"] == 1 and overall[N_QUERIES]["auc_sd"] == 0
    # at the full budget the recomputed AUC and ARUC are the run's own
    run = compute_metrics(scores.drop("outcomes"), models, "r", resamples=0)
    for attack in ("all", "prune", "finetune"):
        full = table.filter((pl.col("attack") == attack) & (pl.col("queries") == N_QUERIES)).row(0, named=True)
        mine = run.filter((pl.col("attack") == attack) & (pl.col("param") == "all")).row(0, named=True)
        assert full["auc"] == pytest.approx(mine["auc"], abs=1e-12)
        assert full["aruc"] == pytest.approx(mine["aruc"], abs=1e-12)
        assert (full["n_pos"], full["n_neg"]) == (mine["n_pos"], mine["n_neg"])


def test_budget_auc_equals_sklearn_on_the_subset_means():
    scores, models = synthetic(seed=3)
    table = table_of(scores, models, budgets=(10,), repeats=1, seed=7)
    keep = query_subsets("ipguard", N_QUERIES, (10,), 1, 7).filter(pl.col("queries") == 10)
    index = np.sort(keep.get_column("query_index").to_numpy())
    assert len(index) == 10 and len(set(index)) == 10
    suspects = scores.filter(pl.col("model_id").str.starts_with("p") | pl.col("model_id").str.starts_with("n"))
    outcomes = np.array(suspects.get_column("outcomes").to_list())
    labels = suspects.get_column("model_id").str.starts_with("p").to_numpy()
    src = np.array(scores.filter(pl.col("model_id") == "src").get_column("outcomes").to_list())
    # "all" counts the source as a positive too
    expected = roc_auc_score(np.r_[labels, True], np.r_[outcomes[:, index].mean(axis=1), src[:, index].mean(axis=1)])
    got = table.filter((pl.col("attack") == "all") & (pl.col("queries") == 10)).item(0, "auc")
    assert got == pytest.approx(expected, abs=1e-12)


def test_subsets_are_seeded_nested_and_blind_to_the_suspects():
    a = query_subsets("ipguard", 60, (5, 20), 3, seed=0)
    assert a.equals(query_subsets("ipguard", 60, (5, 20), 3, seed=0))
    assert not a.equals(query_subsets("ipguard", 60, (5, 20), 3, seed=1))
    for r in range(3):
        small = a.filter((pl.col("queries") == 5) & (pl.col("repeat") == r)).get_column("query_index").to_list()
        large = a.filter((pl.col("queries") == 20) & (pl.col("repeat") == r)).get_column("query_index").to_list()
        assert large[:5] == small  # a larger budget asks more of the same queries
    # a suspect's budget scores do not move when another suspect joins the run
    scores, models = synthetic()
    intruder = {"run_id": "r", "method": "ipguard", "model_id": "n99", "score": 1.0, "outcomes": [1.0] * N_QUERIES}
    more_scores, _ = synthetic(extra=[intruder])
    more_models = pl.concat([models, models.filter(pl.col("model_id") == "n0").with_columns(model_id=pl.lit("n99"))])
    before, after = table_of(scores, models), table_of(more_scores, more_models)
    assert before.filter(pl.col("queries") == 5).height == after.filter(pl.col("queries") == 5).height
    assert after.filter((pl.col("attack") == "all") & (pl.col("queries") == 5)).item(0, "n_neg") == 26


def test_methods_without_outcomes_have_no_budget_rows_and_display_reads():
    scores, models = synthetic()
    verifier = scores.with_columns(method=pl.lit("metav"), outcomes=pl.lit(None, pl.List(pl.Float32)))
    table = table_of(pl.concat([scores, verifier]), models)
    assert set(table.get_column("method")) == {"ipguard"}
    shown = budget_display(table)
    assert shown.columns == ["method", "queries", "5", "10", "20", "50", "all"]
    assert shown.row(0)[:2] == ("ipguard", str(N_QUERIES)) and "±" in shown.item(0, "5")
    assert table_of(scores.drop("outcomes"), models).is_empty()
