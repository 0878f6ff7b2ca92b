"""Run one scheduler job on a worker; shared by the local and the Ray executor."""
from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field

from engine.scheduler import Job
from engine.worker import Worker


@dataclass
class JobResult:
    job: Job
    trained: list[str] = field(default_factory=list)  # models this job built and stored
    events: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    node: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)  # the worker process: tells recycled actors apart
    marks: list[tuple[str, str, float]] = field(default_factory=list)  # (event, id, seconds into the job)


def run_job(worker: Worker, job: Job) -> JobResult:
    result = JobResult(job)
    previous = worker.on_event
    started = time.perf_counter()

    def record(kind: str, key: str) -> None:
        result.events[kind] = result.events.get(kind, 0) + 1
        result.marks.append((kind, key, time.perf_counter() - started))  # splits the job's time by what it did
        if kind == "trained":
            result.trained.append(key)
        previous(kind, key)

    worker.on_event = record
    try:
        if job.members:
            worker.train_pack(job.members)
        elif job.kind == "train":
            worker.model(job.key)
        elif job.kind == "fingerprint":
            worker.fingerprint(next(f for f in worker.plan.fingerprints if f.fingerprint_id == job.key))
        else:
            for query in job.queries:
                worker.query(query)
    finally:
        worker.on_event = previous
    result.seconds = time.perf_counter() - started
    return result
