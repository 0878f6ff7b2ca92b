"""DeLong's AUC variance and the logit interval: exact against brute force, with real coverage."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from reports.delong import auc_interval, delong, midranks


def brute_force(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    """DeLong et al. (1988) as written: ψ over all m·n pairs, structural components, their variances."""
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    auc = psi.mean()
    s10 = ((v10 - auc) ** 2).sum() / (len(pos) - 1)
    s01 = ((v01 - auc) ** 2).sum() / (len(neg) - 1)
    return auc, s10 / len(pos) + s01 / len(neg)


@pytest.mark.parametrize("seed", range(8))
def test_variance_equals_the_pairwise_structural_components(seed):
    rng = np.random.default_rng(seed)
    m, n = rng.integers(2, 40, size=2)
    pos = np.round(rng.normal(0.8, 1, m), 1)  # rounded: ties within and across the classes
    neg = np.round(rng.normal(0, 1, n), 1)
    auc, variance = delong(pos, neg)
    expected_auc, expected_variance = brute_force(pos, neg)
    assert auc == pytest.approx(expected_auc, abs=1e-12)
    assert variance == pytest.approx(expected_variance, rel=1e-9, abs=1e-15)
    labels = np.r_[np.ones(m), np.zeros(n)]
    assert auc == pytest.approx(roc_auc_score(labels, np.r_[pos, neg]), abs=1e-12)


def test_midranks_share_tied_ranks():
    assert midranks(np.array([3.0, 1.0, 3.0, 2.0, 3.0])).tolist() == [4.0, 1.0, 4.0, 2.0, 4.0]


def test_perfect_separation_gets_a_real_interval():
    lo, hi = auc_interval(np.array([0.9, 0.95, 0.97]), np.linspace(0, 0.5, 30))
    assert hi == 1.0 and lo < 0.9  # [0.84, 1] for 3 against 30
    lo, hi = auc_interval(np.linspace(0, 0.5, 30), np.array([0.9, 0.95, 0.97]))
    assert lo == 0.0 and hi > 0.1  # the mirror image at AUC = 0


def test_no_interval_without_two_scores_a_side():
    assert auc_interval(np.array([0.9]), np.array([0.1, 0.2, 0.3])) is None
    assert auc_interval(np.array([0.9, 0.8]), np.array([0.1])) is None


def coverage(auc: float, reps: int, m: int = 30, n: int = 30, seed: int = 0) -> float:
    """Share of binormal samples (equal variances, separation √2·Φ⁻¹(auc)) whose 95 % interval holds `auc`."""
    rng = np.random.default_rng(seed)
    shift = np.sqrt(2) * NormalDist().inv_cdf(auc)
    hits = 0
    for _ in range(reps):
        lo, hi = auc_interval(rng.normal(shift, 1, m), rng.normal(0, 1, n))
        hits += lo <= auc <= hi
    return hits / reps


@pytest.mark.parametrize("auc", [0.7, 0.9, 0.99])
def test_coverage_of_the_nominal_95_percent_interval(auc):
    """30 positives and 30 negatives, 2000 samples per level (about a second each).

    Measured: 0.959 at AUC 0.7, 0.955 at 0.9, 0.975 at 0.99, where 12 % of the samples
    are perfectly separated and the percentile bootstrap's [1, 1] would miss.
    """
    assert coverage(auc, reps=2000) >= 0.93
