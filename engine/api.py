"""The Python API for notebooks and scripts: what the command line does, returning objects.

    from engine import api
    api.run("quick", out="results/quick")          # a bundled spec, a TOML path or a dict
    tables = api.results("results/quick")          # Polars frames: metrics, scores, models, ...
    api.verify("results/quick", "ipguard", "suspect.onnx")

Everything goes through the same code as `fpbench run`, `fpbench report` and
`fpbench verify`, so a notebook's numbers are the command line's numbers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.verify import Verdict
from engine.verify import verify as _verify


def spec_of(spec: str | Path | dict[str, Any]):
    """A validated RunSpec from a bundled spec name, a TOML file or a dict shaped like one."""
    from engine.config import build_spec, load_spec

    return build_spec(spec) if isinstance(spec, dict) else load_spec(spec)


def run(spec: str | Path | dict[str, Any], out: str | Path | None = None, progress: bool = False):
    """Run (or resume) a benchmark; returns engine.run.RunResult (run_dir, failures, summary, ...)."""
    from engine.run import run_spec

    return run_spec(spec_of(spec), out=out, show_progress=progress)


def results(run_dir: str | Path, min_count: int = 3, resamples: int = 1000, seed: int = 0):
    """Every table of a run's report as Polars frames (reports.analysis.Analysis), no files written:
    .metrics, .scores, .models, .paired, .calibration, .budget, .replicates, .cost, .failures."""
    from reports.analysis import analyse
    from reports.load import load_run

    return analyse(load_run(run_dir), min_count=min_count, resamples=resamples, seed=seed)


def load_model(run_dir: str | Path, model_id: str):
    """A model the run trained (by its derivation string), as a torch module on the CPU."""
    from engine.fs import Location
    from engine.store import ArtifactStore

    return ArtifactStore(Location(str(run_dir)) / "store").load_model(model_id)


def verify(run_dir: str | Path, method: str, suspect: str, arch: str | None = None, returns: str = "logits",
           target_fpr: float = 0.05) -> Verdict:
    """Judge one suspect (file or URL) with the run's fingerprint and calibrated threshold."""
    return _verify(run_dir, method, suspect, arch, returns, target_fpr)
