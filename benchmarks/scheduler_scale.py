"""The scheduler alone, on zoos of growing size: driver time per dispatched job.

The ready queue is rebuilt on every dispatch, so a job costs O(jobs in the plan).
This drains a plan of n independent models per architecture (plus the tiny attack
suite) without training anything, to show where that starts to matter.

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


def drain_seconds(n: int) -> tuple[int, int, float]:
    raw = tiny_spec(negatives={"archs": ["cnn", "mlp"], "seeds": list(range(1, n + 1))})
    plan = build_plan(build_spec(raw))
    sched = Scheduler(plan, set(), set(), list(plan.queries))
    jobs, started = 0, time.perf_counter()
    while not sched.finished():
        sched.complete(sched.next_job(), seconds=1.0)
        jobs += 1
    return len(plan.nodes), jobs, time.perf_counter() - started


def main(*sizes: str) -> None:
    for n in [int(s) for s in sizes] or [50, 200, 800]:
        models, jobs, seconds = drain_seconds(n)
        print(f"{models} models, {jobs} jobs: {seconds:.2f} s in the scheduler, {1000 * seconds / jobs:.2f} ms per job")


if __name__ == "__main__":
    main(*sys.argv[1:])
