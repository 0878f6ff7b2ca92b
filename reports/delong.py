"""AUC confidence intervals from DeLong's variance on the logit scale.

The percentile bootstrap returns [1, 1] whenever AUC = 1: every resample of a
perfectly separated sample is perfectly separated too. This interval is analytic:

* DeLong, DeLong & Clarke-Pearson (1988): each positive's placement V10ᵢ = share of
  negatives below it, each negative's V01ⱼ = share of positives above it (ties count
  ½); AUC = mean(V10) and Var(AUC) = S10/m + S01/n with S10, S01 the sample variances
  (ddof = 1) of the placements. The placements come from midranks (Sun & Xu 2014), so
  a cell costs O(N log N), not O(m·n).
* The interval is logit(A) ± z·SE/(A(1-A)), mapped back: it stays inside (0, 1) and
  is asymmetric near the ends, where AUCs of fingerprints live.
* Continuity correction at the ends: the interval never claims more certainty than a
  sample with a single discordant pair out of the m·n. The centre is kept at least
  one pair, 1/(mn), from 0 and 1, and the variance is at least that sample's,
  2/(mn)². So a perfectly separated cell gets [L, 1] with L the lower end for
  AUC = 1 - 1/(mn): with 30 positives and 30 negatives L = 0.98, with 3 and 30 L = 0.84.
  Half a pair (the (U + ½)/(mn + 1) centre) was too little: its lower end, 0.991,
  missed a true AUC of 0.99 in every perfectly separated sample (12 % of them).

Measured coverage of the nominal 95 % interval (tests/test_delong.py, binormal
scores, 30 positives and 30 negatives, 2000 samples): 0.959 at AUC 0.7, 0.955 at
0.9, 0.975 at 0.99. With very few positives it is lower (3 against 30: 0.88 at AUC
0.7), as for any large-sample interval. A side with fewer than two scores has no
variance estimate, so no interval.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import polars as pl

from .suspects import CELL_KEYS

LEVEL = 0.95
AUC_CI_SCHEMA = pl.Schema({**{key: pl.String for key in CELL_KEYS}, "auc_lo": pl.Float64, "auc_hi": pl.Float64})


def midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of x, tied values sharing the mean of their ranks."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2)[inverse]


def placements(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components: V10 per positive, V01 per negative."""
    m, n = len(pos), len(neg)
    combined = midranks(np.concatenate([pos, neg]))
    v10 = (combined[:m] - midranks(pos)) / n
    v01 = 1 - (combined[m:] - midranks(neg)) / m
    return v10, v01


def delong(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    """(AUC, DeLong variance of the AUC); needs at least two positives and two negatives."""
    v10, v01 = placements(np.asarray(pos, float), np.asarray(neg, float))
    return float(v10.mean()), float(v10.var(ddof=1) / len(v10) + v01.var(ddof=1) / len(v01))


def auc_interval(pos: np.ndarray, neg: np.ndarray, level: float = LEVEL) -> tuple[float, float] | None:
    """The continuity-corrected logit interval of the AUC, or None with fewer than 2 scores a side."""
    m, n = len(pos), len(neg)
    if m < 2 or n < 2:
        return None
    auc, variance = delong(pos, neg)
    pair = 1 / (m * n)
    centre = min(max(auc, pair), 1 - pair)
    half = NormalDist().inv_cdf((1 + level) / 2) * np.sqrt(max(variance, 2 * pair**2)) / (centre * (1 - centre))
    logit = np.log(centre / (1 - centre))
    lo, hi = 1 / (1 + np.exp(half - logit)), 1 / (1 + np.exp(-half - logit))
    return float(min(lo, auc)), float(max(hi, auc))


def auc_cis(labelled: pl.DataFrame, level: float = LEVEL) -> pl.DataFrame:
    """auc_lo/auc_hi per cell of labelled scores (CELL_KEYS, label, score); columns of AUC_CI_SCHEMA."""
    finite = labelled.filter(pl.col("score").is_finite())
    rows = []
    for key, cell in finite.partition_by(CELL_KEYS, as_dict=True).items():
        label = cell["label"].to_numpy()
        score = cell["score"].to_numpy()
        # Sorted: float sums must not depend on the order Polars happened to give the rows.
        interval = auc_interval(np.sort(score[label]), np.sort(score[~label]), level)
        if interval is not None:
            rows.append((*key, *interval))
    return pl.DataFrame(rows, schema=AUC_CI_SCHEMA, orient="row")
