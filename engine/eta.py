"""How long a run has left: the scheduler's learned seconds per kind of job, times the work left.

The scheduler already measures each kind of job (same method, or same architecture,
last step and pack size) to start long jobs first; the same means predict the rest
of the run. A kind not measured yet counts as the mean of the jobs measured so far
of its coarse kind (train, fingerprint, query; training a model or not), else of
those that train or not, else of every job. The sum is divided by the
workers; a job that is running counts half (on average it is half done), and the
longest job left bounds the estimate from below, since one job runs on one worker.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from engine.scheduler import Job, Scheduler

CHECKPOINTS = (0.25, 0.5, 0.75)  # shares of the jobs at which the prediction is kept for the summary


def pending_jobs(sched: Scheduler) -> list[Job]:
    """Every job not finished yet, running ones included."""
    fingerprints = [Job("fingerprint", fid) for fid in sched.fp_jobs]
    return [*fingerprints, *sched.train_jobs.values(), *sched.query_jobs.values()]


def kind_of(job: Job, sched: Scheduler) -> tuple[str, bool]:
    """A coarse kind of job for kinds the scheduler has not measured: its kind, and whether it trains."""
    return job.kind, job.kind == "train" or (job.kind == "query" and job.key not in sched.models)


@dataclass
class Estimator:
    """Measured job times by coarse kind (the fallback for kinds the scheduler has not seen yet)."""

    seconds: dict[tuple[str, bool], list[float]] = field(default_factory=lambda: defaultdict(lambda: [0, 0.0]))
    checks: list[dict] = field(default_factory=list)  # predictions kept at CHECKPOINTS

    def measured(self, kind: str, trained: bool, seconds: float) -> None:
        """Count a finished job: `seconds[kind]` holds (jobs, their total seconds)."""
        sums = self.seconds[(kind, trained or kind == "train")]
        sums[0], sums[1] = sums[0] + 1, sums[1] + seconds

    def _fallback(self, kind: tuple[str, bool]) -> float | None:
        for wanted in (lambda k: k == kind, lambda k: k[1] == kind[1], lambda k: True):
            count = sum(n for key, (n, _) in self.seconds.items() if wanted(key))
            if count:
                return sum(total for key, (_, total) in self.seconds.items() if wanted(key)) / count
        return None

    def eta(self, sched: Scheduler, workers: int) -> float | None:
        """Seconds left, or None before any job has been measured."""
        total, longest = 0.0, 0.0
        running = {job.key for job in sched.running}
        for job in pending_jobs(sched):
            expected = sched.expected_seconds(job)
            if not math.isfinite(expected):
                expected = self._fallback(kind_of(job, sched))
                if expected is None:
                    return None
            expected *= 0.5 if job.key in running else 1.0
            total, longest = total + expected, max(longest, expected)
        return max(total / max(workers, 1), longest)

    def due(self, share_done: float) -> bool:
        """Whether the run has passed a checkpoint whose prediction is not kept yet."""
        return any(share <= share_done for share in CHECKPOINTS[len(self.checks):])

    def checkpoint(self, share_done: float, elapsed: float, eta: float | None) -> None:
        """Keep the predicted total wall time the first time the run passes each checkpoint."""
        passed = {c["at_share"] for c in self.checks}
        for share in CHECKPOINTS:
            if share_done >= share and share not in passed and eta is not None:
                self.checks.append({"at_share": share, "elapsed_s": round(elapsed, 1),
                                    "predicted_total_s": round(elapsed + eta, 1)})


def duration(seconds: float | None) -> str:
    """A short human duration: 0.4s, 45s, 3m05s, 2h07m; '?' when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    if seconds < 9.95:
        return f"{max(seconds, 0.0):.1f}s"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
