"""The local executor: what tests and a laptop use, on every core of one machine.

It pulls ready jobs from the scheduler: the source and the models others need are
trained first, fingerprints next, then every suspect is trained and queried by all
pending methods while it is in memory. With one worker the jobs run in this process;
with more, each worker is a process of its own (one thread each, so the cores are
not oversubscribed) holding its own copy of the data set. A job that raises is
retried (`max_attempts` in all) and then recorded as a failure; the run goes on. A
worker process that dies (killed, out of memory) counts as a failed attempt of the
jobs it held, and the pool is started afresh.
"""
from __future__ import annotations

import multiprocessing
import os
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from engine.failures import Failure, failures_for
from engine.jobs import JobResult, run_job
from engine.progress import RunProgress
from engine.scheduler import Job, Scheduler


def usable_cores() -> int:
    """The cores this process may run on (a container or `taskset` may allow fewer than exist)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_workers(device: str) -> int:
    """Every core on a CPU; one process per GPU machine, where packs keep the device busy."""
    return 1 if device == "cuda" else usable_cores()


@dataclass(frozen=True)
class WorkerSetup:
    """Everything a worker process needs to build its `Worker` (picklable, unlike the Worker)."""

    plan: Any
    run_dir: Any  # engine.fs.Location
    dataset: str
    dataset_root: str | None
    device: str
    pools: tuple[tuple[str, str], ...] = ()  # other data sets' local copies (RunSpec.pools)

    def build(self):
        from engine.sink import ShardSink
        from engine.store import ArtifactStore
        from engine.worker import Worker
        from zoo.data import DataBundle

        data = DataBundle.load(self.dataset, self.dataset_root, self.device, dict(self.pools))
        store, sink = ArtifactStore(self.run_dir / "store"), ShardSink(self.run_dir, self.plan.run_id)
        return Worker(self.plan, store, sink, data, self.device)


_process_worker = None  # the Worker of a pool process, built once by its initializer


def _start_process(setup: WorkerSetup) -> None:
    import torch

    global _process_worker
    torch.set_num_threads(1)
    _process_worker = setup.build()


def _run_in_process(job: Job) -> JobResult:
    result = run_job(_process_worker, job)
    result.node = f"local-{os.getpid()}"
    return result


class InlinePool:
    """The one-worker case: run each job in this process, as a finished future."""

    def __init__(self, setup: WorkerSetup):
        self.worker = setup.build()

    def submit(self, job: Job) -> Future:
        future: Future = Future()
        try:
            result = run_job(self.worker, job)
            result.node = "local"
            future.set_result(result)
        except Exception as err:  # noqa: BLE001 - handed to the caller like a process's error
            future.set_exception(err)
        return future

    def shutdown(self) -> None:
        pass


class ProcessPool:
    def __init__(self, setup: WorkerSetup, workers: int):
        context = multiprocessing.get_context("spawn")  # fork after torch has threads can deadlock
        self.executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_process,
                                            initargs=(setup,))

    def submit(self, job: Job) -> Future:
        return self.executor.submit(_run_in_process, job)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


def run_local(sched: Scheduler, setup: WorkerSetup, progress: RunProgress, max_attempts: int = 2,
              workers: int = 1) -> list[Failure]:
    def start():
        return InlinePool(setup) if workers <= 1 else ProcessPool(setup, workers)

    failures: list[Failure] = []
    attempts: Counter[Job] = Counter()
    inflight: dict[Future, Job] = {}
    pool = start() if not sched.finished() else None
    try:
        while not sched.finished():
            while len(inflight) < max(workers, 1) and (job := sched.next_job()) is not None:
                inflight[pool.submit(job)] = job
            if not inflight:
                raise RuntimeError("no job is ready but the run is not finished: the plan has a cycle")
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            broken = any(isinstance(f.exception(), BrokenProcessPool) for f in done)
            if broken:  # the pool is gone: every job it held ends now
                done, _ = wait(inflight)
            for future in done:
                job = inflight.pop(future)
                error = future.exception()
                if error is None:
                    result = future.result()
                    sched.complete(job, set(result.trained), result.seconds)
                    progress.job_done(result)
                    continue
                attempts[job] += 1  # a job's own error is recorded, the run goes on
                if attempts[job] < max_attempts:
                    sched.retry(job)
                    continue
                dropped = sched.fail(job, f"{type(error).__name__}: {error}")
                failures += failures_for(dropped, sched, setup.plan.run_id, attempts[job])
                progress.job_failed("local", len(dropped))
            if broken:
                pool.shutdown()
                pool = start()
    finally:
        if pool is not None:
            pool.shutdown()
    return failures
