"""Paired DeLong test: exact covariance, calibrated under the null, Holm, common suspects only."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import polars as pl
import pytest

from reports.paired import PAIRED_SCHEMA, auc_covariance, holm, paired_delong, paired_display, paired_table


def brute_covariance(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """DeLong et al. (1988) as written: ψ over all m·n pairs per method, then the components' covariances."""
    v10, v01 = [], []
    for p, q in zip(pos, neg):
        psi = (p[:, None] > q[None, :]) + 0.5 * (p[:, None] == q[None, :])
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    v10, v01 = np.array(v10), np.array(v01)
    m, n = pos.shape[1], neg.shape[1]
    c10 = v10 - v10.mean(axis=1, keepdims=True)
    c01 = v01 - v01.mean(axis=1, keepdims=True)
    return (c10 @ c10.T) / (m - 1) / m + (c01 @ c01.T) / (n - 1) / n


@pytest.mark.parametrize("seed", range(6))
def test_covariance_equals_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    m, n = rng.integers(2, 30, size=2)
    truth = np.r_[rng.normal(1, 1, m), rng.normal(0, 1, n)]
    a = np.round(truth + rng.normal(0, 0.5, m + n), 1)  # rounded: ties within and across the classes
    b = np.round(truth + rng.normal(0, 1.0, m + n), 1)
    pos, neg = np.array([a[:m], b[:m]]), np.array([a[m:], b[m:]])
    aucs, cov = auc_covariance(pos, neg)
    assert cov == pytest.approx(brute_covariance(pos, neg), rel=1e-9, abs=1e-15)
    assert aucs[0] == pytest.approx((a[:m, None] > a[None, m:]).mean() + 0.5 * (a[:m, None] == a[None, m:]).mean())


def test_identical_scores_give_zero_delta_and_p_one():
    rng = np.random.default_rng(1)
    pos, neg = rng.normal(1, 1, 12), rng.normal(0, 1, 15)
    t = paired_delong(pos, neg, pos, neg)
    assert t.delta == 0 and t.p == 1.0 and t.delta_lo < 0 < t.delta_hi


def labelled_frame(a: dict, b: dict, labels: dict, attack: str = "all") -> pl.DataFrame:
    rows = [(method, attack, model, labels[model], score)
            for method, scores in (("A", a), ("B", b)) for model, score in scores.items()]
    return pl.DataFrame(rows, schema=["method", "attack", "model_id", "label", "score"], orient="row")


def test_perfect_method_beats_random_method():
    rng = np.random.default_rng(2)
    labels = {f"p{i}": True for i in range(30)} | {f"n{i}": False for i in range(30)}
    a = {k: (1.0 if v else 0.0) + rng.uniform(0, 0.5) for k, v in labels.items()}
    b = {k: rng.uniform() for k in labels}
    table = paired_table(labelled_frame(a, b, labels))
    assert table.schema == PAIRED_SCHEMA and table.height == 1
    row = table.row(0, named=True)
    assert row["auc_a"] == 1.0 and row["p_holm"] < 0.01 and row["a_better"] and not row["b_better"]
    assert row["delta_lo"] > 0 and (row["n_pos"], row["n_neg"]) == (30, 30)


def test_null_rejection_rate_is_nominal():
    rng = np.random.default_rng(3)
    shift = np.sqrt(2) * NormalDist().inv_cdf(0.8)  # binormal, equal variances: true AUC 0.8 for both
    label = np.r_[np.ones(30, bool), np.zeros(30, bool)]
    rejected = 0
    for _ in range(300):
        common = rng.normal(0, 1, 60)  # correlation 0.5 between the methods' noise
        a = shift * label + np.sqrt(0.5) * common + np.sqrt(0.5) * rng.normal(0, 1, 60)
        b = shift * label + np.sqrt(0.5) * common + np.sqrt(0.5) * rng.normal(0, 1, 60)
        rejected += paired_delong(a[label], a[~label], b[label], b[~label]).p < 0.05
    rate = rejected / 300
    print(f"null rejection rate at 0.05: {rate:.3f}")
    assert rate <= 0.08


def test_holm_matches_hand_computation():
    # sorted p: 0.01·4 = 0.04, 0.02·3 = 0.06, 0.03·2 = 0.06, 0.04·1 → max(0.04, 0.06) = 0.06
    assert holm(np.array([0.03, 0.01, 0.04, 0.02])) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm(np.array([0.5, 0.9])) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm(np.array([])).size == 0


def test_suspect_scored_by_one_method_is_left_out():
    labels = {"p1": True, "p2": True, "p3": True, "n1": False, "n2": False, "n3": False}
    a = {"p1": 0.9, "p2": 0.8, "p3": 0.1, "n1": 0.2, "n2": 0.3, "n3": 0.4}
    b = {"p1": 0.7, "p2": 0.6, "n1": 0.5, "n2": 0.1, "n3": float("nan")}  # p3 unscored, n3 NaN
    row = paired_table(labelled_frame(a, b, labels)).row(0, named=True)
    assert (row["n_pos"], row["n_neg"]) == (2, 2)
    assert row["auc_a"] == 1.0 and row["auc_b"] == 1.0  # p3 (A's miss) and n3 excluded from both
    assert paired_table(labelled_frame(a, {"p1": 0.7, "n1": 0.5, "n2": 0.1}, labels)).is_empty()


def test_holm_is_per_attack_cell_and_needs_common_suspects():
    rng = np.random.default_rng(4)
    labels = {f"p{i}": True for i in range(10)} | {f"n{i}": False for i in range(10)}
    frames = []
    for attack in ("all", "prune"):
        scores = {m: {k: rng.normal(v, 1) for k, v in labels.items()} for m in "ABC"}
        frames += [pl.DataFrame([(m, attack, k, labels[k], s) for k, s in d.items()],
                                schema=["method", "attack", "model_id", "label", "score"], orient="row")
                   for m, d in scores.items()]
    table = paired_table(pl.concat(frames))
    assert table.height == 6 and table["attack"].to_list()[:3] == ["all"] * 3
    for _, cell in table.group_by("attack"):
        assert cell["p_holm"].to_list() == pytest.approx(holm(cell["p"].to_numpy()).tolist())


def test_display_keeps_overall_rows_and_significant_attacks():
    rng = np.random.default_rng(5)
    labels = {f"p{i}": True for i in range(30)} | {f"n{i}": False for i in range(30)}
    perfect = {k: (1.0 if v else 0.0) + rng.uniform(0, 0.5) for k, v in labels.items()}
    noise = {k: rng.uniform() for k in labels}
    frame = pl.concat([labelled_frame(perfect, noise, labels, attack) for attack in ("all", "prune")]
                      + [labelled_frame(noise, {k: rng.uniform() for k in labels}, labels, "quant")])
    shown = paired_display(paired_table(frame))
    assert shown["attack"].to_list() == ["all", "prune"]  # quant: A and B both random, not significant
    assert shown["verdict"].to_list() == ["A better", "A better"]
