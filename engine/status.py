"""`fpbench status`: how far a run is, read from its directory alone, from any shell or machine.

Finished work is counted from the files that prove it (store sidecars, job
records), so the counts are right even for a run killed without warning. The
heartbeat (`engine.heartbeat`) adds the totals, the ETA, the workers seen and the
failures so far; `run.lock` tells whether a driver still claims the run, and
`failures.parquet` lists the failures of a run that ended. Nothing here talks to
a driver, and nothing is written.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa
import pyarrow.parquet as pq

from engine.eta import duration
from engine.fs import Location
from engine.heartbeat import HEARTBEAT_S, MAX_HEARTBEAT_BYTES, parse_heartbeat
from engine.provenance import MAX_RUN_JSON_BYTES, RunDirError, parse_run_json
from engine.rundir import FAILURES, LOCK, PROGRESS, RUN_JSON, STORE
from engine.safe_files import UnsafeFileError, read_bytes

KINDS = ("models", "fingerprints", "queries")
STALE_S = 6 * HEARTBEAT_S  # a heartbeat older than this: the driver may be gone
RECENT_S = 300.0  # workers that finished a job this recently are listed
LISTED = 10  # failures and workers named; the counts are complete


@dataclass
class RunStatus:
    where: str
    run_id: str
    name: str
    state: str  # finished | running | stalled | stopped | not started
    done: dict[str, int]
    total: dict[str, int] | None = None
    failed: int = 0
    failures: list[dict] = field(default_factory=list)  # {"what", "reason"}
    workers: dict[str, dict] = field(default_factory=dict)  # seen within RECENT_S of the last heartbeat
    eta_s: float | None = None
    elapsed_s: float | None = None
    heartbeat_age_s: float | None = None
    note: str | None = None  # what the reader should know: why there is no heartbeat, who holds the lock


def read_small(run_dir: Location, name: str, limit: int) -> bytes:
    """A small file of the run, refused if it is not a regular file of at most `limit` bytes."""
    local = run_dir.local_path
    if local is None:
        return run_dir.read_bytes(name)
    try:
        return read_bytes(local / name, limit, inside=local)
    except UnsafeFileError as err:
        raise RunDirError(str(err)) from None


def _age(stamp: str | None) -> float | None:
    try:
        return max(time.time() - datetime.fromisoformat(str(stamp)).timestamp(), 0.0)
    except ValueError:
        return None


def _count(value) -> int:
    """A count from the heartbeat; anything but a non-negative integer reads as 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def done_counts(run_dir: Location) -> dict[str, int]:
    """Outputs whose proof exists: a model's or fingerprint's sidecar, a query's job record."""
    return {"models": len(run_dir.list(f"{STORE}/models", ".json")),
            "fingerprints": len(run_dir.list(f"{STORE}/fingerprints", ".json")),
            "queries": len(run_dir.list("records", ".json"))}


def _failure_table(run_dir: Location) -> list[dict]:
    if not run_dir.exists(FAILURES):
        return []
    try:
        rows = pq.read_table(pa.BufferReader(run_dir.read_bytes(FAILURES))).to_pylist()
    except (pa.ArrowException, OSError, ValueError):
        return [{"what": FAILURES, "reason": "not a readable Parquet table"}]
    return [{"what": f"{row.get('job')} {row.get('method') or row.get('model_id')}", "reason": row.get("error")}
            for row in rows]


def run_status(where: str) -> RunStatus:
    run_dir = Location(where)
    if not run_dir.exists(RUN_JSON):
        raise RunDirError(f"{where} is not a run directory (no {RUN_JSON})")
    record = parse_run_json(read_small(run_dir, RUN_JSON, MAX_RUN_JSON_BYTES), f"{where}/{RUN_JSON}")
    status = RunStatus(where, record["run_id"], str(record.get("name", "")), "not started", done_counts(run_dir))
    beat, status.note = None, None
    if run_dir.exists(PROGRESS):
        beat, status.note = parse_heartbeat(read_small(run_dir, PROGRESS, MAX_HEARTBEAT_BYTES), status.run_id)
    else:
        status.note = f"no {PROGRESS}: no work started yet, or the run was made by an older fpbench"
    locked = run_dir.exists(LOCK)
    if beat is None:
        status.state = "running" if locked else ("finished" if "summary" in record else "not started")
        status.failures = _failure_table(run_dir)
        status.failed = len(status.failures)
        return status
    total = beat.get("total") if isinstance(beat.get("total"), dict) else {}
    status.total = {k: _count(total.get(k)) for k in KINDS}
    status.heartbeat_age_s = _age(beat.get("updated_at"))
    age = status.heartbeat_age_s or 0.0
    elapsed = beat.get("elapsed_s")
    status.elapsed_s = elapsed if isinstance(elapsed, (int, float)) else 0.0  # as of the last heartbeat
    if beat.get("finished"):
        status.state, status.eta_s = "finished", 0.0
        status.failures = _failure_table(run_dir)
        status.failed = len(status.failures)
    else:
        status.state = ("running" if age <= STALE_S else "stalled") if locked else "stopped"
        if status.state == "running":
            status.elapsed_s += age
            status.eta_s = max(beat["eta_s"] - age, 0.0) if isinstance(beat.get("eta_s"), (int, float)) else None
        listed = beat.get("failures") if isinstance(beat.get("failures"), list) else []
        status.failures = [f for f in listed if isinstance(f, dict)]
        status.failed = max(_count(beat.get("failed")), len(status.failures))
    workers = beat.get("workers") if isinstance(beat.get("workers"), dict) else {}
    recent = RECENT_S if status.state == "running" else float("inf")  # a run that ended: every worker it had
    status.workers = {name: info for name, info in workers.items()
                      if isinstance(info, dict) and (_age(info.get("last_seen")) or 0.0) <= recent}
    return status


STATES = {
    "running": "running",
    "stalled": "no heartbeat for {age}: its driver may be gone (run.lock is still there)",
    "stopped": "stopped before it finished (killed or interrupted); `fpbench run` resumes it",
    "finished": "finished",
    "not started": "no work started yet",
}


def status_lines(status: RunStatus) -> list[str]:
    """The status as plain lines."""
    state = STATES[status.state].format(age=duration(status.heartbeat_age_s))
    head = f"{status.where} (run {status.run_id}{', ' + status.name if status.name else ''}): {state}"
    if status.elapsed_s is not None:
        head += f", elapsed {duration(status.elapsed_s)}"
    if status.heartbeat_age_s is not None and status.state != "finished":
        head += f", heartbeat {duration(status.heartbeat_age_s)} ago"
    lines = [head]
    for kind in KINDS:
        total = "?" if status.total is None else status.total[kind]
        lines.append(f"  {kind:<13}{status.done[kind]:>7} / {total}")
    lines.append(f"  failed       {status.failed:>7}")
    lines += [f"    {f.get('what')}: {f.get('reason')}" for f in status.failures[:LISTED]]
    if len(status.failures) > LISTED:
        lines.append(f"    ... and {len(status.failures) - LISTED} more")
    if status.workers:
        named = sorted(status.workers.items(), key=lambda kv: str(kv[1].get("last_seen")), reverse=True)
        seen = f"seen in the last {duration(RECENT_S)}" if status.state == "running" else "that did work"
        lines.append(f"  workers {seen}: {len(named)}")
        lines += [f"    {name}: {info.get('jobs', 0)} jobs, busy {duration(info.get('busy_s'))}, "
                  f"last {duration(_age(info.get('last_seen')))} ago" for name, info in named[:LISTED]]
    if status.state == "running":
        lines.append(f"  ETA {duration(status.eta_s)}")
    if status.note:
        lines.append(f"  note: {status.note}")
    return lines
