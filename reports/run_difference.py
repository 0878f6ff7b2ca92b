"""Is run 2's AUC different from run 1's? DeLong tests between two runs, per method and attack.

Two runs that share a zoo (the same suspects, with the same labels, in a cell: e.g.
one method with two settings, or a re-run after a code change) score the same
models, so their AUCs are correlated and are compared paired, exactly as methods
within one run are (`reports.paired.paired_delong`). Runs with different zoos
(another source, another data set, other seeds) are independent samples: the
unpaired test takes Var(Δ) = Var(AUC₁) + Var(AUC₂), each DeLong's, floored at one
discordant pair's worth as in the paired test. Where the zoos overlap only in part,
the unpaired test is used on each run's whole cell; it ignores the positive
correlation of the shared suspects, which only makes it conservative.

Holm's correction runs over the methods of each attack cell, as in the paired table.
"""
from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import polars as pl

from .delong import LEVEL, delong
from .paired import SIGNIFICANCE, holm, paired_delong
from .params import ALL

DIFFERENCE_SCHEMA = pl.Schema({
    "method": pl.String, "attack": pl.String, "test": pl.String,  # paired | unpaired
    "n_pos_1": pl.Int64, "n_neg_1": pl.Int64, "n_pos_2": pl.Int64, "n_neg_2": pl.Int64,
    "auc_1": pl.Float64, "auc_2": pl.Float64, "delta": pl.Float64,  # auc_2 - auc_1
    "delta_lo": pl.Float64, "delta_hi": pl.Float64, "p": pl.Float64, "p_holm": pl.Float64, "differs": pl.Boolean,
})


def unpaired_delong(pos_1, neg_1, pos_2, neg_2, level: float = LEVEL) -> tuple[float, float, float, float, float]:
    """(AUC₁, AUC₂, Δ = AUC₂ − AUC₁, p, half-width) for two independent samples."""
    variances, aucs = [], []
    for pos, neg in ((pos_1, neg_1), (pos_2, neg_2)):
        if len(pos) < 2 or len(neg) < 2:
            raise ValueError("a DeLong test needs at least two positives and two negatives per run")
        auc, variance = delong(pos, neg)
        aucs.append(auc)
        variances.append(max(variance, 2 / (len(pos) * len(neg)) ** 2))
    delta = aucs[1] - aucs[0]
    se = math.sqrt(sum(variances))
    p = 1.0 if delta == 0 else math.erfc(abs(delta) / se / math.sqrt(2))
    return aucs[0], aucs[1], delta, min(p, 1.0), NormalDist().inv_cdf((1 + level) / 2) * se


def run_difference(first: pl.DataFrame, second: pl.DataFrame, alpha: float = SIGNIFICANCE) -> pl.DataFrame:
    """DIFFERENCE_SCHEMA rows per (method, attack family) labelled in both runs.

    `first` and `second` hold (method, attack, model_id, label, score) rows as
    `label_suspects` gives them (attack-family rows: param = "all").
    """
    cells = [_finite(first), _finite(second)]
    keys = cells[0].select("method", "attack").unique().join(cells[1].select("method", "attack").unique(),
                                                              on=["method", "attack"]).sort("attack", "method")
    rows = []
    for (attack,), pairs in keys.group_by("attack", maintain_order=True):
        tests = []
        for method in pairs.get_column("method").to_list():
            one, two = (c.filter((pl.col("method") == method) & (pl.col("attack") == attack)) for c in cells)
            result = _test(one, two)
            if result is not None:
                tests.append((method, *result))
        for test, p_holm in zip(tests, holm(np.array([t[-1] for t in tests]))):
            method, kind, sizes, auc_1, auc_2, delta, lo, hi, p = test
            rows.append((method, attack, kind, *sizes, auc_1, auc_2, delta, lo, hi, p, float(p_holm),
                         bool(p_holm < alpha)))
    frame = pl.DataFrame(rows, schema=DIFFERENCE_SCHEMA, orient="row")
    return frame.sort(pl.col("attack") != ALL, "attack", "method")


def _finite(labelled: pl.DataFrame) -> pl.DataFrame:
    if "param" in labelled.columns:
        labelled = labelled.filter(pl.col("param") == ALL)
    return labelled.filter(pl.col("score").is_finite()).select("method", "attack", "model_id", "label", "score")


def _test(one: pl.DataFrame, two: pl.DataFrame):
    """(kind, sizes, auc_1, auc_2, delta, lo, hi, p) for one cell, or None with too few suspects."""
    sizes = [int(c.get_column("label").sum()) for c in (one, two)]
    sizes = (sizes[0], one.height - sizes[0], sizes[1], two.height - sizes[1])
    if min(sizes) < 2:
        return None
    shared = one.select("model_id", "label").sort("model_id").equals(two.select("model_id", "label").sort("model_id"))
    if shared:  # the same zoo: Δ = AUC₂ − AUC₁ on the same suspects, paired
        both = one.sort("model_id").join(two.select("model_id", score_2="score"), on="model_id", maintain_order="left")
        label = both.get_column("label").to_numpy()
        s1, s2 = both.get_column("score").to_numpy(), both.get_column("score_2").to_numpy()
        t = paired_delong(s2[label], s2[~label], s1[label], s1[~label])
        return "paired", sizes, t.auc_b, t.auc_a, t.delta, t.delta_lo, t.delta_hi, t.p
    side = [(c.filter(pl.col("label")).get_column("score").sort().to_numpy(),
             c.filter(~pl.col("label")).get_column("score").sort().to_numpy()) for c in (one, two)]
    auc_1, auc_2, delta, p, half = unpaired_delong(*side[0], *side[1])
    return "unpaired", sizes, auc_1, auc_2, delta, max(delta - half, -1.0), min(delta + half, 1.0), p


def difference_display(difference: pl.DataFrame) -> dict[tuple[str, str], str]:
    """(method, attack) -> 'Δ [lo, hi] p=… (paired)' for the printed comparison."""
    shown = {}
    for r in difference.iter_rows(named=True):
        p = "<0.001" if r["p_holm"] < 0.001 else f"{r['p_holm']:.3f}"
        mark = " *" if r["differs"] else ""
        shown[(r["method"], r["attack"])] = (f"{r['delta']:+.3f} [{r['delta_lo']:+.3f}, {r['delta_hi']:+.3f}] "
                                             f"p={p}{mark} ({r['test']})")
    return shown
