"""Zoo throughput on the Ray executor: 1 vs 2 CPU workers, and scheduling overhead per job.

Starts a local Ray instance with 2 CPUs, runs SPEC (default: the bundled `default`
zoo) into a fresh directory once per worker count, and prints models per minute, the
speed-up, the driver's overhead per job, (wall x workers - seconds inside jobs) / jobs,
the dispatch round trip between two jobs on one actor, and where the idle worker time
went: before the first jobs, in the middle (actor start-up and recycling, waits on the
DAG) and at the end (the last jobs' tail).

    RAY_AUTH_MODE=disabled .venv/bin/python benchmarks/ray_throughput.py [SPEC] [WORKERS ...]

On a machine with a GPU, `--actors-per-gpu 1 2 4` instead measures models per minute
with that many actors sharing one GPU. `--pack 1 16 64` repeats every setting per
pack size (models trained as one network; default: what the device gets by default).
"""
from __future__ import annotations

import os
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


def measure(spec_name: str, executor: dict) -> dict:
    from engine.config import build_spec, load_toml
    from engine.progress import RunProgress
    from engine.run import run_spec

    raw = load_toml(spec_name)
    raw["executor"] = {"kind": "ray", **executor}
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
    workers = executor.get("workers") or executor["actors_per_gpu"]  # one GPU in the GPU sweep
    return {
        "label": ", ".join(f"{k}={v}" for k, v in executor.items() if k != "device"),
        "dispatch_ms": (1000 * gaps[len(gaps) // 2], 1000 * gaps[int(len(gaps) * 0.9)]) if gaps else (0.0, 0.0),
        "wall_s": wall, "models": trained, "jobs": result.jobs_done,
        "models_per_min": 60 * trained / wall, "actors": len({pid for _, _, pid in done}),
        "overhead_per_job_s": (wall * workers - result.busy_seconds) / max(result.jobs_done, 1),
        "idle_s": idle_split(intervals, wall, workers),
    }


def main() -> None:
    import argparse

    import ray

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", nargs="?", default="default")
    parser.add_argument("workers", nargs="*", type=int, default=[1, 2], help="CPU worker counts to compare")
    parser.add_argument("--actors-per-gpu", nargs="+", type=int,
                        help="instead: one GPU, this many actors sharing it (e.g. 1 2 4)")
    parser.add_argument("--pack", nargs="+", type=int, default=[0], help="pack sizes (0: the device's default)")
    args = parser.parse_args()
    if args.actors_per_gpu:
        ray.init(num_gpus=1, log_to_driver=False)
        executors = [{"device": "cuda", "actors_per_gpu": k} for k in args.actors_per_gpu]
    else:
        ray.init(num_cpus=2, log_to_driver=False)
        executors = [{"device": "cpu", "workers": w} for w in args.workers]
    executors = [{**executor, "pack": pack} for pack in args.pack for executor in executors]
    rows = [measure(args.spec, executor) for executor in executors]
    for row in rows:
        idle = ", ".join(f"{k} {v:.0f} s" for k, v in row["idle_s"].items())
        print(f"{row['label']}: {row['wall_s']:.1f} s wall, {row['models']} models, "
              f"{row['models_per_min']:.1f} models/min, {row['jobs']} jobs on {row['actors']} actor processes, "
              f"overhead {row['overhead_per_job_s'] * 1000:.0f} ms/job (dispatch round trip median "
              f"{row['dispatch_ms'][0]:.0f} ms, p90 {row['dispatch_ms'][1]:.0f} ms); idle worker time: {idle}")
    for row in rows[1:]:
        print(f"speed-up {row['label']} vs {rows[0]['label']}: {rows[0]['wall_s'] / row['wall_s']:.2f}x")
    ray.shutdown()


if __name__ == "__main__":
    main()
