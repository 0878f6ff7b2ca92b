"""The in-process executor: what tests and a laptop use.

It pulls ready jobs from the scheduler one at a time: the source and the models
others need are trained first, fingerprints next, then every suspect is trained and
queried by all pending methods while it is in memory. A job that raises is retried
(`max_attempts` in all) and then recorded as a failure; the run goes on.
"""
from __future__ import annotations

from collections import Counter

from engine.failures import Failure, failures_for
from engine.jobs import run_job
from engine.progress import RunProgress
from engine.scheduler import Job, Scheduler
from engine.worker import Worker


def run_local(sched: Scheduler, worker: Worker, progress: RunProgress, max_attempts: int = 2) -> list[Failure]:
    failures: list[Failure] = []
    attempts: Counter[Job] = Counter()
    while not sched.finished():
        job = sched.next_job()
        if job is None:
            raise RuntimeError("no job is ready but the run is not finished: the plan has a cycle")
        try:
            result = run_job(worker, job)
        except Exception as err:  # noqa: BLE001 - a job's own error is recorded, the run goes on
            attempts[job] += 1
            if attempts[job] < max_attempts:
                sched.retry(job)
                continue
            dropped = sched.fail(job, f"{type(err).__name__}: {err}")
            failures += failures_for(dropped, sched, worker.sink.run_id, attempts[job])
            progress.job_failed("local", len(dropped))
            continue
        sched.complete(job, set(result.trained), result.seconds)
        result.node = "local"
        progress.job_done(result)
    return failures
