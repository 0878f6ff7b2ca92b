"""`fpbench verify`: one model, one answer, from a finished run.

The owner's question about a single model — is this one a copy of mine? — answered
with what a run already holds: the method's stored fingerprint (nothing is
retrained), the suspect's answers to it, the method's score, and the threshold the
run calibrated for that method on negatives it did not score (`reports.calibration`,
the "all attacks" cell at the chosen false-positive rate). The verdict is "stolen"
when the score is above that threshold; the method's own test adds a p-value where
it has one. A method that needs more access than the suspect gives (white-box
features of an ONNX file, logits from a label API) answers "not applicable".
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from engine.foreign import WeightsSuspect, applicable, open_suspect
from engine.fs import Location
from engine.store import ArtifactStore

TARGET_FPRS = (0.01, 0.05)


@dataclass(frozen=True)
class Verdict:
    method: str
    suspect: str
    suspect_id: str
    access: str  # what the suspect revealed
    verdict: str  # stolen | not shown stolen | not applicable | no threshold
    score: float | None = None
    threshold: float | None = None
    target_fpr: float | None = None
    n_cal_neg: int | None = None  # calibration negatives behind the threshold
    p_value: float | None = None
    effect: float | None = None
    note: str = ""

    def as_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


def verify(run_dir: str | Path, method_label: str, suspect: str, arch: str | None = None,
           returns: str = "logits", target_fpr: float = 0.05) -> Verdict:
    """Score `suspect` (a file or URL) with the run's `method_label` fingerprint and judge it."""
    from engine.config import build_spec
    from engine.plan import build_plan
    from methods import get_method
    from methods.base import Fingerprint
    from reports.load import load_run

    if target_fpr not in TARGET_FPRS:
        raise ValueError(f"target FPR must be one of {', '.join(map(str, TARGET_FPRS))}, got {target_fpr}")
    run = load_run(run_dir)
    plan = build_plan(build_spec(run.info["spec"]))
    jobs = [f for f in plan.fingerprints if f.label == method_label]
    if not jobs:
        raise ValueError(f"{run_dir} has no method {method_label!r}; it has: "
                         f"{', '.join(sorted({f.label for f in plan.fingerprints}))}")
    job = jobs[0]  # the first source replicate's fingerprint
    method = get_method(job.method)(**job.params)
    model = open_suspect(suspect, arch, returns)
    if not applicable(method.access, model.access):
        return Verdict(method_label, suspect, model.suspect_id, model.access, "not applicable",
                       note=f"{method_label} needs {method.access} access; the suspect gives {model.access}")
    store = ArtifactStore(Location(str(run.run_dir)) / "store")
    fp = Fingerprint.from_tensors(*store.load_fingerprint(job.fingerprint_id))
    observed = _observe(method, fp, model, _num_classes(run.models.collect()))
    score = float(method.score(fp, observed))
    test = method.test(fp, observed)
    threshold, n_cal = _threshold(run, method_label, target_fpr)
    if threshold is None:
        verdict = "no threshold"
    else:
        verdict = "stolen" if score > threshold else "not shown stolen"
    return Verdict(method_label, suspect, model.suspect_id, model.access, verdict, score, threshold, target_fpr,
                   n_cal, test.get("p_value"), test.get("effect"),
                   "" if threshold is not None else "the run has no calibration negatives for this method")


def _observe(method, fp, model, num_classes: int) -> np.ndarray:
    """What the suspect reveals about the fingerprint at the method's access level."""
    if isinstance(model, WeightsSuspect):
        network = model.model(fp.inputs.shape[1:], num_classes)
        return method.observe(method.query(fp, network))
    answers = model.predict(fp.inputs)
    return answers if model.access == "labels" else method.observe(answers)


def _num_classes(models: pl.DataFrame) -> int:
    sources = models.filter(pl.col("role") == "source").get_column("num_classes").drop_nulls()
    if sources.is_empty():
        raise ValueError("the run's manifest records no source with a label count; finish the run first")
    return int(sources[0])


def _threshold(run, method_label: str, target_fpr: float) -> tuple[float | None, int | None]:
    """The run's calibrated threshold for the method's "all" cell at `target_fpr`."""
    from reports.calibration import calibration_table
    from reports.params import ALL
    from reports.suspects import label_suspects, run_scales

    models = run.models.collect()
    scores = run.scores.filter(pl.col("method") == method_label).collect()
    labelled = label_suspects(scores, models, run_scales(run.info)).filter(pl.col("param") == ALL)
    table = calibration_table(labelled, models).filter(
        (pl.col("method") == method_label) & (pl.col("attack") == ALL) & (pl.col("target_fpr") == target_fpr))
    if table.is_empty() or table.item(0, "threshold") is None:
        return None, None
    return float(table.item(0, "threshold")), int(table.item(0, "n_cal_neg"))


def verdict_lines(verdict: Verdict) -> list[str]:
    """The verdict for a person: what was asked, the score against the threshold, the answer."""
    lines = [f"{verdict.method} on {verdict.suspect} ({verdict.access} access): {verdict.verdict.upper()}"]
    if verdict.score is not None:
        lines.append(f"score {verdict.score:.4f}")
    if verdict.threshold is not None:
        lines.append(f"threshold {verdict.threshold:.4f} (FPR {verdict.target_fpr:.0%} on {verdict.n_cal_neg} "
                     "calibration negatives; stolen if the score is above it)")
    if verdict.p_value is not None and math.isfinite(verdict.p_value):
        lines.append(f"p-value {verdict.p_value:.3g} (the method's own test)")
    if verdict.note:
        lines.append(verdict.note)
    lines.append(f"suspect id {verdict.suspect_id}")
    return lines
