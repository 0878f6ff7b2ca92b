"""Property tests of the AUC/ARUC definitions, run in memory through compute_metrics."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from methods.scales import RATE
from reports import compute_metrics

# Scores on a 0.001 lattice: distinct values stay distinct under every transform below,
# so "strictly increasing" survives floating point.
scores = st.lists(st.integers(0, 1000).map(lambda k: k / 1000), min_size=1, max_size=15)
INCREASING = {
    "cube": lambda x: x**3 + x,
    "affine": lambda x: 10 * x - 5,
    "exp": math.exp,
    "log1p": lambda x: 0.5 * math.log1p(x),
}


def all_row(pos: list[float], neg: list[float]) -> dict:
    ids = [f"p{i}" for i in range(len(pos))] + [f"n{i}" for i in range(len(neg))]
    models = pl.DataFrame({
        "model_id": ids,
        "role": ["positive"] * len(pos) + ["negative"] * len(neg),
        "attack": ["finetune"] * len(pos) + ["independent"] * len(neg),
    })
    suspects = pl.DataFrame({"method": ["m"] * len(ids), "model_id": ids, "score": pos + neg})
    metrics = compute_metrics(suspects, models, "prop", min_count=1, scales={"m": RATE})  # a matching rate
    return metrics.filter(attack="all").row(0, named=True)


@settings(max_examples=60, deadline=None)
@given(pos=scores, neg=scores, name=st.sampled_from(sorted(INCREASING)))
def test_auc_invariant_to_increasing_transform(pos, neg, name):
    f = INCREASING[name]
    assert all_row([f(x) for x in pos], [f(x) for x in neg])["auc"] == pytest.approx(all_row(pos, neg)["auc"], abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(pos=scores, neg=scores)
def test_auc_is_antisymmetric_and_matches_pairs(pos, neg):
    forward, backward = all_row(pos, neg)["auc"], all_row(neg, pos)["auc"]
    assert forward + backward == pytest.approx(1.0, abs=1e-12)
    p, n = np.array(pos)[:, None], np.array(neg)[None, :]
    assert forward == pytest.approx(float(((p > n) + 0.5 * (p == n)).mean()), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(pos=scores, neg=scores)
def test_aruc_matches_independent_trapezoid(pos, neg):
    grid = np.arange(101) / 100
    tpr = np.array([(np.array(pos) >= t).mean() for t in grid])
    tnr = np.array([(np.array(neg) < t).mean() for t in grid])
    low = np.minimum(tpr, tnr)
    expected = float(np.sum((low[1:] + low[:-1]) / 2 * np.diff(grid)))
    got = all_row(pos, neg)
    assert not got["score_mapped"]
    assert 0.0 <= got["aruc"] <= 1.0
    assert got["aruc"] == pytest.approx(expected, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(pos=scores, neg=scores)
def test_auc_interval_holds_the_estimate_and_never_collapses(pos, neg):
    got = all_row(pos, neg)
    if len(pos) < 2 or len(neg) < 2:
        assert got["auc_lo"] is None and got["auc_hi"] is None
        return
    assert 0.0 <= got["auc_lo"] <= got["auc"] <= got["auc_hi"] <= 1.0
    assert got["auc_lo"] < got["auc_hi"]
