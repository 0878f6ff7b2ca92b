"""Score scales: every method declares one, its scores keep to it, and ARUC never depends on the data's range."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from test_reports import aruc_by_hand
from test_reports_fixtures import SCORES, write_engine_run

from methods import METHODS, get_method
from methods.base import Fingerprint
from methods.scales import SCORE_SCALES, TOLERANCE
from reports import build_report, compute_metrics

REPO_ROOT = Path(__file__).resolve().parents[1]

# --- the declarations ------------------------------------------------------------------------------


def test_every_method_declares_the_scale_the_report_reads():
    assert sorted(SCORE_SCALES) == METHODS.builtins()  # a plugin's scale is its own declaration
    for name in METHODS.builtins():
        assert get_method(name).score_scale == SCORE_SCALES[name], name


def test_the_report_learns_scales_without_torch():
    code = "import methods.scales, reports, sys\nassert 'torch' not in sys.modules\n"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _labels(rng, n=40):
    """A label-only method's fingerprint and answers: from none to all matching."""
    labels = rng.integers(0, 10, n)
    return Fingerprint(np.zeros((n, 1, 4, 4), np.float32), labels), [rng.integers(0, 10, n), labels, (labels + 1) % 10]


def _metav(rng, method):
    n, widths = method.params["n"], [10 * method.params["n"], *method.params["hidden"], 1]
    arrays = {}
    for i, (fan_in, fan_out) in enumerate(zip(widths, widths[1:])):
        arrays[f"verifier.{2 * i}.weight"] = rng.normal(0, 30, (fan_out, fan_in))  # large: saturates the sigmoid
        arrays[f"verifier.{2 * i}.bias"] = rng.normal(0, 30, fan_out)
    fp = Fingerprint(np.zeros((n, 1, 4, 4), np.float32), arrays=arrays)
    return fp, [rng.normal(0, 50, (n, 10)) for _ in range(5)] + [np.zeros((n, 5))]  # last: a foreign width


def _uap(rng):
    views, width, hidden, out = 4, 30, 16, 8
    arrays = {"encoder.w1": rng.normal(size=(hidden, width)), "encoder.b1": rng.normal(size=hidden),
              "encoder.w2": rng.normal(size=(out, hidden)), "encoder.b2": rng.normal(size=out),
              "source_embedding": rng.normal(size=(views, out))}  # any sign: the declared [-1, 1] must hold anyway
    fp = Fingerprint(np.zeros((views * 6, 1, 4, 4), np.float32), arrays=arrays)
    return fp, [rng.normal(0, 5, (views * 6, 5)) for _ in range(5)] + [np.zeros((7, 3))]  # last: not encodable


def _correlation(rng):
    from methods.correlation import correlation_matrix

    source = correlation_matrix(rng.normal(size=(30, 10)))
    fp = Fingerprint(np.zeros((30, 1, 4, 4), np.float32), arrays={"correlation": source})
    return fp, [rng.normal(0, 100, (30, 10)), rng.normal(size=(30, 2)), -fp.arrays["correlation"] @ np.ones((30, 3))]


def _cases(name, method, rng):
    if method.access == "labels":
        return _labels(rng)
    return {"metav": lambda: _metav(rng, method), "uap": lambda: _uap(rng), "sac_w": lambda: _correlation(rng),
            "sac_m": lambda: _correlation(rng)}[name]()


@pytest.mark.parametrize("name", [n for n in METHODS.builtins() if SCORE_SCALES[n].bounded])
def test_scores_keep_to_the_declared_range(name):
    """Random fingerprints and answers, extreme ones included, never leave the declared range."""
    cls = get_method(name)
    method, scale = cls(**cls.tiny), SCORE_SCALES[name]
    rng = np.random.default_rng(0)
    slack = TOLERANCE * (scale.hi - scale.lo)
    for _ in range(5):
        fp, answers = _cases(name, method, rng)
        for observed in answers:
            assert scale.lo - slack <= method.score(fp, observed) <= scale.hi + slack


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")  # scipy, on the identical differences
def test_external_features_score_is_not_a_rate():
    """-log10 p: identical styled-image differences give p = the smallest double, a score of 307.65."""
    cls = get_method("external_features")
    method = cls(**cls.tiny)
    observed = np.stack([np.full(62, 0.95), np.full(62, 0.05)], axis=1)
    assert method.score(Fingerprint(np.zeros((62, 1, 4, 4), np.float32)), observed) == pytest.approx(307.65, abs=0.01)
    assert not SCORE_SCALES["external_features"].bounded


# --- the report: no suspect moves another cell's ARUC (issue regressions) ------------------------

MODELS = pl.DataFrame({
    "model_id": ["src", "f1", "f2", "f3", "p1", "p2", "p3", "n1", "n2", "n3", "n4", "own"],
    "role": ["source"] + ["positive"] * 6 + ["negative"] * 4 + ["owner"],
    "attack": ["source"] + ["finetune"] * 3 + ["prune"] * 3 + ["independent"] * 5,
})
COSINES = {"src": 0.85, "f1": 0.8, "f2": 0.62, "f3": 0.3, "p1": 0.7, "p2": 0.55, "p3": 0.4,
           "n1": 0.1, "n2": 0.45, "n3": 0.2, "n4": 0.35}


def metrics_for(method: str, scores: dict[str, float], **kwargs) -> pl.DataFrame:
    frame = pl.DataFrame({"method": [method] * len(scores), "model_id": list(scores), "score": list(scores.values())},
                         schema={"method": pl.String, "model_id": pl.String, "score": pl.Float64})
    return compute_metrics(frame, MODELS, "r", min_count=1, **kwargs)


def at(metrics: pl.DataFrame, attack: str) -> dict:
    return metrics.filter(attack=attack).row(0, named=True)


def test_a_saturated_p_value_leaves_other_families_alone():
    """external_features: -log10 p = 307.65 in prune. The run-wide min-max map took finetune's ARUC
    from 0.4525 to 0.0100 here (0.4955 to 0.0230 in the issue's run); an unbounded score has none."""
    p_values = {k: 10 * v for k, v in COSINES.items()}
    calm = metrics_for("external_features", p_values)
    saturated = metrics_for("external_features", p_values | {"p1": 307.65})
    assert at(saturated, "finetune") == at(calm, "finetune")
    for row in saturated.iter_rows(named=True):
        assert row["aruc"] is None and row["aruc_note"] == "unbounded score: no fixed map to [0, 1]"
        assert row["auc"] is not None and not row["score_mapped"]


def test_a_range_extreme_in_one_family_leaves_other_families_alone():
    """A bounded score at its declared end (sac_w: -1) is mapped like any other: finetune stays (was 0.4525 -> 0.4)."""
    distances = {k: v - 1 for k, v in COSINES.items()}  # -D in [-1, 0]
    calm = metrics_for("sac_w", distances)
    extreme = metrics_for("sac_w", distances | {"p3": -1.0})
    assert at(extreme, "finetune") == at(calm, "finetune")
    unit = {k: v + 1 for k, v in distances.items()}
    expected = aruc_by_hand([unit[k] for k in ("f1", "f2", "f3")], [unit[f"n{i}"] for i in range(1, 5)])
    assert at(calm, "finetune")["aruc"] == pytest.approx(expected, abs=1e-12)


def test_a_slightly_negative_cosine_does_not_switch_a_mapping_on():
    """uap: one cosine of -0.001 in prune switched min-max mapping on: finetune's ARUC 0.34 -> 0.40 here
    (0.4160 -> 0.4884 in the issue's run)."""
    calm = metrics_for("uap", COSINES)
    negative = metrics_for("uap", COSINES | {"p3": -0.001})
    assert at(negative, "finetune") == at(calm, "finetune")
    unit = {k: (v + 1) / 2 for k, v in COSINES.items()}  # always (s + 1) / 2, whatever the run holds
    expected = aruc_by_hand([unit[k] for k in ("f1", "f2", "f3")], [unit[f"n{i}"] for i in range(1, 5)])
    assert at(calm, "finetune")["aruc"] == pytest.approx(expected, abs=1e-12)
    assert at(negative, "prune")["aruc_note"] is None and at(negative, "prune")["score_mapped"]


@pytest.mark.parametrize("method, score", [("uap", 3.0), ("external_features", 307.65)])
def test_equal_out_of_range_scores_keep_invalid_and_missing_counts(method, score):
    """All finite scores equal and outside [0, 1] once turned NaN and missing scores into a valid 0.0."""
    scores = {k: score for k in COSINES if k not in ("f1", "n1")} | {"f1": float("nan"), "n1": float("nan")}
    scores.pop("n2")  # never scored: missing
    row = at(metrics_for(method, scores), "all")
    assert (row["n_pos"], row["n_neg"], row["n_invalid"], row["n_missing"]) == (6, 2, 2, 1)
    assert row["auc"] == 0.5 and row["aruc"] is None and row["aruc_note"] is not None


@pytest.mark.parametrize("method", ["uap", "sac_w", "ipguard", "external_features"])
def test_owner_models_and_models_absent_from_the_manifest_change_nothing(method):
    scores = {k: v - 1 for k, v in COSINES.items()} if method == "sac_w" else COSINES
    clean = metrics_for(method, scores)
    for extreme in (-1e6, 1e6, float("nan")):
        noisy = metrics_for(method, scores | {"own": extreme, "not-in-manifest": -extreme})
        assert noisy.equals(clean), extreme
    assert clean["aruc_note"].is_null().all() == SCORE_SCALES[method].bounded


def test_a_labelled_spec_entry_has_its_methods_scale(tmp_path):
    """Score shards name a spec entry's label ("wide-uap"); the scale is that of its method (uap)."""
    run = write_engine_run(tmp_path / "run", {"wide-uap": {k: 2 * v - 1 for k, v in SCORES.items()}})
    info = json.loads((run / "run.json").read_text())
    info["spec"]["methods"] = [{"name": "uap", "label": "wide-uap"}]
    (run / "run.json").write_text(json.dumps(info))
    metrics = build_report(run, resamples=0).metrics
    assert set(metrics["score_scale"]) == {"cosine"} and metrics["aruc_note"].is_null().all()


def test_run_json_records_each_entrys_declared_scale_and_the_report_uses_it(tmp_path):
    """A plugin method is unknown to methods.scales; the scale its class declared reaches the report
    through run.json, and a damaged record is refused by name."""
    from conftest import tiny_spec

    from engine.config import build_spec
    from engine.provenance import declared_scales

    spec = build_spec(tiny_spec(methods=[{"name": "uap"}, {"name": "external_features", "label": "ef"}]))
    assert declared_scales(spec) == {"uap": {"name": "cosine", "lo": -1.0, "hi": 1.0},
                                     "ef": {"name": "unbounded", "lo": None, "hi": None}}
    run = write_engine_run(tmp_path / "run", {"third-party": {k: 2 * v - 1 for k, v in SCORES.items()}})
    info = json.loads((run / "run.json").read_text())
    info["score_scales"] = {"third-party": {"name": "cosine", "lo": -1.0, "hi": 1.0}}
    (run / "run.json").write_text(json.dumps(info))
    metrics = build_report(run, resamples=0).metrics
    assert set(metrics["score_scale"]) == {"cosine"} and metrics["aruc_note"].is_null().all()
    info["score_scales"] = {"third-party": {"name": "cosine", "lo": 1.0, "hi": -1.0}}
    (run / "run.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="score_scales.third-party"):
        build_report(run, resamples=0)
