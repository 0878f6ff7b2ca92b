"""Is method A better than method B? DeLong's test for two correlated ROC curves.

Methods of one run score the same suspects, so their AUCs are correlated and an
unpaired comparison (overlapping CIs) wastes most of the evidence. DeLong, DeLong &
Clarke-Pearson (1988), for two methods on the SAME m positives and n negatives:

* each method's structural components V10 (per positive) and V01 (per negative), as
  in `reports.delong.placements`;
* S10, S01 = the 2×2 sample covariances (ddof = 1) of the two methods' V10 and V01,
  and Cov(AUC_A, AUC_B) matrix S = S10/m + S01/n;
* Var(Δ) = S_AA + S_BB − 2·S_AB for Δ = AUC_A − AUC_B, z = Δ/SE, two-sided p, and the
  normal interval Δ ± z·SE (on the difference scale, clipped to [-1, 1]).

Only suspects with a finite score from BOTH methods enter a pair's test (n_pos,
n_neg say how many); watermark methods verify their own marked copies, so they share
only the negatives with anyone else and get no paired test. Var(Δ) is floored at one
discordant pair's worth, 2/(mn)²: two perfectly separating (or constant) methods have
zero placement variance, and a zero SE would turn any Δ into p = 0.

Holm–Bonferroni adjusts the p-values over all pairs within one attack cell (the pairs
of a cell are one family of claims, "who beats whom on this attack").

Null calibration (equal true AUC 0.8, binormal scores with noise correlation 0.5,
30 + 30 suspects): rejection rate at 0.05 is 0.043 in tests/test_paired.py's 300
samples, 0.044-0.058 over three seeds of 2000.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from statistics import NormalDist

import numpy as np
import polars as pl

from .delong import LEVEL, placements
from .params import ALL

SIGNIFICANCE = 0.05
PAIRED_SCHEMA = pl.Schema({
    "method_a": pl.String, "method_b": pl.String, "attack": pl.String, "n_pos": pl.UInt32, "n_neg": pl.UInt32,
    "auc_a": pl.Float64, "auc_b": pl.Float64, "delta": pl.Float64, "delta_lo": pl.Float64,
    "delta_hi": pl.Float64, "p": pl.Float64, "p_holm": pl.Float64, "a_better": pl.Boolean, "b_better": pl.Boolean,
})


@dataclass(frozen=True)
class PairedTest:
    auc_a: float
    auc_b: float
    delta: float
    se: float
    delta_lo: float
    delta_hi: float
    p: float


def auc_covariance(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(AUCs, DeLong covariance S) of k methods; pos is k×m, neg k×n, columns the same suspects."""
    pos, neg = np.atleast_2d(np.asarray(pos, float)), np.atleast_2d(np.asarray(neg, float))
    parts = [placements(p, q) for p, q in zip(pos, neg)]
    v10 = np.array([v for v, _ in parts])
    v01 = np.array([v for _, v in parts])
    s10 = np.atleast_2d(np.cov(v10, ddof=1))
    s01 = np.atleast_2d(np.cov(v01, ddof=1))
    return v10.mean(axis=1), s10 / pos.shape[1] + s01 / neg.shape[1]


def paired_delong(pos_a, neg_a, pos_b, neg_b, level: float = LEVEL) -> PairedTest:
    """DeLong's test of AUC_A = AUC_B; index i of pos_a and pos_b (and of the negatives) is one suspect."""
    pos, neg = np.array([pos_a, pos_b], float), np.array([neg_a, neg_b], float)
    m, n = pos.shape[1], neg.shape[1]
    if m < 2 or n < 2:
        raise ValueError("a paired DeLong test needs at least two positives and two negatives")
    aucs, cov = auc_covariance(pos, neg)
    delta = float(aucs[0] - aucs[1])
    variance = max(float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]), 2 / (m * n) ** 2)
    se = math.sqrt(variance)
    # Identical score vectors give Δ = 0 exactly (same placements), so p = 1 exactly.
    p = 1.0 if delta == 0 else math.erfc(abs(delta) / se / math.sqrt(2))
    half = NormalDist().inv_cdf((1 + level) / 2) * se
    return PairedTest(float(aucs[0]), float(aucs[1]), delta, se,
                      max(delta - half, -1.0), min(delta + half, 1.0), min(p, 1.0))


def holm(p: np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values: the k−i+1 multiplier on the i-th smallest, kept monotone."""
    p = np.asarray(p, float)
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (len(p) - np.arange(len(p))) * p[order])
    adjusted = np.empty_like(p)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def paired_table(labelled: pl.DataFrame | pl.LazyFrame, alpha: float = SIGNIFICANCE) -> pl.DataFrame:
    """Paired DeLong tests per attack cell and unordered method pair; columns of PAIRED_SCHEMA.

    `labelled` holds (method, attack, model_id, label, score) rows as `label_suspects`
    gives them; only the attack-family rows (param = "all") are used where a param
    column is present. Pairs with fewer than 2 common positives or negatives are left out.
    """
    frame = labelled.lazy()
    if "param" in frame.collect_schema().names():
        frame = frame.filter(pl.col("param") == ALL)
    frame = (frame.filter(pl.col("score").is_finite()).select("method", "attack", "model_id", "label", "score")
             .collect().sort("attack", "model_id", "method"))
    rows = []
    attacks = sorted(frame.get_column("attack").unique().to_list(), key=lambda a: (a != ALL, a))
    for attack in attacks:
        cell = frame.filter(pl.col("attack") == attack)
        wide = cell.pivot(on="method", index=["model_id", "label"], values="score", aggregate_function="first")
        label = wide.get_column("label").to_numpy()
        tests = []
        for a, b in combinations(sorted(cell.get_column("method").unique().to_list()), 2):
            sa, sb = wide.get_column(a).to_numpy(), wide.get_column(b).to_numpy()
            both = ~(np.isnan(sa) | np.isnan(sb))  # pivot nulls → NaN: a suspect one method did not score
            pos, neg = both & label, both & ~label
            if pos.sum() < 2 or neg.sum() < 2:
                continue
            tests.append((a, b, int(pos.sum()), int(neg.sum()), paired_delong(sa[pos], sa[neg], sb[pos], sb[neg])))
        adjusted = holm(np.array([t.p for *_, t in tests]))
        for (a, b, m, n, t), p_holm in zip(tests, adjusted):
            significant = bool(p_holm < alpha)
            rows.append((a, b, attack, m, n, t.auc_a, t.auc_b, t.delta, t.delta_lo, t.delta_hi, t.p,
                         float(p_holm), significant and t.delta > 0, significant and t.delta < 0))
    return pl.DataFrame(rows, schema=PAIRED_SCHEMA, orient="row")


def _p(value: float) -> str:
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def paired_display(paired: pl.DataFrame, alpha: float = SIGNIFICANCE) -> pl.DataFrame:
    """The report's short form: every "all" row plus any significant per-attack row, as strings."""
    shown = paired.filter((pl.col("attack") == ALL) | (pl.col("p_holm") < alpha))
    rows = []
    for r in shown.iter_rows(named=True):
        verdict = (f"{r['method_a']} better" if r["a_better"] else f"{r['method_b']} better" if r["b_better"]
                   else "no difference shown")
        rows.append((r["method_a"], r["method_b"], r["attack"], f"{r['n_pos']}/{r['n_neg']}",
                     f"{r['auc_a']:.3f} vs {r['auc_b']:.3f}",
                     f"{r['delta']:+.3f} [{r['delta_lo']:+.3f}, {r['delta_hi']:+.3f}]",
                     _p(r["p"]), _p(r["p_holm"]), verdict))
    columns = ["A", "B", "attack", "n_pos/n_neg", "AUC A vs B", "ΔAUC [95% CI]", "p", "p (Holm)", "verdict"]
    return pl.DataFrame(rows, schema=[(c, pl.String) for c in columns], orient="row")
