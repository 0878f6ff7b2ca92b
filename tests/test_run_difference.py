"""AUC differences between two runs: paired DeLong on a shared zoo, unpaired on independent zoos."""
from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from rich.console import Console
from test_reports_fixtures import SCORES, write_engine_run

from reports.compare import compare_difference, compare_runs, render_comparison
from reports.paired import paired_delong
from reports.run_difference import DIFFERENCE_SCHEMA, run_difference, unpaired_delong


def binormal(rng, auc_shift, m=30, n=30):
    return rng.normal(auc_shift, 1, m), rng.normal(0, 1, n)


def test_unpaired_test_holds_its_level_and_finds_a_real_difference():
    rng = np.random.default_rng(0)
    rejections = 0
    for _ in range(400):  # equal true AUC (shift 1.19 ~ AUC 0.8) in two independent zoos
        _, _, _, p, _ = unpaired_delong(*binormal(rng, 1.19), *binormal(rng, 1.19))
        rejections += p < 0.05
    assert 0.02 <= rejections / 400 <= 0.08, rejections
    auc_1, auc_2, delta, p, half = unpaired_delong(*binormal(rng, 0.36), *binormal(rng, 2.33))  # ~0.6 vs ~0.95
    assert delta == pytest.approx(auc_2 - auc_1) and delta > 0.2 and p < 0.01 and 0 < half < delta


def labelled(scores: dict[str, float], method="m", attack="all"):
    rows = [(method, attack, model, model.startswith("p"), score) for model, score in scores.items()]
    return pl.DataFrame(rows, schema=["method", "attack", "model_id", "label", "score"], orient="row")


def test_a_shared_zoo_is_tested_paired_and_another_zoo_unpaired():
    rng = np.random.default_rng(1)
    names = [f"p{i}" for i in range(20)] + [f"n{i}" for i in range(20)]
    truth = np.r_[np.ones(20), np.zeros(20)]
    first = dict(zip(names, truth + rng.normal(0, 0.8, 40)))
    second = dict(zip(names, truth + rng.normal(0, 0.4, 40)))
    table = run_difference(labelled(first), labelled(second))
    assert table.schema == DIFFERENCE_SCHEMA and table.height == 1
    row = table.row(0, named=True)
    assert row["test"] == "paired" and (row["n_pos_1"], row["n_neg_2"]) == (20, 20)
    s1, s2 = np.array(list(first.values())), np.array(list(second.values()))
    expected = paired_delong(s2[:20], s2[20:], s1[:20], s1[20:])
    assert row["delta"] == pytest.approx(expected.delta) and row["p"] == pytest.approx(expected.p)
    assert row["delta"] == pytest.approx(row["auc_2"] - row["auc_1"])
    other = {name + "'": v for name, v in second.items()}  # the same labels on other models: another zoo
    unpaired = run_difference(labelled(first), labelled(other)).row(0, named=True)
    assert unpaired["test"] == "unpaired" and unpaired["delta"] == pytest.approx(row["delta"])
    assert unpaired["p"] > row["p"]  # pairing removes the shared suspects' variance


def test_holm_runs_over_the_methods_of_an_attack():
    rng = np.random.default_rng(2)
    names = [f"p{i}" for i in range(15)] + [f"n{i}" for i in range(15)]
    truth = np.r_[np.ones(15), np.zeros(15)]
    one = pl.concat([labelled(dict(zip(names, truth + rng.normal(0, 1, 30))), method=m) for m in ("a", "b", "c")])
    two = pl.concat([labelled(dict(zip(names, truth + rng.normal(0, 1, 30))), method=m) for m in ("a", "b", "c")])
    table = run_difference(one, two)
    assert table.get_column("method").to_list() == ["a", "b", "c"]
    p, p_holm = table.get_column("p").to_numpy(), table.get_column("p_holm").to_numpy()
    assert (p_holm >= p).all() and p_holm[np.argmin(p)] == pytest.approx(min(1.0, 3 * p.min()))


def test_two_fixture_runs_on_one_zoo_compare_paired(tmp_path):
    first = write_engine_run(tmp_path / "a", {"mr": SCORES})
    second = write_engine_run(tmp_path / "b", {"mr": {k: v * 0.5 for k, v in SCORES.items()}}, run_id="run-f")
    difference = compare_difference(first, second)
    assert set(difference.get_column("test")) == {"paired"}
    overall = difference.filter(pl.col("attack") == "all").row(0, named=True)
    assert overall["delta"] == pytest.approx(0.0, abs=1e-12) and overall["p"] == 1.0  # same ranking, same AUC
    console = Console(width=200, record=True)
    console.print(render_comparison(compare_runs([first, second], resamples=0), difference))
    text = console.export_text()
    assert "ΔAUC [95% CI] p (Holm)" in text and "(paired)" in text
