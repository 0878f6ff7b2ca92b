"""`progress.json`: the driver's heartbeat, so a run can be followed without talking to its driver.

The driver rewrites it every `HEARTBEAT_S` seconds through the run's own atomic
write path (on an object store too), and once more when the run ends. It is
advisory: counts of finished work come from the run's files themselves
(`engine.status`), the heartbeat adds what only the driver knows (totals, the ETA,
the workers it saw, the failures so far). A write that fails is skipped: a full
disk shows up on the next result the run writes, not as a lost run.
"""
from __future__ import annotations

import json

from engine.fs import Location, WriteFailed
from engine.rundir import PROGRESS

HEARTBEAT_S = 10.0
MAX_HEARTBEAT_BYTES = 4 << 20  # a few hundred bytes per worker and failure: never this much


def write_heartbeat(run_dir: Location, run_id: str, record: dict) -> None:
    try:
        run_dir.write_text(PROGRESS, json.dumps({"run_id": run_id, **record}, indent=1, sort_keys=True))
    except WriteFailed:
        pass  # advisory (see the module docstring)


def parse_heartbeat(data: bytes, run_id: str) -> tuple[dict | None, str | None]:
    """(the heartbeat, None), or (None, why it is unusable): not JSON, or another run's."""
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None, f"{PROGRESS} is not readable JSON"
    if not isinstance(record, dict) or record.get("run_id") != run_id:
        return None, f"{PROGRESS} is not this run's heartbeat"
    return record, None
