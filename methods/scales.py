"""What each method's score is on: the fixed map that puts it on [0, 1] for ARUC, or none.

ARUC integrates min(R(τ), U(τ)) over thresholds τ in [0, 1], so it only means
something for a score whose range is known before any data is seen; mapping by the
range a run happened to produce made one cell's ARUC depend on unrelated suspects.
Each method therefore declares its scale (`Method.score_scale`), and this table
repeats the declarations by name so the report, which never imports a method (nor
torch), can read them; tests/test_score_scales.py keeps the two equal.

A bounded scale [lo, hi] is the score's whole possible range, sentinels included; the
report maps s to (s - lo) / (hi - lo), clipping float round-off within TOLERANCE.
An unbounded score (a -log10 p-value) has no such map: its ARUC is left empty, with
the reason in the report. AUC and TPR never need a scale (they only rank scores).
"""
from __future__ import annotations

from dataclasses import dataclass

TOLERANCE = 1e-9  # round-off allowed outside [lo, hi], as a share of hi - lo


@dataclass(frozen=True)
class ScoreScale:
    """A named score range; lo/hi None means unbounded (no fixed map to [0, 1])."""

    name: str
    lo: float | None = None
    hi: float | None = None

    @property
    def bounded(self) -> bool:
        return self.lo is not None and self.hi is not None


RATE = ScoreScale("rate", 0.0, 1.0)  # a share of matching answers or a probability: used as it is
COSINE = ScoreScale("cosine", -1.0, 1.0)  # a cosine similarity: (s + 1) / 2
NEGATED_DISTANCE = ScoreScale("negated_distance", -1.0, 0.0)  # minus a distance in [0, 1]: s + 1
UNBOUNDED = ScoreScale("unbounded")  # e.g. -log10 p, which grows without limit

SCORE_SCALES: dict[str, ScoreScale] = {
    "ipguard": RATE,  # matching rate on the fingerprint queries
    "cae": RATE,  # matching rate on the conferrable examples
    "metafinger": RATE,  # matching rate
    "naturalfinger": RATE,  # matching rate
    "marginfinger": RATE,  # matching rate
    "margin_wm": RATE,  # trigger-set accuracy
    "ewe": RATE,  # trigger-set accuracy
    "metav": RATE,  # the meta-verifier's sigmoid output (0 for a foreign output width)
    "uap": COSINE,  # mean cosine of encoded views (-1 for a suspect that cannot be encoded)
    "sac_w": NEGATED_DISTANCE,  # -mean|C_source - C_suspect|, correlations in [0, 1]
    "sac_m": NEGATED_DISTANCE,
    "external_features": UNBOUNDED,  # -log10 of the test's p-value
}
