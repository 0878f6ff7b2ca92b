"""A whole run through the report: label-only views, margins, cost, failures, dirty data, compare, CLI."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_reports_fixtures import NAMES, SCORES, SRC, write_engine_run

from engine.cli import main
from reports import build_report, compare_runs, load_run
from reports.analysis import analyse


@pytest.fixture
def run_dir(tmp_path):
    return write_engine_run(tmp_path / "run", {"mr": SCORES, "wide": {k: 10 * v - 2 for k, v in SCORES.items()}},
                            sidecars={"fp-mr": {"seconds": 1.25}})


def test_label_match_counts_queries_that_agree_with_the_source(run_dir):
    scores = analyse(load_run(run_dir), resamples=10).scores.filter(method="mr")
    got = dict(scores.select("model_id", "label_match").iter_rows())
    for name, score in SCORES.items():
        assert got[NAMES[name]] == pytest.approx(round(score * 4) / 4), name  # the fixture's logits follow the score
    assert scores["n_queries"].to_list() == [4] * scores.height
    assert (scores["status"] == "scored").all() and scores["error"].is_null().all()


def test_margins_pair_each_positive_with_its_mirror(run_dir):
    margins = analyse(load_run(run_dir), resamples=10).margins.filter(method="mr")
    got = {(r["attack"], r["param"], r["value"]): r for r in margins.iter_rows(named=True)}
    s = SCORES
    assert got[("prune", "rate", "0.2")]["margin"] == pytest.approx(s["p2"] - s["m2"])
    assert got[("prune", "rate", "0.5")]["margin"] == pytest.approx(s["p5"] - s["m5"])
    # distill's mirror used data=independent where the positive used data=defender: still its pair.
    assert got[("distill", "arch", "mlp")]["margin"] == pytest.approx(s["dm"] - s["mdm"])
    family = got[("distill", "all", "all")]
    assert family["n_pairs"] == 2 and family["margin"] == pytest.approx((s["dc"] - s["mdc"] + s["dm"] - s["mdm"]) / 2)
    assert family["margin_min"] == pytest.approx(s["dm"] - s["mdm"])
    assert got[("source", "all", "all")]["margin"] == pytest.approx(s["s"] - s["ms"])
    models = pl.read_parquet(build_report(run_dir, resamples=10).models_path)
    assert models.filter(model_id=NAMES["mdm"])["mirror_of"].item() == NAMES["dm"]


def test_cost_reads_generation_time_and_counts_queries_and_owner_models(run_dir):
    cost = {r["method"]: r for r in analyse(load_run(run_dir), resamples=10).cost.iter_rows(named=True)}
    assert cost["mr"]["generation_seconds"] == 1.25 and cost["wide"]["generation_seconds"] is None
    assert cost["mr"]["queries_per_suspect"] == 4 and cost["mr"]["suspects_queried"] == len(SCORES)
    assert (cost["mr"]["owner_models"], cost["mr"]["owner_train_seconds"], cost["mr"]["owner_attributed"]) == (1, 2.0, False)
    assert cost["mr"]["access"] == "labels"


def test_nan_and_infinite_logits_and_scores_are_reported(tmp_path):
    dirty = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
    dirty[1, 2], dirty[3, 0] = np.nan, np.inf
    run = write_engine_run(tmp_path / "run", {"mr": SCORES | {"i1": float("nan")}}, logits={"mr": {"p2": dirty}})
    report = build_report(run, resamples=10)
    scores = pl.read_parquet(report.scores_path)
    p2 = scores.filter(model_id=NAMES["p2"]).row(0, named=True)
    assert p2["n_nonfinite"] == 2 and p2["label_match"] == 1.0  # the two finite rows agree with the source
    assert any("2 query row(s) with NaN/inf logits" in w for w in report.warnings)
    assert any("1 NaN/inf score(s)" in w for w in report.warnings)
    assert report.metrics.filter(attack="all")["n_invalid"].item() == 1
    assert "NaN/inf logits" in report.html_path.read_text()


def write_failures(run_dir):
    pq.write_table(pa.table({
        "run_id": ["run-e", "run-e"], "job": ["train", "query"],
        "model_id": [f"{SRC}->prune(rate=0.5)", NAMES["i2"]], "method": [None, "mr"],
        "error": ["CUDA out of memory\ntraceback ...", "worker died"], "attempts": [3, 2],
    }), run_dir / "failures.parquet")
    (run_dir / "failures").mkdir()
    (run_dir / "failures" / "a1.json").write_text(json.dumps(
        {"run_id": "run-e", "job": "fingerprint", "model_id": None, "method": "broken", "error": "NaN loss", "attempts": 1}))


def test_failed_jobs_are_reported_not_crashed_on(tmp_path):
    done = {k: v for k, v in SCORES.items() if k not in ("p5", "i2", "dm")}
    run = write_engine_run(tmp_path / "run", {"mr": done}, spec_methods=["mr", "broken"])
    write_failures(run)
    report = build_report(run, resamples=10)
    assert any("3 job(s) failed (1 fingerprint, 1 query, 1 train)" in w for w in report.warnings)
    status = pl.read_parquet(report.scores_path).filter(method="mr")
    by_name = {name: status.filter(model_id=model_id).row(0, named=True) for name, model_id in NAMES.items()}
    assert (by_name["p5"]["status"], by_name["p5"]["error"]) == ("failed", "CUDA out of memory\ntraceback ...")
    assert (by_name["i2"]["status"], by_name["i2"]["error"]) == ("failed", "worker died")
    assert by_name["dm"]["status"] == "pending" and by_name["p2"]["status"] == "scored"
    broken = pl.read_parquet(report.scores_path).filter(method="broken")
    assert (broken["status"] == "failed").all() and (broken["error"] == "NaN loss").all()
    assert report.metrics.filter(method="mr", attack="prune", param="all")["n_missing"].item() == 2  # p5 and i2
    assert any("broken: no finite score at all" in w for w in report.warnings)
    html = report.html_path.read_text()
    assert "Failed jobs" in html and "CUDA out of memory" in html and "traceback" not in html
    assert "| train |" in report.markdown_path.read_text()


def test_exports_read_back_with_their_documented_columns(run_dir):
    report = build_report(run_dir, resamples=10)
    scores = pl.read_parquet(report.scores_path)
    assert scores.columns[:13] == ["run_id", "method", "model_id", "score", "access", "p_value", "effect",
                                   "status", "error", "fingerprint_id", "n_queries", "n_nonfinite", "label_match"]
    assert {"role", "attack", "attack_params", "arch", "lineage", "num_classes"} <= set(scores.columns)
    assert pl.read_parquet(report.metrics_path).equals(report.metrics)
    margins = pl.read_parquet(report.margins_path)
    assert {"n_pairs", "margin", "score_positive", "score_mirror"} <= set(margins.columns)
    md = report.markdown_path.read_text()
    assert "fixture on digits" in md and "Which method wins on digits" in md and "on data set digits" in md
    for figure in ("ru_curves.png", "auc_by_attack.png", "margins.png"):
        assert f"]({figure})" in md and (report.out_dir / figure).read_bytes().startswith(b"\x89PNG")


def test_compare_puts_runs_side_by_side(tmp_path, capsys):
    first = write_engine_run(tmp_path / "a", {"mr": SCORES})
    second = write_engine_run(tmp_path / "b", {"mr": SCORES | {"dm": 0.95}}, run_id="run-f")
    compared = compare_runs([first, second], resamples=10)
    assert compared["run"].unique(maintain_order=True).to_list() == ["a", "b"]
    assert compared["dataset"].unique().to_list() == ["digits"]
    a, b = (compared.filter(run=name, method="mr", attack="distill", param="all")["auc"].item() for name in "ab")
    assert b > a
    out = tmp_path / "cmp.parquet"
    assert main(["compare", str(first), str(second), "--resamples", "10", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ΔAUC" in printed and "distill" in printed and "(digits)" in printed
    assert "(paired)" in printed  # the two fixture runs share their zoo, so the test is paired
    assert pl.read_parquet(out).equals(compared)


def test_cli_report_and_bad_run_dirs(run_dir, tmp_path, capsys):
    assert main(["report", str(run_dir), "--resamples", "10"]) == 0
    assert (run_dir / "report" / "report.html").is_file()
    assert "wrote" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert main(["compare", str(run_dir), str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in " ".join(capsys.readouterr().err.split())  # rich wraps long lines
