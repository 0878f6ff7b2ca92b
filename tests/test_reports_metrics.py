"""Metrics on an engine-shaped fixture, by hand: sweep rows, TPR at fixed FPR, ARUC variants, CIs."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from test_reports import GRID, auc_by_pairs, aruc_by_hand
from test_reports_fixtures import SCORES, write_engine_run

from methods.scales import RATE
from reports import compute_metrics, load_run
from reports.bootstrap import weighted_aruc, weighted_uniqueness
from reports.metrics import METRIC_SCHEMA

RATES = dict.fromkeys(("mr", "m", "fp", "wm", "silent", "ghost"), RATE)  # the fixtures' methods score matching rates

NEGATIVES = [SCORES[k] for k in ("ms", "m2", "m5", "mdc", "mdm", "i1", "i2")]
CELLS = {  # (attack, param, value) -> positives
    ("all", "all", "all"): ["s", "p2", "p5", "dc", "dm"],
    ("distill", "all", "all"): ["dc", "dm"],
    ("distill", "arch", "cnn"): ["dc"],
    ("distill", "arch", "mlp"): ["dm"],
    ("prune", "all", "all"): ["p2", "p5"],
    ("prune", "rate", "0.2"): ["p2"],
    ("prune", "rate", "0.5"): ["p5"],
}


@pytest.fixture(scope="module")
def metrics(tmp_path_factory) -> pl.DataFrame:
    run = load_run(write_engine_run(tmp_path_factory.mktemp("m") / "run", {"mr": SCORES}))
    return compute_metrics(run.scores, run.models, run.run_id, min_count=2, methods=run.methods, scales=RATES)


def cell(metrics: pl.DataFrame, attack: str, param: str = "all", value: str = "all", method: str = "mr") -> dict:
    found = metrics.filter(method=method, attack=attack, param=param, value=value)
    assert found.height == 1, (attack, param, value)
    return found.row(0, named=True)


def strict_aruc_by_hand(pos, neg) -> float:
    """MarginFinger's variant: R counts s > τ."""
    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    low = np.minimum([(pos > t).mean() for t in GRID], [(neg < t).mean() for t in GRID])
    return float(np.sum((low[1:] + low[:-1]) / 2 * np.diff(GRID)))


def test_rows_are_every_family_and_sweep_value(metrics):
    assert metrics.schema == METRIC_SCHEMA
    assert [tuple(r) for r in metrics.select("attack", "param", "value").rows()] == list(CELLS)


@pytest.mark.parametrize("key", list(CELLS))
def test_each_cell_equals_hand_computed_values(metrics, key):
    positives = [SCORES[k] for k in CELLS[key]]
    r = cell(metrics, *key)
    assert (r["n_pos"], r["n_neg"], r["n_invalid"], r["n_missing"]) == (len(positives), 7, 0, 0)
    assert r["auc"] == pytest.approx(auc_by_pairs(positives, NEGATIVES), abs=1e-12)
    assert r["aruc"] == pytest.approx(aruc_by_hand(positives, NEGATIVES), abs=1e-12)
    assert r["aruc_strict"] == pytest.approx(strict_aruc_by_hand(positives, NEGATIVES), abs=1e-12)
    # 7 negatives: 1 % and 5 % allow no false positive, so t = the highest negative, 0.5.
    expected_tpr = float(np.mean(np.array(positives) > 0.5))
    assert r["tpr_at_1fpr"] == pytest.approx(expected_tpr) and r["tpr_at_5fpr"] == pytest.approx(expected_tpr)
    assert r["too_small"] == (len(positives) < 2)


def test_known_values(metrics):
    assert cell(metrics, "prune")["auc"] == 1.0  # 0.9 and 0.6 beat every negative (max 0.5)
    assert cell(metrics, "distill", "arch", "mlp")["auc"] == pytest.approx(5 / 7)  # 0.35 beats 5 of 7
    assert cell(metrics, "all")["tpr_at_5fpr"] == pytest.approx(4 / 5)  # all but 0.35 are above 0.5


def tiny_metrics(pos: list[float], neg: list[float], copies: int = 1, **kwargs) -> dict:
    ids = [f"p{i}" for i in range(len(pos) * copies)] + [f"n{i}" for i in range(len(neg) * copies)]
    models = pl.DataFrame({"model_id": ids, "role": ["positive"] * len(pos) * copies + ["negative"] * len(neg) * copies,
                           "attack": ["finetune"] * len(pos) * copies + ["independent"] * len(neg) * copies})
    scores = pl.DataFrame({"method": ["m"] * len(ids), "model_id": ids, "score": pos * copies + neg * copies})
    metrics = compute_metrics(scores, models, "tiny", min_count=1, scales=RATES, **kwargs)
    return metrics.filter(attack="all").row(0, named=True)


def test_tpr_at_fixed_fpr_picks_the_threshold_from_negatives():
    negatives = [k / 20 for k in range(20)]  # 0.0 … 0.95; 5 % of 20 allows one false positive
    positives = [0.99, 0.95, 0.92, 0.90, 0.5]
    r = tiny_metrics(positives, negatives)
    # 1 %: no false positive, t = 0.95 → only 0.99 is strictly above; 5 %: t = 0.90 (2nd highest) → 0.99, 0.95, 0.92.
    assert r["tpr_at_1fpr"] == pytest.approx(1 / 5)
    assert r["tpr_at_5fpr"] == pytest.approx(3 / 5)


def test_strict_aruc_differs_only_at_grid_ties():
    on_grid = tiny_metrics([0.5, 0.5, 0.8], [0.1, 0.2])
    assert on_grid["aruc_strict"] < on_grid["aruc"]
    assert on_grid["aruc"] == pytest.approx(aruc_by_hand([0.5, 0.5, 0.8], [0.1, 0.2]), abs=1e-12)
    assert on_grid["aruc_strict"] == pytest.approx(strict_aruc_by_hand([0.5, 0.5, 0.8], [0.1, 0.2]), abs=1e-12)
    off_grid = tiny_metrics([0.505, 0.555, 0.805], [0.105, 0.205])
    assert off_grid["aruc_strict"] == pytest.approx(off_grid["aruc"], abs=1e-12)


# --- confidence intervals ----------------------------------------------------------------------


def test_unit_weights_reproduce_the_point_estimates(metrics):
    grid = np.asarray(GRID)
    for key, names in CELLS.items():
        pos = np.sort([SCORES[k] for k in names])
        neg = np.sort(NEGATIVES)
        uniqueness = weighted_uniqueness(neg, np.ones((1, len(neg))), grid)
        got = weighted_aruc(pos, np.ones((1, len(pos))), uniqueness, grid)[0]
        assert got == pytest.approx(cell(metrics, *key)["aruc"], abs=1e-12)


def test_ci_contains_the_point_estimate(metrics):
    for r in metrics.iter_rows(named=True):
        assert r["aruc_lo"] <= r["aruc"] <= r["aruc_hi"]
        if r["n_pos"] < 2:  # DeLong's variance needs two scores a side
            assert r["auc_lo"] is None and r["auc_hi"] is None
            continue
        assert 0 <= r["auc_lo"] <= r["auc"] <= r["auc_hi"] <= 1
        assert r["auc_lo"] < r["auc_hi"]  # never collapsed, not even at AUC = 1 (prune)


def test_ci_narrows_with_more_suspects_and_is_reproducible():
    pos, neg = [0.9, 0.8, 0.55, 0.45, 0.7, 0.3], [0.1, 0.5, 0.35, 0.2, 0.6, 0.4]
    few, many = tiny_metrics(pos, neg), tiny_metrics(pos, neg, copies=8)
    assert many["auc"] == pytest.approx(few["auc"]) and many["aruc"] == pytest.approx(few["aruc"])
    for name in ("auc", "aruc"):
        assert many[f"{name}_hi"] - many[f"{name}_lo"] < 0.6 * (few[f"{name}_hi"] - few[f"{name}_lo"])
        assert few[f"{name}_lo"] <= few[name] <= few[f"{name}_hi"]
        assert many[f"{name}_lo"] <= many[name] <= many[f"{name}_hi"]
    assert tiny_metrics(pos, neg) == few  # seeded
    reseeded = tiny_metrics(pos, neg, seed=1)
    assert reseeded["aruc_lo"] != few["aruc_lo"] and reseeded["auc_lo"] == few["auc_lo"]  # DeLong is analytic
    unbootstrapped = tiny_metrics(pos, neg, resamples=0)
    assert unbootstrapped["aruc_lo"] is None and unbootstrapped["aruc"] == few["aruc"]
    assert unbootstrapped["auc_lo"] == few["auc_lo"]


def test_auc_interval_at_perfect_separation_is_not_collapsed():
    r = tiny_metrics([0.9, 0.8, 0.85], [k / 100 for k in range(30)])
    assert r["auc"] == 1.0 and r["auc_hi"] == 1.0
    assert r["auc_lo"] < 0.9  # 3 positives above 30 negatives say little about how rare a miss is


# --- missing and empty --------------------------------------------------------------------------


def test_a_method_without_shards_gets_rows_of_missing_suspects(tmp_path):
    partial = {k: v for k, v in SCORES.items() if k not in ("p5", "i2")}
    run = load_run(write_engine_run(tmp_path / "run", {"mr": partial}, spec_methods=["mr", "ghost"]))
    assert run.methods == ("ghost", "mr")
    metrics = compute_metrics(run.scores, run.models, run.run_id, methods=run.methods, scales=RATES)
    prune = cell(metrics, "prune")
    assert (prune["n_pos"], prune["n_neg"], prune["n_missing"]) == (1, 6, 2)
    ghost = cell(metrics, "all", method="ghost")
    assert (ghost["n_pos"], ghost["n_neg"], ghost["n_missing"]) == (0, 0, 12)
    assert ghost["auc"] is None and ghost["aruc"] is None and ghost["tpr_at_1fpr"] is None and ghost["too_small"]
    assert metrics.filter(method="ghost").height == len(CELLS)


def test_a_method_misses_only_suspects_of_its_own_lineage():
    """A watermark verifies its own marked source: the clean lineage is not missing from it, nor its from others."""
    models = pl.DataFrame({
        "model_id": ["s", "p1", "p2", "w", "w1", "w2", "n1", "n2"],
        "role": ["source", "positive", "positive", "source", "positive", "positive", "negative", "negative"],
        "attack": ["source", "finetune", "prune", "source", "finetune", "prune", "independent", "independent"],
        "source_id": ["s", "s", "s", "w", "w", "w", "s", "s"],
    })
    fingerprint = ["s", "p1", "p2", "n1", "n2"]
    watermark = ["w", "w1", "n1", "n2"]  # w2's query failed
    scores = pl.DataFrame({"method": ["fp"] * 5 + ["wm"] * 4, "model_id": fingerprint + watermark,
                           "score": [1.0, 0.9, 0.8, 0.1, 0.2, 1.0, 0.9, 0.3, 0.1]})
    rows = compute_metrics(scores, models, "lineages", min_count=1, resamples=0, methods=["fp", "wm", "silent"],
                           scales=RATES)
    overall = {r["method"]: r for r in rows.filter(attack="all", param="all").iter_rows(named=True)}
    assert overall["fp"]["n_missing"] == 0 and overall["fp"]["n_pos"] == 3
    assert overall["wm"]["n_missing"] == 1 and overall["wm"]["n_pos"] == 2
    assert overall["silent"]["n_missing"] == 5  # no score at all: held to the clean lineage and the negatives
