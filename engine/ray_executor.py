"""The Ray executor: actors pinned to GPUs (or CPUs) pull jobs from the driver's scheduler.

Each actor wraps the plain `Worker` with the data set on its device. The driver loop
is `engine.driver.drive` (retries, lost actors, recycling); here Ray places the
actors, and a replacement for a lost actor lands on a surviving node. Shards are
written by the actors themselves, atomically, so a job run twice after a failure
writes the same shard once.
"""
from __future__ import annotations

from typing import Any

import ray
from ray.exceptions import (
    GetTimeoutError,
    RayActorError,
    RayTaskError,
    WorkerCrashedError,
)

from engine.config import RunSpec
from engine.driver import JobError, WorkerLost, drive
from engine.failures import Failure
from engine.fs import Location
from engine.progress import RunProgress
from engine.scheduler import Job, Scheduler

SYSTEM_ERRORS = (RayActorError, WorkerCrashedError, GetTimeoutError)


class WorkerActor:
    """Plain class turned into a Ray actor at run time (`ray.remote(...)(WorkerActor)`)."""

    def __init__(self, plan, run_dir, dataset: str, root: str | None, device: str, gpu_fraction: float,
                 pools: tuple[tuple[str, str], ...] = ()):
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
        self.worker = Worker(plan, store, sink, DataBundle.load(dataset, root, device, dict(pools)), device)
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


class RayPool:
    """Ray actors as the driver's pool (`engine.driver`): Ray's errors become the driver's two outcomes."""

    def __init__(self, remote, args: tuple):
        self.remote, self.args = remote, args

    def launch(self) -> tuple[Any, ray.ObjectRef]:
        actor = self.remote.remote(*self.args)
        return actor, actor.ping.remote()

    def run(self, actor, job: Job) -> ray.ObjectRef:
        return actor.run.remote(job)

    def wait(self, refs: list, timeout: float) -> list:
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if ready and len(refs) > 1:  # every other one that is done too, without waiting
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        return ready

    def get(self, ref: ray.ObjectRef) -> Any:
        try:
            return ray.get(ref, timeout=0)
        except RayTaskError as err:  # the job's own exception
            raise JobError(str(err.cause if err.cause else err).splitlines()[0]) from err
        except SYSTEM_ERRORS as err:
            raise WorkerLost(type(err).__name__) from err

    def kill(self, actor) -> None:
        ray.kill(actor, no_restart=True)


def run_ray(sched: Scheduler, spec: RunSpec, run_dir: Location, options: dict[str, Any],
            progress: RunProgress, poll_s: float = 1.0) -> list[Failure]:
    connect(options["address"])
    count, request, fraction = actor_options(options)
    remote = ray.remote(max_restarts=0, max_task_retries=0, **request)(WorkerActor)
    args = (sched.plan, run_dir, spec.dataset, spec.dataset_root, spec.device, fraction, tuple(spec.pools.items()))
    return drive(sched, RayPool(remote, args), count, options, progress, poll_s, needs=str(request))
