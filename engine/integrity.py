"""Check a run directory against its own records, and clear what is damaged so it is rebuilt.

Used by `fpbench check` and by every resumed run before it reuses anything. Weights,
fingerprints and query shards are checked byte for byte against the sha256 their
sidecar or job record holds; the derived tables must parse. Repair deletes a
damaged artefact together with its record, so the next run rebuilds it from its id
(training is deterministic, so the rebuilt file is the same). `run.json` is the
run's identity: a damaged one is reported, never deleted.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from engine.fs import Location
from engine.rundir import DERIVED_TABLES, RUN_JSON, STORE, DamagedFile, verified


@dataclass(frozen=True)
class Damage:
    path: str  # relative to the run directory
    reason: str
    clear: tuple[str, ...]  # what repair deletes so the next run rebuilds it (empty: cannot be rebuilt)


def check_run(run_dir: Location) -> list[Damage]:
    """Every damaged file of the run, in path order; an intact run gives []."""
    found = _check_run_json(run_dir)
    for kind in ("models", "fingerprints"):
        found += _check_store(run_dir, kind)
    found += _check_records(run_dir)
    for table in DERIVED_TABLES:
        if run_dir.exists(table) and not _parquet_reads(run_dir.read_bytes(table)):
            found.append(Damage(table, "not a readable Parquet table (derived: rewritten at the end of a run)",
                                (table,)))
    return sorted(found, key=lambda d: d.path)


def repair(run_dir: Location, damages: list[Damage]) -> None:
    for damage in damages:
        for name in damage.clear:
            run_dir.delete(name)


def _check_run_json(run_dir: Location) -> list[Damage]:
    if not run_dir.exists(RUN_JSON):
        return [Damage(RUN_JSON, "missing: this is not a run directory", ())]
    try:
        record = json.loads(run_dir.read_bytes(RUN_JSON))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return [Damage(RUN_JSON, "not valid JSON; the run's identity is lost (not repairable)", ())]
    if not isinstance(record, dict) or not isinstance(record.get("run_id"), str):
        return [Damage(RUN_JSON, "has no run_id (not repairable)", ())]
    return []


def _check_store(run_dir: Location, kind: str) -> list[Damage]:
    found = []
    for sidecar in run_dir.list(f"{STORE}/{kind}", suffix=".json"):
        data = sidecar[: -len(".json")] + ".safetensors"
        both = (sidecar, data)
        try:
            record = json.loads(run_dir.read_bytes(sidecar))
            if not isinstance(record, dict):
                raise ValueError
        except ValueError:
            found.append(Damage(sidecar, "not a JSON sidecar", both))
            continue
        if not run_dir.exists(data):
            found.append(Damage(data, "missing, though its sidecar exists", both))
            continue
        try:
            verified(run_dir.read_bytes(data), record.get("sha256"), data)
        except DamagedFile as err:
            found.append(Damage(data, err.reason, both))
    return found


def _check_records(run_dir: Location) -> list[Damage]:
    found = []
    for name in run_dir.list("records", suffix=".json"):
        try:
            files = json.loads(run_dir.read_bytes(name))["files"]
            if not isinstance(files, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            found.append(Damage(name, "not a job record", (name,)))
            continue
        clear = (name, *files)
        for shard, sha in sorted(files.items()):
            if not run_dir.exists(shard):
                found.append(Damage(shard, "missing, though its job record exists", clear))
                continue
            try:
                verified(run_dir.read_bytes(shard), sha, shard)
            except DamagedFile as err:
                found.append(Damage(shard, err.reason, clear))
    return found


def _parquet_reads(data: bytes) -> bool:
    try:
        pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError):
        return False
    return True
