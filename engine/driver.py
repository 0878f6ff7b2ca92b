"""The driver loop over a pool of remote workers: hand out ready jobs, react to outcomes.

Ray is one such pool (`engine.ray_executor`); `benchmarks/driver_scale.py` runs this
same loop against simulated workers to measure what the driver costs per job. The
driver waits with a timeout so it never blocks forever, and reacts to outcomes:
- a job's own error: retried up to `max_attempts`, then a recorded failure, and
  everything downstream of it is dropped (recorded too); the run goes on;
- a lost worker (node removed, process killed, job over `job_timeout_s`): the job is
  re-queued and a fresh worker is started; a worker only gets jobs once it answers,
  so a replacement that cannot be placed (the cluster shrank) never holds work hostage;
- every `recycle_after` jobs a worker is replaced, so leaked GPU memory cannot pile up.
All jobs that finished while the driver waited are handled in one pass.
"""
from __future__ import annotations

import time
from collections import Counter
from typing import Any, Protocol

from engine.failures import Failure, failures_for
from engine.progress import RunProgress
from engine.scheduler import Job, Scheduler

MAX_SYSTEM_RETRIES = 5  # lost workers before a job is given up: a poison job cannot loop forever
OVERDUE_EVERY_S = 1.0  # how often running jobs are checked against job_timeout_s


class JobError(Exception):
    """The job's own exception, in one line: the job is retried or recorded as failed."""


class WorkerLost(Exception):
    """The worker died or hung (the message names how): the job goes to a fresh worker."""


class Pool(Protocol):
    def launch(self) -> tuple[Any, Any]:
        """A new worker, and a ref that is ready once the worker answers."""

    def run(self, worker: Any, job: Job) -> Any:
        """Start `job` on `worker`; returns the ref of its `JobResult`."""

    def wait(self, refs: list, timeout: float) -> list:
        """The refs among `refs` that are ready: every one that is, once one is or `timeout` passed."""

    def get(self, ref: Any) -> Any:
        """The value of a ready ref; raises JobError or WorkerLost."""

    def kill(self, worker: Any) -> None: ...


def drive(sched: Scheduler, pool: Pool, count: int, options: dict[str, Any], progress: RunProgress,
          poll_s: float = 1.0, needs: str = "") -> list[Failure]:
    """Run `sched` to the end on `count` workers of `pool`; `needs` names what a worker asks of the
    cluster, for the error raised when none can start."""
    starting: dict[Any, Any] = {}  # ref of a worker's first answer -> the worker
    idle: list[Any] = []
    served: Counter = Counter()
    inflight: dict[Any, tuple[Any, Job, float]] = {}  # ref -> (worker, job, started)
    attempts: Counter[Job] = Counter()
    lost: Counter[Job] = Counter()
    failures: list[Failure] = []
    last_progress = checked = time.monotonic()

    def start_worker() -> None:
        worker, ref = pool.launch()
        starting[ref] = worker

    def give_up(job: Job, reason: str, tries: int) -> None:
        dropped = sched.fail(job, reason)
        failures.extend(failures_for(dropped, sched, sched.plan.run_id, tries))
        progress.job_failed("driver", len(dropped))

    for _ in range(count):
        start_worker()
    try:
        while not sched.finished():
            while idle and (job := sched.next_job()) is not None:
                worker = idle.pop()
                inflight[pool.run(worker, job)] = (worker, job, time.monotonic())
            if not inflight and not starting:
                raise RuntimeError("no job is ready but the run is not finished: the plan has a cycle")
            ready = pool.wait([*inflight, *starting], poll_s)
            now = time.monotonic()
            for ref in [r for r in ready if r in starting]:
                worker = starting.pop(ref)
                try:
                    pool.get(ref)
                    idle.append(worker)
                except WorkerLost:
                    start_worker()  # it died before its first job; the next one may be placed elsewhere
            if inflight or idle:
                last_progress = now
            elif now - last_progress > options["job_timeout_s"]:
                raise RuntimeError(f"no worker could start within {options['job_timeout_s']} s: "
                                   f"does the cluster have the resources {needs}?")
            finished = [r for r in ready if r in inflight]
            overdue = []
            if now - checked >= OVERDUE_EVERY_S:
                checked, done = now, set(finished)
                overdue = [r for r, (_, _, t0) in inflight.items() if now - t0 > options["job_timeout_s"]
                           and r not in done]
            for ref in finished + overdue:
                worker, job, _ = inflight.pop(ref)
                try:
                    if ref in overdue:
                        raise WorkerLost(f"ran over {options['job_timeout_s']} s")
                    result = pool.get(ref)
                except JobError as err:
                    attempts[job] += 1
                    if attempts[job] < options["max_attempts"]:
                        sched.retry(job)
                    else:
                        give_up(job, str(err), attempts[job])
                    idle.append(worker)
                    continue
                except WorkerLost as err:  # new worker, same job
                    pool.kill(worker)
                    start_worker()
                    lost[job] += 1
                    if lost[job] <= MAX_SYSTEM_RETRIES:
                        sched.retry(job)
                    else:
                        give_up(job, f"worker lost {lost[job]} times: {err}", lost[job])
                    continue
                sched.complete(job, set(result.trained), result.seconds)
                progress.job_done(result)
                served[worker] += 1
                if served[worker] >= options["recycle_after"]:
                    pool.kill(worker)
                    start_worker()
                else:
                    idle.append(worker)
    finally:
        for worker in [*idle, *starting.values(), *(w for w, _, _ in inflight.values())]:
            pool.kill(worker)
    return failures
