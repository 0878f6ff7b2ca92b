"""The Ray executor: actors pinned to GPUs (or CPUs) pull jobs from the driver's scheduler.

Each actor wraps the plain `Worker` with the data set on its device. The driver
hands out ready jobs (a fine-tune waits for its parent), waits with `ray.wait` and a
timeout so it never blocks forever, and reacts to outcomes:
- a job's own error: retried up to `max_attempts`, then a recorded failure, and
  everything downstream of it is dropped (recorded too); the run goes on;
- a lost actor (node removed, process killed, job over `job_timeout_s`): the job is
  re-queued and a fresh actor is started; Ray places it on a surviving node, and an
  actor only gets jobs once it answers a ping, so a replacement that cannot be placed
  (the cluster shrank) never holds work hostage;
- every `recycle_after` jobs an actor is replaced, so leaked GPU memory cannot pile up.
Shards are written by the actors themselves, atomically, so a job run twice after a
failure writes the same shard once.
"""
from __future__ import annotations

import time
from collections import Counter
from typing import Any

import ray
from ray.exceptions import (
    GetTimeoutError,
    RayActorError,
    RayTaskError,
    WorkerCrashedError,
)

from engine.config import RunSpec
from engine.failures import Failure, failures_for
from engine.fs import Location
from engine.progress import RunProgress
from engine.scheduler import Job, Scheduler

SYSTEM_ERRORS = (RayActorError, WorkerCrashedError, GetTimeoutError)
MAX_SYSTEM_RETRIES = 5  # lost workers before a job is given up: a poison job cannot loop forever


class WorkerActor:
    """Plain class turned into a Ray actor at run time (`ray.remote(...)(WorkerActor)`)."""

    def __init__(self, plan, run_dir, dataset: str, root: str | None, device: str, gpu_fraction: float):
        import torch

        from engine.sink import ShardSink
        from engine.store import ArtifactStore
        from engine.worker import Worker
        from zoo.data import DataBundle

        torch.set_num_threads(1)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and gpu_fraction < 1.0:
            torch.cuda.set_per_process_memory_fraction(gpu_fraction)
        self.device = device
        store = ArtifactStore(run_dir / "store")
        sink = ShardSink(run_dir, plan.run_id)
        self.worker = Worker(plan, store, sink, DataBundle.load(dataset, root, device), device)
        self.node = ray.get_runtime_context().get_node_id()

    def ping(self) -> str:
        return self.node

    def run(self, job: Job):
        from engine.jobs import run_job

        result = run_job(self.worker, job)
        result.node = self.node
        if self.device == "cuda":
            import torch

            torch.cuda.empty_cache()
        return result


def actor_options(options: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
    """How many actors, and what each asks Ray for: a GPU share if the cluster has GPUs."""
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), max(int(resources.get("CPU", 1)), 1)
    if gpus:
        per_gpu = options["actors_per_gpu"]
        count = options["workers"] or gpus * per_gpu
        return count, {"num_gpus": 1.0 / per_gpu, "num_cpus": min(1.0, cpus / count)}, 1.0 / per_gpu
    count = options["workers"] or cpus
    return count, {"num_cpus": 1}, 1.0


def cluster_device(options: dict[str, Any]) -> str:
    """What `device = "auto"` means on this cluster: cuda when it has GPUs."""
    connect(options["address"])
    return "cuda" if ray.cluster_resources().get("GPU", 0) else "cpu"


def connect(address: str) -> None:
    if not ray.is_initialized():
        ray.init(address=address or None, log_to_driver=False,
                 runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})


def run_ray(sched: Scheduler, spec: RunSpec, run_dir: Location, options: dict[str, Any],
            progress: RunProgress, poll_s: float = 1.0) -> list[Failure]:
    connect(options["address"])
    count, request, fraction = actor_options(options)
    remote = ray.remote(max_restarts=0, max_task_retries=0, **request)(WorkerActor)
    args = (sched.plan, run_dir, spec.dataset, spec.dataset_root, spec.device, fraction)

    starting: dict[ray.ObjectRef, Any] = {}
    idle: list[Any] = []
    served: Counter = Counter()
    inflight: dict[ray.ObjectRef, tuple[Any, Job, float]] = {}
    attempts: Counter[Job] = Counter()
    lost: Counter[Job] = Counter()
    failures: list[Failure] = []
    last_progress = time.monotonic()

    def start_actor() -> None:
        actor = remote.remote(*args)
        starting[actor.ping.remote()] = actor

    def give_up(job: Job, reason: str, tries: int) -> None:
        dropped = sched.fail(job, reason)
        failures.extend(failures_for(dropped, sched, sched.plan.run_id, tries))
        progress.job_failed("driver", len(dropped))

    for _ in range(count):
        start_actor()
    try:
        while not sched.finished():
            while idle and (job := sched.next_job()) is not None:
                actor = idle.pop()
                inflight[actor.run.remote(job)] = (actor, job, time.monotonic())
            if not inflight and not starting:
                raise RuntimeError("no job is ready but the run is not finished: the plan has a cycle")
            ready, _ = ray.wait([*inflight, *starting], num_returns=1, timeout=poll_s)
            now = time.monotonic()
            for ref in [r for r in ready if r in starting]:
                actor = starting.pop(ref)
                try:
                    ray.get(ref, timeout=0)
                    idle.append(actor)
                except SYSTEM_ERRORS:
                    start_actor()  # it died before its first job; Ray places the next one elsewhere
            if inflight or idle:
                last_progress = now
            elif now - last_progress > options["job_timeout_s"]:
                raise RuntimeError(f"no Ray worker could start within {options['job_timeout_s']} s: "
                                   f"does the cluster have the resources {request}?")
            overdue = [r for r, (_, _, t0) in inflight.items() if now - t0 > options["job_timeout_s"]]
            for ref in [r for r in ready if r in inflight] + [r for r in overdue if r not in ready]:
                actor, job, _ = inflight.pop(ref)
                try:
                    result = ray.get(ref, timeout=0) if ref in ready else None
                    if result is None:
                        raise GetTimeoutError(f"{job.describe()} ran over {options['job_timeout_s']} s")
                except RayTaskError as err:  # the job's own exception
                    attempts[job] += 1
                    if attempts[job] < options["max_attempts"]:
                        sched.retry(job)
                    else:
                        give_up(job, str(err.cause if err.cause else err).splitlines()[0], attempts[job])
                    idle.append(actor)
                    continue
                except SYSTEM_ERRORS as err:  # the worker is gone (or hung): new actor, same job
                    ray.kill(actor, no_restart=True)
                    start_actor()
                    lost[job] += 1
                    if lost[job] <= MAX_SYSTEM_RETRIES:
                        sched.retry(job)
                    else:
                        give_up(job, f"worker lost {lost[job]} times: {type(err).__name__}", lost[job])
                    continue
                sched.complete(job, set(result.trained), result.seconds)
                progress.job_done(result)
                served[actor] += 1
                if served[actor] >= options["recycle_after"]:
                    ray.kill(actor, no_restart=True)
                    start_actor()
                else:
                    idle.append(actor)
    finally:
        for actor in [*idle, *starting.values(), *(a for a, _, _ in inflight.values())]:
            ray.kill(actor, no_restart=True)
    return failures
