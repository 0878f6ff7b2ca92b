"""The zoo manifest (`models.parquet`): one row per suspect, joined from plan and store.

Roles and attacks come from the plan (they depend on the spec); accuracy and
training time come from each model's sidecar (they depend on the model). The file
is rewritten only when its content changes, so a finished re-run writes nothing.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from engine import schema
from engine.fs import Location
from engine.plan import Plan
from engine.sink import parquet_bytes
from engine.store import ArtifactStore


def manifest_table(plan: Plan, store: ArtifactStore) -> pa.Table:
    rows = []
    for node in plan.recorded():
        info = store.model_info(node.model_id) if store.has_model(node.model_id) else {}
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
        })
    return pa.Table.from_pylist(rows, schema=schema.MODELS)


def write_manifest(run_dir: Location, plan: Plan, store: ArtifactStore) -> bool:
    """Write `models.parquet` if it changed; returns whether it was written."""
    table = manifest_table(plan, store)
    if run_dir.exists("models.parquet") and pq.read_table(pa.BufferReader(run_dir.read_bytes("models.parquet"))).equals(table):
        return False
    run_dir.write_bytes("models.parquet", parquet_bytes(table))
    return True
