"""SAC's sample correlation (Guan, Liang, He, NeurIPS 2022), shared by SAC-w and SAC-m.

SAC fingerprints a model by how it relates its answers to N fixed queries to each
other, not by the answers themselves: with the raw logits O (N x K) of a model, rows
scaled to unit length (Ô), the correlation matrix is

    C = (1 - Ô Ôᵀ) / 2          (a cosine distance in [0, 1]; zero diagonal)

and the distance between two models is the mean absolute difference of their N x N
matrices (official `correlation_wrong.py`: `cal_cor`, `cal_correlation`). A stolen
copy keeps the source's correlations; an independent model does not. Since C is
N x N whatever K is, a suspect answering in another label space (SAC's Transfer
rows: 5 or 2 logits instead of 10) is compared the same way.

The engine wants higher = more likely stolen, so the score is the negated distance,
-D in [-1, 0]; the source itself scores 0. SAC itself only ranks by D (AUC), so no
decision threshold is part of the method. Only the logits kernel of the official
code is implemented (its exp(-||ô_i - ô_j||²) kernel is commented out there, and the
label-only `cal_cor_onehot` variant is much weaker on digits, see verification.md).
"""
from __future__ import annotations

import numpy as np

from methods import scales
from methods.base import Fingerprint, Method
from zoo.fit import predict_logits


def correlation_matrix(outputs: np.ndarray) -> np.ndarray:
    """SAC's C = (1 - cos(o_i, o_j)) / 2 over the rows of an N x K output matrix."""
    o = np.asarray(outputs, dtype=np.float64)
    unit = o / np.maximum(np.linalg.norm(o, axis=1, keepdims=True), 1e-12)
    return (1.0 - unit @ unit.T) / 2.0


def correlation_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two N x N correlation matrices (SAC's D)."""
    return float(np.mean(np.abs(np.asarray(a) - np.asarray(b))))


class SampleCorrelation(Method):
    """What SAC-w and SAC-m share: the source's correlation matrix and the -D score."""

    access = "logits"
    score_scale = scales.NEGATED_DISTANCE

    def _correlation_fingerprint(self, source, inputs, meta: dict) -> Fingerprint:
        """The queries plus the source's correlation matrix on them, computed once."""
        logits = predict_logits(source, inputs).cpu().numpy()
        return Fingerprint(
            inputs=inputs.detach().cpu().numpy().astype(np.float32),
            arrays={"correlation": correlation_matrix(logits)},
            meta={"params": self.params, "n": len(inputs), "output": "logits", **meta},
        )

    def score(self, fp: Fingerprint, observed: np.ndarray) -> float:
        """-D: minus the mean |C_source - C_suspect|; 0 for the source itself."""
        return -correlation_distance(fp.arrays["correlation"], correlation_matrix(observed))
