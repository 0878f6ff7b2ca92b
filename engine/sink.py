"""Parquet sink: one shard per (suspect, method), written atomically, then its job record.

The scores shard and the queries shard are each written to a temporary name and
moved into place; the job record (`engine.rundir.record_name`: both shards'
sha256) is written last, so its existence means the job is done and lets every
later read check the shards. A run killed in between simply redoes that job.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from engine.fs import Location
from engine.rundir import QUERIES_SCHEMA, SCORES_SCHEMA, job_record, record_name, shard_name


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer)
    return buffer.getvalue().to_pybytes()


def top_labels(logits: np.ndarray) -> list[int | None]:
    """Each query row's label as a label-only API gives it: the first maximum; None for a row
    with a NaN/inf logit (or none at all). The report's label view of the logits, kept with
    the score so reports need not scan every logit to summarise a suspect."""
    logits = np.asarray(logits)
    if logits.ndim != 2 or logits.shape[1] == 0:
        return [None] * len(logits)
    labels = logits.argmax(axis=1)
    finite = np.isfinite(logits).all(axis=1)
    return [int(label) if ok else None for label, ok in zip(labels, finite)]


class ShardSink:
    def __init__(self, run_dir: Location, run_id: str):
        self.run_dir = run_dir
        self.run_id = run_id

    shard_name = staticmethod(shard_name)

    def is_done(self, method: str, model_id: str) -> bool:
        return self.run_dir.exists(record_name(method, model_id))

    def write(
        self,
        method: str,
        fingerprint_id: str,
        model_id: str,
        logits: np.ndarray,
        score: float,
        access: str,
        test: dict[str, float] | None = None,
        outcomes: np.ndarray | None = None,
    ) -> None:
        n = len(logits)
        flat = pa.array(np.ascontiguousarray(logits, dtype=np.float32).reshape(-1))
        offsets = pa.array(np.arange(0, n + 1, dtype=np.int32) * (logits.shape[1] if n else 0))
        queries = pa.Table.from_arrays(
            [
                pa.array([self.run_id] * n, pa.string()),
                pa.array([method] * n, pa.string()),
                pa.array([fingerprint_id] * n, pa.string()),
                pa.array([model_id] * n, pa.string()),
                pa.array(np.arange(n, dtype=np.int32)),
                pa.ListArray.from_arrays(offsets, flat),
            ],
            schema=QUERIES_SCHEMA,
        )
        test = test or {}
        row = {"run_id": self.run_id, "method": method, "model_id": model_id, "score": float(score),
               "access": access, "p_value": test.get("p_value"), "effect": test.get("effect"),
               "outcomes": None if outcomes is None else np.asarray(outcomes, dtype=np.float32).tolist(),
               "fingerprint_id": fingerprint_id, "labels": top_labels(logits)}
        scores = pa.Table.from_pylist([row], schema=SCORES_SCHEMA)
        shards = {shard_name(table, method, model_id): parquet_bytes(content)
                  for table, content in (("scores", scores), ("queries", queries))}
        for name, data in shards.items():
            self.run_dir.write_bytes(name, data)
        self.run_dir.write_text(record_name(method, model_id), job_record(method, model_id, fingerprint_id, shards))
