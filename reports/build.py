"""`build_report`: analyse a run and write every report file, each atomically.

Into `<run_dir>/report/` (or `out_dir`):

* metrics.parquet, scores.parquet, models.parquet, margins.parquet, tests.parquet,
  paired.parquet, calibration.parquet, budget.parquet, replicates.parquet and
  replicate_spread.parquet (runs with several sources) — the exports (schemas in the README's "Result tables");
* ru_curves.png, auc_by_attack.png, margins.png, budget.png — the figures;
* report.html — self-contained (figures embedded), report.md — links the PNGs.

Files are replaced atomically, so a report can be rebuilt while a run goes on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ._atomic import atomic_path
from .analysis import analyse
from .load import load_run
from .replicates import replicate_spread


@dataclass(frozen=True)
class Report:
    """What build_report produced: the metrics table, the warnings and where the files went."""

    run_id: str
    metrics: pl.DataFrame
    warnings: tuple[str, ...]
    out_dir: Path
    dataset: str = "unknown data set"

    @property
    def metrics_path(self) -> Path:
        return self.out_dir / "metrics.parquet"

    @property
    def scores_path(self) -> Path:
        return self.out_dir / "scores.parquet"

    @property
    def models_path(self) -> Path:
        return self.out_dir / "models.parquet"

    @property
    def margins_path(self) -> Path:
        return self.out_dir / "margins.parquet"

    @property
    def plot_path(self) -> Path:
        return self.out_dir / "ru_curves.png"

    @property
    def html_path(self) -> Path:
        return self.out_dir / "report.html"

    @property
    def markdown_path(self) -> Path:
        return self.out_dir / "report.md"


def build_report(
    run_dir: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    min_count: int = 3,
    resamples: int = 1000,
    seed: int = 0,
) -> Report:
    """Compute the report of `run_dir` and write its files into `out_dir` (default `<run_dir>/report`)."""
    from .document import build_sections, render_figures
    from .html import render_html
    from .markdown import render_markdown

    run = load_run(run_dir)
    out = Path(out_dir) if out_dir is not None else run.run_dir / "report"
    analysis = analyse(run, min_count=min_count, resamples=resamples, seed=seed)
    report = Report(run.run_id, analysis.metrics, analysis.warnings, out, run.dataset)

    exports = {
        report.metrics_path: analysis.metrics,
        report.scores_path: analysis.scores,
        report.models_path: analysis.models,
        report.margins_path: analysis.margins,
        report.out_dir / "tests.parquet": analysis.tests,
        report.out_dir / "paired.parquet": analysis.paired,
        report.out_dir / "calibration.parquet": analysis.calibration,
        report.out_dir / "budget.parquet": analysis.budget,
    }
    if analysis.replicates.height:
        exports[report.out_dir / "replicates.parquet"] = analysis.replicates
        exports[report.out_dir / "replicate_spread.parquet"] = replicate_spread(analysis.replicates)
    for path, frame in exports.items():
        with atomic_path(path) as tmp:
            frame.write_parquet(tmp)

    figures = render_figures(analysis)
    for figure in figures.values():
        with atomic_path(out / figure.file) as tmp:
            tmp.write_bytes(figure.png)

    sections = build_sections(analysis, figures)
    title = f"fpbench report — {run.info.get('name', run.run_dir.name)} on {run.dataset} ({run.run_id})"
    for path, text in ((report.html_path, render_html(title, sections)),
                       (report.markdown_path, render_markdown(title, sections))):
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return report
