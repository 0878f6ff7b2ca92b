"""The scheduler alone, on zoos of growing size: driver time per dispatched job.

Drains a plan of n independent models per architecture (plus the tiny attack suite)
without training anything, completing each job as soon as it is handed out. The
ready queue is updated as jobs finish, so the time per job should stay flat as the
plan grows (it was O(jobs in the plan) when the queue was rebuilt on every dispatch:
12.5 ms per job at 4,007 models). Plan building is timed apart.

    .venv/bin/python benchmarks/scheduler_scale.py [N ...]
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import tiny_spec  # noqa: E402
from engine.config import build_spec  # noqa: E402
from engine.plan import build_plan  # noqa: E402
from engine.scheduler import Scheduler  # noqa: E402


def drain_seconds(n: int) -> tuple[int, int, float, float]:
    """(models, jobs, seconds building the plan, seconds in the scheduler)."""
    raw = tiny_spec(negatives={"archs": ["cnn", "mlp"], "seeds": list(range(1, n + 1))})
    started = time.perf_counter()
    plan = build_plan(build_spec(raw))
    planned = time.perf_counter()
    sched = Scheduler(plan, set(), set(), list(plan.queries))
    jobs = 0
    while not sched.finished():
        sched.complete(sched.next_job(), seconds=1.0)
        jobs += 1
    return len(plan.nodes), jobs, planned - started, time.perf_counter() - planned


def main(*sizes: str) -> None:
    for n in [int(s) for s in sizes] or [200, 2000, 20000]:
        models, jobs, plan_s, seconds = drain_seconds(n)
        print(f"{models} models, {jobs} jobs: plan {plan_s:.2f} s, {seconds:.2f} s in the scheduler, "
              f"{1e6 * seconds / jobs:.0f} µs per job")


if __name__ == "__main__":
    main(*sys.argv[1:])
