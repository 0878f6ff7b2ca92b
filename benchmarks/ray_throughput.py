"""Zoo throughput on the Ray executor: 1 vs 2 CPU workers, and scheduling overhead per job.

Starts a local Ray instance with 2 CPUs, runs SPEC (default: the bundled `default`
zoo) into a fresh directory once per worker count, and prints models per minute, the
speed-up, the driver's overhead per job, (wall x workers - seconds inside jobs) / jobs,
the dispatch round trip between two jobs on one actor, and where the idle worker time
went: before the first jobs, in the middle (actor start-up and recycling, waits on the
DAG) and at the end (the last jobs' tail).

    RAY_AUTH_MODE=disabled .venv/bin/python benchmarks/ray_throughput.py [SPEC] [WORKERS ...]
"""
from __future__ import annotations

import os
import sys
import tempfile
import time

os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def idle_split(intervals: list[tuple[float, float]], wall: float, workers: int, step: float = 0.05):
    """Idle worker-seconds before the first job ends, in the middle, and after the last job starts."""
    first_end = min(end for _, end in intervals)
    last_start = max(start for start, _ in intervals)
    split = {"start": 0.0, "middle": 0.0, "end": 0.0}
    t = 0.0
    while t < wall:
        idle = max(workers - sum(start <= t < end for start, end in intervals), 0) * step
        split["start" if t < first_end else "end" if t >= last_start else "middle"] += idle
        t += step
    return split


def dispatch_gaps(done: list[tuple[float, float, int]]) -> list[float]:
    """Seconds an actor waited between finishing one job and starting its next: the driver's
    round trip (result back, scheduler, next job out), without actor start-up."""
    last_end: dict[int, float] = {}
    gaps = []
    for end, seconds, pid in sorted(done):
        if pid in last_end:
            gaps.append(end - seconds - last_end[pid])
        last_end[pid] = end
    return gaps


def measure(spec_name: str, workers: int) -> dict:
    from engine.config import build_spec, load_toml
    from engine.progress import RunProgress
    from engine.run import run_spec

    raw = load_toml(spec_name)
    raw["executor"] = {"kind": "ray", "workers": workers, "device": "cpu"}
    done: list[tuple[float, float, int]] = []  # (finished at, seconds inside the job, worker pid)
    original = RunProgress.job_done

    def record(self, result):
        done.append((time.perf_counter(), result.seconds, result.pid))
        original(self, result)

    RunProgress.job_done = record
    try:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            result = run_spec(build_spec(raw), out=f"{tmp}/run", show_progress=False)
            wall = time.perf_counter() - started
    finally:
        RunProgress.job_done = original
    intervals = [(end - started - seconds, end - started) for end, seconds, _ in done]
    trained = result.events.get("trained", 0)
    gaps = sorted(dispatch_gaps(done))
    return {
        "dispatch_ms": (1000 * gaps[len(gaps) // 2], 1000 * gaps[int(len(gaps) * 0.9)]) if gaps else (0.0, 0.0),
        "workers": workers, "wall_s": wall, "models": trained, "jobs": result.jobs_done,
        "models_per_min": 60 * trained / wall, "actors": len({pid for _, _, pid in done}),
        "overhead_per_job_s": (wall * workers - result.busy_seconds) / max(result.jobs_done, 1),
        "idle_s": idle_split(intervals, wall, workers),
    }


def main(spec_name: str = "default", *worker_counts: str) -> None:
    import ray

    ray.init(num_cpus=2, log_to_driver=False)
    rows = [measure(spec_name, int(w)) for w in (worker_counts or (1, 2))]
    for row in rows:
        idle = ", ".join(f"{k} {v:.0f} s" for k, v in row["idle_s"].items())
        print(f"{row['workers']} worker(s): {row['wall_s']:.1f} s wall, {row['models']} models, "
              f"{row['models_per_min']:.1f} models/min, {row['jobs']} jobs on {row['actors']} actor processes, "
              f"overhead {row['overhead_per_job_s'] * 1000:.0f} ms/job (dispatch round trip median "
              f"{row['dispatch_ms'][0]:.0f} ms, p90 {row['dispatch_ms'][1]:.0f} ms); idle worker time: {idle}")
    if len(rows) == 2:
        print(f"speed-up {rows[1]['workers']} vs {rows[0]['workers']} worker(s): "
              f"{rows[0]['wall_s'] / rows[1]['wall_s']:.2f}x")
    ray.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:])
