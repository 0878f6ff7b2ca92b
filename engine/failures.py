"""Jobs that kept failing: recorded in `failures.parquet` so the run goes on and the report says so.

The file describes the latest attempt of the run: a re-run retries failed jobs and
rewrites it, or removes it once nothing fails any more.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from engine.fs import Location
from engine.rundir import FAILURES, FAILURES_SCHEMA
from engine.sink import parquet_bytes

if TYPE_CHECKING:
    from engine.scheduler import Job, Scheduler

@dataclass
class Failure:
    run_id: str
    job: str  # train | fingerprint | query
    model_id: str | None
    method: str | None
    error: str
    attempts: int


def write_failures(run_dir: Location, failures: list[Failure]) -> None:
    name = FAILURES
    if not failures:
        run_dir.delete(name)
        return
    table = pa.Table.from_pylist([asdict(f) for f in failures], schema=FAILURES_SCHEMA)
    if run_dir.exists(name) and pq.read_table(pa.BufferReader(run_dir.read_bytes(name))).equals(table):
        return
    run_dir.write_bytes(name, parquet_bytes(table))


def failures_for(dropped: "list[Job]", sched: "Scheduler", run_id: str, attempts: int) -> list[Failure]:
    """One failure row per lost output: each query of a dropped suspect, each fingerprint, each model."""
    labels = {f.fingerprint_id: f.label for f in sched.plan.fingerprints}
    rows = []
    for job in dropped:
        reason = sched.failed[job.key]
        if job.kind == "fingerprint":
            rows.append(Failure(run_id, job.kind, None, labels[job.key], reason, attempts))
        elif job.kind == "query":
            rows += [Failure(run_id, job.kind, job.key, q.method, reason, attempts) for q in job.queries]
        else:
            rows += [Failure(run_id, job.kind, model_id, None, reason, attempts) for model_id in job.models]
    return rows
