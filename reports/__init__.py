"""Reports for a finished (or still running) fpbench run: metrics, tables, plots, exports.

`build_report(run_dir)` (reports.build) reads the run lazily (reports.load), computes
per cell (method, attack, sweep parameter) sizes, AUC with DeLong CIs, ARUC with
bootstrap CIs, TPR at fixed FPR (reports.suspects, reports.curves, reports.metrics,
reports.delong, reports.bootstrap),
the matching-rate margin against mirror negatives (reports.margin), label-only views
of the logits (reports.queries), method cost (reports.cost) and failed jobs
(reports.failures), and writes report.html, report.md, PNG figures and Parquet
exports. `compare_runs` (reports.compare) puts several runs side by side.

The package only needs Polars, numpy, rich and (lazily, for figures) matplotlib: it
never imports torch or ray, so it runs anywhere the run directory can be read, and
`import reports` stays cheap.
"""

from __future__ import annotations

from .build import Report, build_report
from .compare import compare_runs, print_comparison
from .curves import ru_curves
from .load import RunTables, load_run
from .metrics import aruc_from_curves, compute_metrics
from .table import print_metrics, render_metrics

__all__ = [
    "Report",
    "RunTables",
    "aruc_from_curves",
    "build_report",
    "compare_runs",
    "compute_metrics",
    "load_run",
    "print_comparison",
    "print_metrics",
    "render_metrics",
    "ru_curves",
]
