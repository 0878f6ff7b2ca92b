"""A simulated cluster: the real scheduler and driver loop against workers that only sleep.

`engine.driver.drive` (the loop `run_ray` uses) runs a real plan with the real
scheduler and progress accounting; the pool's workers train nothing: each job takes
a duration drawn per kind of job (fingerprints, training per architecture, queries
per method), and the pool sleeps until the next job is due. Reports, per (workers,
plan size): driver CPU per job (this process's CPU time over the run, including the
pool's bookkeeping and the progress view's ETA; `--no-eta` leaves the ETA out),
dispatches per second of wall time, and the share of worker time spent idle.
Durations are short on purpose, so that many workers ask for jobs faster than the
driver can hand them out: the dispatch rate then shows its ceiling. Ray's own cost
per task (see benchmarks/ray_throughput.py) comes on top.

    .venv/bin/python benchmarks/driver_scale.py [--workers 1 16 256] [--models 1000 10000 100000] [--scale 1.0]

Goal (issue #18): <= 1 ms of driver CPU per job at 100,000 jobs, >= 500 dispatches/s.
"""
from __future__ import annotations

import argparse
import heapq
import itertools
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import tiny_spec  # noqa: E402
from engine.config import build_spec  # noqa: E402
from engine.driver import drive  # noqa: E402
from engine.jobs import JobResult  # noqa: E402
from engine.plan import build_plan  # noqa: E402
from engine.progress import Counts, RunProgress  # noqa: E402
from engine.scheduler import Job, Scheduler  # noqa: E402

SECONDS = {  # mean seconds of a job (each drawn uniformly within ±50%)
    "fingerprint": 0.5,
    ("train", "cnn"): 0.03,
    ("train", "mlp"): 0.015,
    "query": 0.005,  # per method a suspect is queried with, on top of training it
}
OPTIONS = {"max_attempts": 2, "recycle_after": 10**6, "job_timeout_s": 3600.0}


class SimulatedPool:
    """Workers that sleep for a job's drawn duration and return what a real worker would report."""

    def __init__(self, plan, scale: float, seed: int = 0):
        self.plan, self.scale, self.rng = plan, scale, random.Random(seed)
        self._refs = itertools.count()
        self._due: list[tuple[float, int]] = []  # (finish time, ref) of running jobs
        self._answers: list[int] = []  # refs of workers that just started
        self._values: dict[int, object] = {}
        self.busy = 0.0
        self.built: set[str] = set()  # models some job has trained

    def launch(self):
        worker, ref = next(self._refs), next(self._refs)
        self._answers.append(ref)
        self._values[ref] = worker
        return worker, ref

    def run(self, worker, job: Job) -> int:
        seconds = self._seconds(job)
        ref = next(self._refs)
        heapq.heappush(self._due, (time.monotonic() + seconds, ref))
        trained = list(job.models) if job.kind == "train" else []
        events = {"trained": len(trained)} if trained else {}
        if job.kind == "query":
            events = {"queried": len(job.queries)}
        self._values[ref] = JobResult(job, trained, events, seconds, node=f"sim-{worker}", pid=worker)
        self.busy += seconds
        return ref

    def _seconds(self, job: Job) -> float:
        """A fingerprint; or training each model not built yet, then querying it."""
        if job.kind == "fingerprint":
            mean = SECONDS["fingerprint"]
        else:
            fresh = [m for m in job.models if m not in self.built]
            self.built.update(fresh)
            mean = sum(SECONDS[("train", self.plan.nodes[m].arch)] for m in fresh) + SECONDS["query"] * len(job.queries)
        return self.scale * mean * self.rng.uniform(0.5, 1.5)

    def wait(self, refs: list, timeout: float) -> list:
        if self._answers:
            ready, self._answers = self._answers, []
            return ready
        if not self._due:
            return []
        pause = self._due[0][0] - time.monotonic()
        if pause > 0:
            time.sleep(min(pause, timeout))
        ready, now = [], time.monotonic()
        while self._due and self._due[0][0] <= now:
            ready.append(heapq.heappop(self._due)[1])
        return ready

    def get(self, ref: int):
        return self._values.pop(ref)

    def kill(self, worker) -> None:
        pass


def simulate(models: int, workers: int, scale: float, eta: bool = True) -> dict:
    raw = tiny_spec(negatives={"archs": ["cnn", "mlp"], "seeds": list(range(1, models // 2 + 1))})
    started = time.perf_counter()
    plan = build_plan(build_spec(raw))
    planned = time.perf_counter()
    sched = Scheduler(plan, set(), set(), list(plan.queries))
    ready = time.perf_counter()
    counts = Counts(total={"models": len(plan.nodes), "fingerprints": len(plan.fingerprints),
                           "queries": len(plan.queries)}, done={"models": 0, "fingerprints": 0, "queries": 0})
    pool = SimulatedPool(plan, scale)
    with RunProgress(counts, enabled=False) as progress:
        if eta:  # what a run does: the progress view estimates the time left from the scheduler
            progress.track(sched, workers)
        cpu, wall = time.process_time(), time.perf_counter()
        failures = drive(sched, pool, workers, OPTIONS, progress, poll_s=1.0)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert not failures and sched.finished()
    jobs = progress.jobs_done
    return {"models": len(plan.nodes), "workers": workers, "jobs": jobs, "plan_s": planned - started,
            "sched_s": ready - planned, "wall_s": wall, "cpu_ms_per_job": 1000 * cpu / jobs,
            "dispatch_per_s": jobs / wall, "idle_share": 1 - pool.busy / (workers * wall)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 16, 256])
    parser.add_argument("--models", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every job's duration")
    parser.add_argument("--no-eta", action="store_true", help="leave out the progress view's ETA (engine.eta)")
    parser.add_argument("--max-wall", type=float, default=600.0,
                        help="skip a case whose jobs alone would keep its workers busy longer than this")
    args = parser.parse_args()
    print(f"{'models':>8} {'workers':>7} {'jobs':>7} {'plan s':>7} {'sched s':>7} {'wall s':>7} "
          f"{'driver ms/job':>13} {'dispatch/s':>10} {'idle':>6}")
    for models in args.models:
        for workers in args.workers:
            least = models * args.scale * (SECONDS[("train", "mlp")] + SECONDS["query"]) / workers
            if least > args.max_wall:
                print(f"{models:>8} {workers:>7}  skipped: at least {least:.0f} s of simulated work per worker")
                continue
            r = simulate(models, workers, args.scale, eta=not args.no_eta)
            print(f"{r['models']:>8} {r['workers']:>7} {r['jobs']:>7} {r['plan_s']:>7.2f} {r['sched_s']:>7.2f} "
                  f"{r['wall_s']:>7.1f} {r['cpu_ms_per_job']:>13.3f} {r['dispatch_per_s']:>10.0f} "
                  f"{r['idle_share']:>6.1%}")


if __name__ == "__main__":
    main()
