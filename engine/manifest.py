"""The run's derived tables: `models.parquet` (one row per model) and `fingerprints.parquet`.

Roles and attacks come from the plan (they depend on the spec); accuracy, training
time and checksums come from each artefact's sidecar (they depend on the artefact).
Both tables are written when a run starts (so a run killed early can still be
reported) and when it ends; each is rewritten only when its content changes, and
an unreadable old copy is simply replaced: it holds nothing the records do not.
"""
from __future__ import annotations

import json

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


def manifest_table(plan: Plan, store: ArtifactStore) -> pa.Table:
    rows = []
    for node in plan.recorded():
        info = _sidecar(store, "models", node.model_id)
        root = node.derivation.root
        rows.append({
            "model_id": node.model_id,
            "parent_id": node.parent_id,
            "role": node.role,
            "attack": node.attack,
            "attack_params": node.attack_params,
            "arch": node.arch,
            "dataset": str(root.get("dataset")),
            "seed": int(root.get("seed")),
            "test_acc": info.get("test_acc"),
            "agreement": info.get("agreement"),
            "num_classes": info.get("num_classes"),
            "train_seconds": info.get("train_seconds"),
            "source_id": node.source_id,
            "created_at": info.get("created_at"),
            "lineage": node.lineage,
            "pack_id": info.get("pack_id"),
            "pack_size": info.get("pack_size"),
            "replicate": node.replicate,
        })
    return pa.Table.from_pylist(rows, schema=MODELS_SCHEMA)


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
