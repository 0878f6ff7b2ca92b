"""The run's derived tables: `models.parquet` (one row per model) and `fingerprints.parquet`.

Roles and attacks come from the plan (they depend on the spec); accuracy, training
time and checksums come from each artefact's sidecar (they depend on the artefact).
Both tables are written when a run starts (so a run killed early can still be
reported), every so often while it runs, and when it ends; each is rewritten only
when its content changes, and an unreadable old copy is simply replaced: it holds
nothing the records do not. The plan's columns and the sidecars already read are
kept between writes, so a zoo of 100,000 models costs the driver a fraction of a
second per write, not a read of every sidecar.
"""
from __future__ import annotations

import json
import weakref

import pyarrow as pa
import pyarrow.parquet as pq

from engine.fs import Location
from engine.plan import Plan
from engine.rundir import FINGERPRINTS, FINGERPRINTS_SCHEMA, MODELS, MODELS_SCHEMA, DamagedFile
from engine.sink import parquet_bytes
from engine.store import ArtifactStore


def _sidecar(store: ArtifactStore, kind: str, key: str) -> dict:
    """The artefact's sidecar, or {} while it does not exist (or is damaged: it will be rebuilt)."""
    present = store.has_model(key) if kind == "models" else store.has_fingerprint(key)
    try:
        return store.sidecar(kind, key) if present else {}
    except DamagedFile:
        return {}


# store -> model id -> its sidecar. A sidecar is written once, after its weights, and a
# run never rewrites it (damaged ones are cleared before the first manifest is written).
_seen: weakref.WeakKeyDictionary[ArtifactStore, dict[str, dict]] = weakref.WeakKeyDictionary()


def _model_info(store: ArtifactStore, model_id: str) -> dict:
    seen = _seen.setdefault(store, {})
    info = seen.get(model_id)
    if info is None:
        info = _sidecar(store, "models", model_id)
        if info:
            seen[model_id] = info
    return info


_plan_columns: list = [None, None]  # [weak ref to the last plan tabled, the columns that follow from it]


def _columns_of(plan: Plan, nodes: list) -> dict[str, list]:
    """The columns that depend on the plan only, computed once per plan."""
    ref, columns = _plan_columns
    if ref is not None and ref() is plan and len(columns["model_id"]) == len(nodes):
        return columns
    roots = [node.derivation.root.as_dict() for node in nodes]
    columns = {
        "model_id": [node.model_id for node in nodes],
        "parent_id": [node.parent_id for node in nodes],
        "role": [node.role for node in nodes],
        "attack": [node.attack for node in nodes],
        "attack_params": [node.attack_params for node in nodes],
        "arch": [node.arch for node in nodes],
        "dataset": [str(root.get("dataset")) for root in roots],
        "seed": [int(root.get("seed")) for root in roots],
        "source_id": [node.source_id for node in nodes],
        "lineage": [node.lineage for node in nodes],
        "replicate": [node.replicate for node in nodes],
        "task": [node.task for node in nodes],
    }
    _plan_columns[:] = [weakref.ref(plan), columns]
    return columns


def manifest_table(plan: Plan, store: ArtifactStore) -> pa.Table:
    """One row per recorded model, built column by column (a zoo may hold 100,000 models)."""
    nodes = plan.recorded()
    infos = [_model_info(store, node.model_id) for node in nodes]
    columns = dict(_columns_of(plan, nodes))
    for name in ("test_acc", "agreement", "num_classes", "train_seconds", "created_at", "pack_id", "pack_size"):
        columns[name] = [info.get(name) for info in infos]
    return pa.Table.from_pydict(columns, schema=MODELS_SCHEMA)


def fingerprints_table(plan: Plan, store: ArtifactStore) -> pa.Table:
    rows = []
    for job in plan.fingerprints:
        record = _sidecar(store, "fingerprints", job.fingerprint_id)
        meta = record.get("meta", {})
        rows.append({
            "fingerprint_id": job.fingerprint_id,
            "method": job.method,
            "label": job.label,
            "params": json.dumps(job.params, sort_keys=True, default=str),
            "source_id": job.source_id,
            "owner_models": list(job.owner_ids),
            "generation_seconds": meta.get("generation_seconds", meta.get("seconds")),
            "sha256": record.get("sha256"),
        })
    return pa.Table.from_pylist(rows, schema=FINGERPRINTS_SCHEMA)


def _write_if_changed(run_dir: Location, name: str, table: pa.Table) -> bool:
    if run_dir.exists(name):
        try:
            if pq.read_table(pa.BufferReader(run_dir.read_bytes(name))).equals(table):
                return False
        except (pa.ArrowException, OSError, ValueError):
            pass  # unreadable: replaced below
    run_dir.write_bytes(name, parquet_bytes(table))
    return True


def write_manifest(run_dir: Location, plan: Plan, store: ArtifactStore) -> bool:
    """Write `models.parquet` and `fingerprints.parquet` where they changed; returns whether any was written."""
    wrote_models = _write_if_changed(run_dir, MODELS, manifest_table(plan, store))
    wrote_fingerprints = _write_if_changed(run_dir, FINGERPRINTS, fingerprints_table(plan, store))
    return wrote_models or wrote_fingerprints
