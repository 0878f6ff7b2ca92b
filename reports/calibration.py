"""Thresholds the way a deployed verifier sets them: on negatives it is not scored on.

`metrics.tpr_at_*fpr` picks the threshold on the same negatives it then counts, which
flatters every method. Here the negatives are split into a calibration and an
evaluation part, the threshold is set on the calibration part only, and TPR and FPR
are measured on the positives and on the held-out (evaluation) negatives.

* Family: a negative and every model derived from it share one family, named by the
  root of its derivation (model ids are "root->step->step"; the manifest's parent_id
  chain is followed first, so a model whose id is not a derivation string still finds
  its root). The root encodes the lineage's training recipe and seed.
* Split: a family goes to calibration if sha256(family) is even, else to evaluation —
  a function of the family alone, so adding or removing other suspects never moves
  it, and a family is never split. If a cell's negatives all land on one side, that
  is said (note) instead of splitting a family.
* Threshold for a target FPR α with n_cal calibration negatives: k = ⌊α·n_cal⌋ of
  them may be flagged, so t = the (k+1)-th highest calibration score and a suspect is
  flagged if s > t (the convention of `reports.metrics`: the smallest threshold whose
  calibration FPR is <= α). With α < 1/n_cal, k = 0 and t is the highest calibration
  negative: the smallest FPR n_cal negatives can certify is 1/n_cal, so n_cal is shown.
* Each (method, attack) cell ("all" and each attack family) gets its own threshold
  from its own calibration negatives; cells of one label space face the same
  negatives and so share it, a transfer cell (another label space) gets its own.
* TPR = tp/n_pos and FPR = fp/n_eval_neg with exact Clopper–Pearson 95 % intervals.
"""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl
from scipy.stats import beta

from .params import ALL

TARGET_FPRS = (0.01, 0.05)
LEVEL = 0.95
CALIBRATION, EVALUATION = "calibration", "evaluation"
FAMILY_SCHEMA = pl.Schema({"model_id": pl.String, "family": pl.String, "part": pl.String})
CALIBRATION_SCHEMA = pl.Schema({
    "method": pl.String, "attack": pl.String, "target_fpr": pl.Float64, "threshold": pl.Float64,
    "n_cal_neg": pl.Int64, "n_cal_families": pl.Int64, "cal_fpr": pl.Float64,
    "n_pos": pl.Int64, "tp": pl.Int64, "tpr": pl.Float64, "tpr_lo": pl.Float64, "tpr_hi": pl.Float64,
    "n_eval_neg": pl.Int64, "n_eval_families": pl.Int64, "fp": pl.Int64, "fpr": pl.Float64,
    "fpr_lo": pl.Float64, "fpr_hi": pl.Float64, "note": pl.String,
})


def family_part(family: str) -> str:
    """calibration or evaluation, from the family id alone (sha256 parity): stable under any other change."""
    return CALIBRATION if hashlib.sha256(family.encode()).digest()[-1] % 2 == 0 else EVALUATION


def _root(model_id: str, parents: dict[str, str | None]) -> str:
    """The derivation root: up the parent_id chain as far as the manifest goes, then the id's first step."""
    seen = {model_id}
    while (parent := parents.get(model_id)) and parent in parents and parent not in seen:
        seen.add(parent)
        model_id = parent
    return model_id.split("->", 1)[0]


def negative_families(models: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """(model_id, family, part) for every negative model; columns of FAMILY_SCHEMA, sorted by model_id."""
    models = models.lazy().collect()
    has_parent = "parent_id" in models.columns
    parents = dict(zip(models["model_id"], models["parent_id"] if has_parent else [None] * models.height))
    negatives = sorted(models.filter(pl.col("role") == "negative").get_column("model_id").to_list())
    rows = [(m, family := _root(m, parents), family_part(family)) for m in negatives]
    return pl.DataFrame(rows, schema=FAMILY_SCHEMA, orient="row")


def clopper_pearson(k: int, n: int, level: float = LEVEL) -> tuple[float | None, float | None]:
    """Exact binomial interval for k successes of n; (None, None) with n = 0."""
    if n == 0:
        return None, None
    tail = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(tail, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - tail, k + 1, n - k))
    return lo, hi


def calibrated_threshold(calibration: np.ndarray, target: float) -> float | None:
    """The (⌊target·n⌋+1)-th highest calibration score (flag s > it); None without calibration scores."""
    scores = np.sort(np.asarray(calibration, float))[::-1]
    if scores.size == 0:
        return None
    allowed = int(np.floor(target * scores.size + 1e-9))  # round-off: 0.05·20 must give 1, not 0
    return float(scores[min(allowed, scores.size - 1)])


def _rate(k: int, n: int) -> tuple[float | None, float | None, float | None]:
    lo, hi = clopper_pearson(k, n)
    return (k / n if n else None), lo, hi


def _cell_rows(method: str, attack: str, pos: np.ndarray, cal: pl.DataFrame, ev: pl.DataFrame) -> list[tuple]:
    """One row per target FPR for one (method, attack) cell."""
    cal_scores, ev_scores = cal.get_column("score").to_numpy(), ev.get_column("score").to_numpy()
    n_cal, n_ev, n_pos = cal_scores.size, ev_scores.size, pos.size
    fam_cal, fam_ev = cal.get_column("family").n_unique(), ev.get_column("family").n_unique()
    rows = []
    for target in TARGET_FPRS:
        t = calibrated_threshold(cal_scores, target)
        notes = []
        if t is None:
            notes.append(f"no threshold: no calibration negatives ({n_ev} negative(s) in {fam_ev} "
                         "evaluation families; a family is never split)")
        elif target * n_cal < 1:
            notes.append(f"target below 1/n_cal = {1 / n_cal:.3g}: threshold is the highest calibration negative")
        if n_ev == 0:
            notes.append("no evaluation negatives: FPR not measured")
        if n_pos == 0:
            notes.append("no scored positives: TPR not measured")
        if t is None:
            tp = fp = cal_fpr = None
            tpr = tpr_lo = tpr_hi = fpr = fpr_lo = fpr_hi = None
        else:
            tp, fp = int((pos > t).sum()), int((ev_scores > t).sum())
            cal_fpr = float((cal_scores > t).mean())
            tpr, tpr_lo, tpr_hi = _rate(tp, n_pos)
            fpr, fpr_lo, fpr_hi = _rate(fp, n_ev)
        rows.append((method, attack, target, t, n_cal, fam_cal, cal_fpr, n_pos, tp, tpr, tpr_lo, tpr_hi,
                     n_ev, fam_ev, fp, fpr, fpr_lo, fpr_hi, "; ".join(notes) or None))
    return rows


def calibration_table(labelled: pl.DataFrame | pl.LazyFrame, models: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Calibrated TPR/FPR per (method, attack, target FPR); columns of CALIBRATION_SCHEMA.

    `labelled` holds `label_suspects` rows (only param = "all" rows are used); scores
    that are missing or not finite count on neither side.
    """
    frame = labelled.lazy()
    if "param" in frame.collect_schema().names():
        frame = frame.filter(pl.col("param") == ALL)
    frame = (frame.select("method", "attack", "model_id", "label", "score").collect()
             .join(negative_families(models), on="model_id", how="left"))
    cells = frame.select("method", "attack").unique()
    valid = frame.filter(pl.col("score").is_finite())
    rows = []
    for method, attack in sorted(cells.iter_rows(), key=lambda c: (c[0], c[1] != ALL, c[1])):
        cell = valid.filter(pl.col("method") == method, pl.col("attack") == attack)
        pos = cell.filter(pl.col("label")).get_column("score").to_numpy()
        negatives = cell.filter(pl.col("label").not_())
        rows += _cell_rows(method, attack, pos, negatives.filter(pl.col("part") == CALIBRATION),
                           negatives.filter(pl.col("part") == EVALUATION))
    return pl.DataFrame(rows, schema=CALIBRATION_SCHEMA, orient="row")


def _interval(rate, lo, hi, k, n) -> str:
    return "—" if rate is None else f"{rate:.3f} [{lo:.3f}, {hi:.3f}] {k}/{n}"


def calibration_display(table: pl.DataFrame) -> pl.DataFrame:
    """The report's short form: the "all" rows as strings."""
    rows = []
    for r in table.filter(pl.col("attack") == ALL).iter_rows(named=True):
        rows.append((r["method"], f"{r['target_fpr']:.0%}",
                     "—" if r["threshold"] is None else f"{r['threshold']:.4g}",
                     f"{r['n_cal_neg']} ({r['n_cal_families']} fam.)",
                     _interval(r["tpr"], r["tpr_lo"], r["tpr_hi"], r["tp"], r["n_pos"]),
                     _interval(r["fpr"], r["fpr_lo"], r["fpr_hi"], r["fp"], r["n_eval_neg"]),
                     r["note"] or ""))
    columns = ["method", "target FPR", "threshold (flag s >)", "n_cal", "TPR [95% CI] k/n",
               "held-out FPR [95% CI] k/n", "note"]
    return pl.DataFrame(rows, schema=[(c, pl.String) for c in columns], orient="row")
