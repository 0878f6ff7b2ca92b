"""Tests of the reports package on small run directories written in the engine's layout."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from rich.console import Console

from engine import rundir
from engine.fs import Location
from engine.sink import parquet_bytes
from methods.scales import RATE, SCORE_SCALES, ScoreScale
from reports import build_report, compute_metrics, load_run, print_metrics, ru_curves
from reports.metrics import METRIC_SCHEMA

REPO_ROOT = Path(__file__).resolve().parents[1]
GRID = np.arange(101) / 100  # τ = k/100, the documented grid
# The fixtures' made-up methods score matching rates (a real method declares its scale in methods.scales).
RATES = dict.fromkeys(("m", "alpha", "zeta", "edge"), RATE)


# --- fixture writer -----------------------------------------------------------------------------


def write_run(root: Path, models: dict[str, tuple[str, str]], scores: dict[str, dict[str, float]],
              run_id: str = "run-1") -> Path:
    """Write run.json, models.parquet and one scores shard (with its job record) per (method, model).

    `models` maps model_id -> (role, attack); `scores` maps method -> {model_id: score}.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "run.json").write_text(json.dumps({"run_id": run_id, "preset": "test"}))
    ids = list(models)
    pl.DataFrame(
        {
            "model_id": ids,
            "parent_id": [None if role in ("source", "negative", "owner") else "src" for role, _ in models.values()],
            "role": [role for role, _ in models.values()],
            "attack": [attack for _, attack in models.values()],
            "attack_params": ['{"epochs": 1}'] * len(ids),
            "arch": ["cnn"] * len(ids),
            "dataset": ["digits"] * len(ids),
            "seed": list(range(len(ids))),
            "test_acc": [0.9] * len(ids),
            "train_seconds": [1.5] * len(ids),
            "source_id": ["src"] * len(ids),
            "created_at": ["2025-01-01T00:00:00+00:00"] * len(ids),
        },
        schema_overrides={"parent_id": pl.String, "seed": pl.Int64},
    ).write_parquet(root / "models.parquet")
    location = Location(root)
    for method, per_model in scores.items():
        for model_id, score in per_model.items():
            table = pa.table(
                {
                    "run_id": [run_id],
                    "method": [method],
                    "model_id": [model_id],
                    "score": pa.array([score], pa.float64()),
                    "access": ["black-box"],
                }
            )
            name, data = rundir.shard_name("scores", method, model_id), parquet_bytes(table)
            location.write_bytes(name, data)
            location.write_text(rundir.record_name(method, model_id),
                                rundir.job_record(method, model_id, f"fp-{method}", {name: data}))
    return root


# A zoo with every role: 3 finetune + 2 prune positives, 2 independent + 2 mirror negatives, an owner.
ZOO = {
    "src": ("source", "source"),
    "ft1": ("positive", "finetune"),
    "ft2": ("positive", "finetune"),
    "ft3": ("positive", "finetune"),
    "pr1": ("positive", "prune"),
    "pr2": ("positive", "prune"),
    "ind1": ("negative", "independent"),
    "ind2": ("negative", "independent"),
    "mft1": ("negative", "finetune"),
    "mft2": ("negative", "finetune"),
    "own": ("owner", "independent"),
}
ZOO_SCORES = {
    "src": 0.95, "ft1": 0.9, "ft2": 0.7, "ft3": 0.4, "pr1": 0.6, "pr2": 0.2,
    "ind1": 0.1, "ind2": 0.5, "mft1": 0.3, "mft2": 0.45,
    "own": 0.0,  # would change every AUC if the owner were (wrongly) counted on either side
}


def auc_by_pairs(pos, neg) -> float:
    """P(s+ > s-) + 0.5 P(s+ = s-) by brute force over all pairs."""
    p, n = np.asarray(pos, float)[:, None], np.asarray(neg, float)[None, :]
    return float(((p > n) + 0.5 * (p == n)).mean())


def aruc_by_hand(pos, neg) -> float:
    """Trapezoid integral of min(TPR, TNR) on the 0.01 grid, written independently of the package."""
    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    tpr = np.array([(pos >= t).mean() for t in GRID])
    tnr = np.array([(neg < t).mean() for t in GRID])
    low = np.minimum(tpr, tnr)
    return float(np.sum((low[1:] + low[:-1]) / 2 * np.diff(GRID)))


def row(metrics: pl.DataFrame, method: str, attack: str) -> dict:
    found = metrics.filter(method=method, attack=attack)
    assert found.height == 1, f"expected one row for {method}/{attack}, got {found.height}"
    return found.row(0, named=True)


def metrics_of(tmp_path: Path, models, scores, min_count: int = 3, scales=RATES) -> pl.DataFrame:
    run = load_run(write_run(tmp_path / "run", models, scores))
    return compute_metrics(run.scores, run.models, run.run_id, min_count=min_count, scales=scales)


def printed(metrics: pl.DataFrame) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    print_metrics(metrics, console=console)
    return console.file.getvalue()


# --- metric values ------------------------------------------------------------------------------


def test_hand_computed_auc_and_aruc(tmp_path):
    models = {"p1": ("positive", "finetune"), "p2": ("positive", "finetune"), "p3": ("positive", "finetune"),
              "n1": ("negative", "independent"), "n2": ("negative", "independent"), "n3": ("negative", "independent")}
    scores = {"m": {"p1": 0.9, "p2": 0.8, "p3": 0.3, "n1": 0.1, "n2": 0.2, "n3": 0.35}}
    metrics = metrics_of(tmp_path, models, scores)
    # min(R, U) on the grid: 0 for τ ≤ .10, 1/3 for .11–.20, 2/3 for .21–.80, 1/3 for .81–.90, 0 above;
    # the ends are 0, so the trapezoid sum is 0.01 · (10·1/3 + 60·2/3 + 10·1/3) = 7/15.
    for attack in ("all", "finetune"):
        r = row(metrics, "m", attack)
        assert r["auc"] == pytest.approx(8 / 9, abs=1e-12)
        assert r["aruc"] == pytest.approx(7 / 15, abs=1e-12)
        assert r["aruc"] == pytest.approx(aruc_by_hand([0.9, 0.8, 0.3], [0.1, 0.2, 0.35]), abs=1e-12)
        assert (r["n_pos"], r["n_neg"], r["n_invalid"], r["too_small"], r["score_mapped"]) == (3, 3, 0, False, False)


def test_ru_curves_values_and_shape():
    scored = pl.DataFrame({
        "method": ["m"] * 6, "attack": ["all"] * 6,
        "label": [True] * 3 + [False] * 3, "score": [0.9, 0.8, 0.3, 0.1, 0.2, 0.35],
    })
    curves = ru_curves(scored)
    assert curves.columns == ["method", "attack", "threshold", "robustness", "uniqueness"]
    assert curves.height == 101 and curves["threshold"].to_list() == GRID.tolist()
    at = {round(t, 2): (r, u) for t, r, u in curves.select("threshold", "robustness", "uniqueness").iter_rows()}
    assert at[0.3] == (1.0, pytest.approx(2 / 3))   # score 0.3 >= 0.3 still counts as caught
    assert at[0.31][0] == pytest.approx(2 / 3)
    assert at[0.35][1] == pytest.approx(2 / 3)      # negative 0.35 is not < 0.35
    assert at[0.36][1] == 1.0
    assert at[0.0] == (1.0, 0.0) and at[1.0] == (0.0, 1.0)


def test_perfect_separation(tmp_path):
    models = {f"p{i}": ("positive", "prune") for i in range(3)} | {f"n{i}": ("negative", "independent") for i in range(3)}
    scores = {"m": {f"p{i}": 0.9 for i in range(3)} | {f"n{i}": 0.1 for i in range(3)}}
    r = row(metrics_of(tmp_path, models, scores), "m", "all")
    assert r["auc"] == 1.0
    assert r["aruc"] == pytest.approx(0.80, abs=1e-12)  # min(R, U) = 1 on (0.1, 0.9], ramps at both ends


def test_identical_scores_and_ties_count_half(tmp_path):
    models = {"p1": ("positive", "prune"), "p2": ("positive", "prune"),
              "n1": ("negative", "independent"), "n2": ("negative", "independent")}
    same = metrics_of(tmp_path / "same", models, {"m": dict.fromkeys(models, 0.5)})
    assert row(same, "m", "all")["auc"] == 0.5
    assert row(same, "m", "all")["aruc"] == 0.0
    # pairs: (.5,.5) tie → ½, the other three are wins → 3.5 / 4
    ties = metrics_of(tmp_path / "ties", models, {"m": {"p1": 0.5, "p2": 0.7, "n1": 0.5, "n2": 0.2}})
    assert row(ties, "m", "all")["auc"] == pytest.approx(0.875, abs=1e-12)


# --- who counts where ----------------------------------------------------------------------------


def test_per_attack_rows_use_that_attack_and_all_negatives(tmp_path):
    metrics = metrics_of(tmp_path, ZOO, {"m": ZOO_SCORES})
    negatives = [ZOO_SCORES[k] for k in ("ind1", "ind2", "mft1", "mft2")]
    expected = {
        "all": [ZOO_SCORES[k] for k in ("src", "ft1", "ft2", "ft3", "pr1", "pr2")],
        "finetune": [ZOO_SCORES[k] for k in ("ft1", "ft2", "ft3")],
        "prune": [ZOO_SCORES[k] for k in ("pr1", "pr2")],
    }
    assert metrics["attack"].to_list() == ["all", "finetune", "prune"]  # no row for source/independent
    for attack, positives in expected.items():
        r = row(metrics, "m", attack)
        assert (r["n_pos"], r["n_neg"]) == (len(positives), 4)
        assert r["auc"] == pytest.approx(auc_by_pairs(positives, negatives), abs=1e-12)
        assert r["aruc"] == pytest.approx(aruc_by_hand(positives, negatives), abs=1e-12)
    assert row(metrics, "m", "finetune")["auc"] == pytest.approx(10 / 12)
    assert row(metrics, "m", "prune")["auc"] == pytest.approx(5 / 8)
    assert row(metrics, "m", "all")["auc"] == pytest.approx(19 / 24)


def test_schema_and_sort_order(tmp_path):
    metrics = metrics_of(tmp_path, ZOO, {"zeta": ZOO_SCORES, "alpha": ZOO_SCORES})
    assert metrics.schema == METRIC_SCHEMA
    assert metrics.select("method", "attack").rows() == [
        ("alpha", "all"), ("alpha", "finetune"), ("alpha", "prune"),
        ("zeta", "all"), ("zeta", "finetune"), ("zeta", "prune"),
    ]
    assert metrics["run_id"].unique().to_list() == ["run-1"]


def test_too_small_is_flagged_but_kept(tmp_path):
    metrics = metrics_of(tmp_path, ZOO, {"m": ZOO_SCORES})
    prune = row(metrics, "m", "prune")
    assert prune["too_small"] and prune["auc"] is not None and prune["aruc"] is not None
    assert not row(metrics, "m", "finetune")["too_small"]
    assert not row(metrics_of(tmp_path / "b", ZOO, {"m": ZOO_SCORES}, min_count=2), "m", "prune")["too_small"]
    assert f"{prune['auc']:.3f}†" in printed(metrics)


def test_empty_side_gives_null_metrics(tmp_path):
    partial = {k: v for k, v in ZOO_SCORES.items() if not k.startswith("pr")}
    metrics = metrics_of(tmp_path, ZOO, {"m": partial})
    prune = row(metrics, "m", "prune")
    assert (prune["n_pos"], prune["n_neg"], prune["auc"], prune["aruc"], prune["too_small"]) == (0, 4, None, None, True)
    assert "—" in printed(metrics)


def test_invalid_scores_are_counted_and_excluded(tmp_path):
    dirty = ZOO_SCORES | {"ft1": float("nan"), "ind1": float("inf"), "src": float("-inf")}
    metrics = metrics_of(tmp_path, ZOO, {"m": dirty})
    negatives = [dirty[k] for k in ("ind2", "mft1", "mft2")]
    finetune = row(metrics, "m", "finetune")
    assert (finetune["n_pos"], finetune["n_neg"], finetune["n_invalid"]) == (2, 3, 2)
    assert finetune["auc"] == pytest.approx(auc_by_pairs([dirty["ft2"], dirty["ft3"]], negatives), abs=1e-12)
    assert (row(metrics, "m", "prune")["n_invalid"], row(metrics, "m", "all")["n_invalid"]) == (1, 3)
    assert row(metrics, "m", "all")["n_pos"] == 4
    assert not finetune["score_mapped"]  # ±inf must not trigger the [0, 1] mapping
    out = printed(metrics)
    assert "⚠" in out and "3 NaN/inf score(s) excluded" in out


def test_a_declared_range_maps_scores_without_looking_at_them(tmp_path):
    wide = {k: 8 * v - 3 for k, v in ZOO_SCORES.items()}  # declared range [-3, 5]: maps back to ZOO_SCORES
    edge = ZOO_SCORES | {"src": 1.0, "own": 0.0}       # a rate touching 0 and 1
    scales = RATES | {"wide": ScoreScale("wide", -3.0, 5.0)}
    metrics = metrics_of(tmp_path, ZOO, {"wide": wide, "edge": edge}, scales=scales)
    negatives = [ZOO_SCORES[k] for k in ("ind1", "ind2", "mft1", "mft2")]
    mapped = {k: (s + 3) / 8 for k, s in wide.items()}  # ≈ ZOO_SCORES, up to round-off at grid points
    for attack, names in (("finetune", ("ft1", "ft2", "ft3")), ("prune", ("pr1", "pr2"))):
        r = row(metrics, "wide", attack)
        assert r["score_mapped"] and r["score_scale"] == "wide" and r["aruc_note"] is None
        expected = aruc_by_hand([mapped[k] for k in names], [mapped[k] for k in ("ind1", "ind2", "mft1", "mft2")])
        assert r["aruc"] == pytest.approx(expected, abs=1e-12)
        assert r["auc"] == pytest.approx(auc_by_pairs([ZOO_SCORES[k] for k in names], negatives), abs=1e-12)
        e = row(metrics, "edge", attack)
        assert not e["score_mapped"] and e["score_scale"] == "rate"
        assert e["aruc"] == pytest.approx(aruc_by_hand([edge[k] for k in names], negatives), abs=1e-12)


def test_no_aruc_without_a_usable_scale(tmp_path):
    """Unbounded, or a score outside its scale's range: ARUC null with the reason, AUC kept."""
    outside = ZOO_SCORES | {"pr1": 1.5}
    scales = {"rate": RATE, "p": ScoreScale("unbounded")}
    metrics = metrics_of(tmp_path, ZOO, {"rate": outside, "p": ZOO_SCORES, "new": outside}, scales=scales)
    notes = {(r["method"], r["attack"]): r["aruc_note"] for r in metrics.iter_rows(named=True)}
    assert notes[("rate", "prune")] == "1 score(s) outside [0.0, 1.0], the rate scale's range"
    assert notes[("rate", "all")] == notes[("rate", "prune")] and notes[("rate", "finetune")] is None
    assert notes[("p", "all")] == "unbounded score: no fixed map to [0, 1]"
    for method, attack in (("rate", "prune"), ("rate", "all"), ("p", "finetune"), ("new", "prune")):
        r = row(metrics, method, attack)
        assert r["aruc"] is r["aruc_lo"] is r["aruc_hi"] is r["aruc_strict"] is None
        assert r["auc"] is not None and r["auc_lo"] is not None
    out = printed(metrics)
    assert "n/a" in out and "ARUC not defined" in out


def test_a_method_without_a_declared_scale_is_read_as_a_rate(tmp_path):
    metrics = metrics_of(tmp_path, ZOO, {"new": ZOO_SCORES | {"pr1": 1.5}, "m": ZOO_SCORES})
    new, m = row(metrics, "new", "finetune"), row(metrics, "m", "finetune")
    assert new["score_scale"] == "rate (assumed: undeclared)" and not new["score_mapped"]
    assert new["aruc"] == m["aruc"] and new["aruc_note"] is None
    assert row(metrics, "new", "prune")["aruc_note"] == (
        "1 score(s) outside [0.0, 1.0], the rate (assumed: undeclared) scale's range")


# --- loading and the report files ---------------------------------------------------------------


@pytest.mark.parametrize("missing", ["models.parquet", "run.json"])
def test_missing_file_is_a_clear_error(tmp_path, missing):
    run = write_run(tmp_path / "run", ZOO, {"m": ZOO_SCORES})
    (run / missing).unlink()
    with pytest.raises(ValueError, match=missing):
        load_run(run)
    with pytest.raises(ValueError, match=missing):
        build_report(run)
    assert not (run / "report").exists()


@pytest.mark.parametrize("layout", ["no scores dir", "empty method dir"])
def test_no_scores_yet(tmp_path, layout):
    run = write_run(tmp_path / "run", ZOO, {})
    if layout == "empty method dir":
        (run / "scores" / "method=m").mkdir(parents=True)
    report = build_report(run)
    assert report.metrics.is_empty() and report.metrics.schema == METRIC_SCHEMA
    assert all(p.is_file() for p in (report.metrics_path, report.scores_path, report.plot_path))
    assert "no method has finished" in printed(report.metrics)


def test_build_report_writes_files(tmp_path, monkeypatch):
    for name in ("m", "k"):
        monkeypatch.setitem(SCORE_SCALES, name, RATE)
    run = write_run(tmp_path / "run", ZOO, {"m": ZOO_SCORES, "k": {k: 2 * v for k, v in ZOO_SCORES.items()}})
    report = build_report(run)
    out = run / "report"
    assert (report.metrics_path, report.scores_path, report.plot_path) == (
        out / "metrics.parquet", out / "scores.parquet", out / "ru_curves.png")
    assert report.run_id == "run-1"
    assert pl.read_parquet(report.metrics_path).equals(report.metrics)

    joined = pl.read_parquet(report.scores_path)
    assert joined.height == 2 * len(ZOO)
    assert {"role", "attack", "arch", "attack_params", "test_acc", "score", "method"} <= set(joined.columns)
    assert joined.filter(model_id="pr1", method="m").select("role", "attack").row(0) == ("positive", "prune")

    png = report.plot_path.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000
    assert sorted(p.name for p in out.iterdir()) == [
        "auc_by_attack.png", "budget.parquet", "budget.png", "calibration.parquet", "margins.parquet", "margins.png", "metrics.parquet", "models.parquet",
        "paired.parquet", "report.html", "report.md", "ru_curves.png", "scores.parquet", "tests.parquet"]

    # k (2 × a rate) leaves its declared [0, 1]: its ARUC is withheld, and the report says so
    assert report.metrics.filter(method="k")["aruc"].is_null().all()
    assert report.metrics.filter(method="m")["aruc"].is_not_null().all()
    assert any(w.startswith("k: ARUC left out of 3 metric row(s) (") for w in report.warnings)
    assert not any(w.startswith("m: ") for w in report.warnings)
    elsewhere = build_report(run, out_dir=tmp_path / "elsewhere", min_count=1)
    assert elsewhere.plot_path.parent == tmp_path / "elsewhere"
    assert not elsewhere.metrics["too_small"].any()


def test_never_imports_torch_or_ray(tmp_path):
    run = write_run(tmp_path / "run", ZOO, {"m": ZOO_SCORES})
    code = (
        "import reports, sys\n"
        "assert 'matplotlib' not in sys.modules, 'import reports must stay cheap'\n"
        f"reports.build_report({str(run)!r})\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'ray'))\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (run / "report" / "ru_curves.png").is_file()
