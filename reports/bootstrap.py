"""Bootstrap confidence intervals of ARUC over suspects.

ARUC has no analytic variance (AUC's interval is DeLong's, see `reports.delong`). For
each cell, positives and negatives are resampled separately with replacement (each
side keeps its size, so every resample has both classes), B times. A resample is
represented by how often each suspect was drawn (a B × n count matrix), so all B
statistics are computed at once with numpy: ARUC of a resample = the trapezoid
integral of min(R, U) on the report's threshold grid, R and U from cumulative
weights over the sorted scores (R counts s ≥ τ, U counts s < τ). With all weights 1
this is exactly the point estimate of `reports.metrics`. The interval is the
percentile interval: the 2.5 % and 97.5 % quantiles of the B values (numpy's linear
interpolation). The scores are those on the method's [0, 1] scale (`unit`).

Seeding: many cells of a method face the very same negatives (every attack row of a
label space). Those negatives are resampled once, from a generator seeded by (seed,
their scores), and the draw is shared by all these cells; each cell's positives are
resampled from a generator seeded by (seed, the cell's key). So a cell's CI is
reproducible and does not change when other cells or methods are added. Cells with
no positives or no negatives get no CI.
"""

from __future__ import annotations

import zlib

import numpy as np
import polars as pl

from .curves import threshold_grid
from .suspects import CELL_KEYS

CI_SCHEMA = pl.Schema({**{key: pl.String for key in CELL_KEYS}, "aruc_lo": pl.Float64, "aruc_hi": pl.Float64})
LEVEL = 0.95


def resample_counts(rng: np.random.Generator, n: int, resamples: int) -> np.ndarray:
    """A resamples × n matrix: how often each of n items was drawn in each bootstrap resample."""
    draws = rng.integers(0, n, size=(resamples, n)) + n * np.arange(resamples)[:, None]
    return np.bincount(draws.ravel(), minlength=resamples * n).reshape(resamples, n).astype(np.float64)


def _cumulative(weights: np.ndarray) -> np.ndarray:
    """Cumulative weights with a leading 0 column: out[:, j] = weight of the j smallest items."""
    return np.concatenate([np.zeros((weights.shape[0], 1)), np.cumsum(weights, axis=1)], axis=1)


def weighted_uniqueness(neg: np.ndarray, weights: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """U(τ) per resample (rows) and threshold: weighted share of negatives < τ; `neg` sorted ascending."""
    below = _cumulative(weights)
    return below[:, np.searchsorted(neg, grid, side="left")] / below[:, -1:]


def weighted_aruc(pos: np.ndarray, w_pos: np.ndarray, uniqueness: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """ARUC per resample (R: s ≥ τ, U: s < τ); `pos` sorted ascending, `w_pos` (resamples × n_pos) aligned."""
    below = _cumulative(w_pos)
    n_pos = below[:, -1:]
    robustness = (n_pos - below[:, np.searchsorted(pos, grid, side="left")]) / n_pos
    lower = np.minimum(robustness, uniqueness)
    return ((lower[:, 1:] + lower[:, :-1]) / 2 * np.diff(grid)).sum(axis=1)


def _seeded(seed: int, identity: bytes) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(identity)])


def bootstrap_cis(labelled: pl.DataFrame, resamples: int = 1000, seed: int = 0) -> pl.DataFrame:
    """Percentile ARUC CIs per cell of labelled scores (CELL_KEYS, label, score in [0, 1]); columns of CI_SCHEMA."""
    grid = threshold_grid()["threshold"].to_numpy()
    finite = labelled.filter(pl.col("score").is_finite()).sort("score")
    quantiles = [(1 - LEVEL) / 2, (1 + LEVEL) / 2]
    shared: dict[bytes, np.ndarray] = {}
    rows = []
    for key, cell in finite.partition_by(CELL_KEYS, as_dict=True).items():
        pos = cell.filter(pl.col("label"))["score"].to_numpy()
        neg = cell.filter(pl.col("label").not_())["score"].to_numpy()
        if not len(pos) or not len(neg):
            continue
        identity = neg.tobytes()
        if identity not in shared:
            weights = resample_counts(_seeded(seed, identity), len(neg), resamples)
            shared[identity] = weighted_uniqueness(neg, weights, grid)
        w_pos = resample_counts(_seeded(seed, repr(key).encode()), len(pos), resamples)
        aruc = np.quantile(weighted_aruc(pos, w_pos, shared[identity], grid), quantiles)
        rows.append((*key, *aruc.tolist()))
    return pl.DataFrame(rows, schema=CI_SCHEMA, orient="row")
