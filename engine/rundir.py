"""The run directory contract: the name of every file in it, and the checksum that guards each.

A benchmark's numbers must never come from a damaged file. Every artefact is
written with the SHA-256 of its bytes recorded beside it, and read back only
through `verified`:

    run.json                                      provenance (engine/provenance.py)
    run.lock                                      the driver that is using the directory
    progress.json                                 the driver's heartbeat: counts, ETA, workers (advisory)
    models.parquet, fingerprints.parquet          derived tables, rebuilt from the records
    failures.parquet                              jobs that kept failing
    store/models/<hash>.safetensors + .json       weights; the JSON sidecar records their sha256
    store/fingerprints/<hash>.safetensors + .json a fingerprint; its sidecar records its sha256
    scores/method=<m>/<hash>.parquet              a suspect's score under one method
    queries/method=<m>/<hash>.parquet             its raw query logits
    records/method=<m>/<hash>.json                the job record: both shards' sha256, written last

The sidecar and the job record are written after the files they describe, so
their existence means "complete"; a file whose bytes no longer match its record is
damaged, and anything damaged is derivable from its id and is rebuilt.
The Arrow schemas of the tables are here too (the README's "Result tables"); the
reports read them as Polars schemas. No torch import: reports and `fpbench check`
use this module on any machine.
"""
from __future__ import annotations

import hashlib
import json

import pyarrow as pa

from zoo.spec import short_hash

RUN_JSON = "run.json"
LOCK = "run.lock"
PROGRESS = "progress.json"  # rewritten every few seconds while a run goes; `fpbench status` reads it
MODELS = "models.parquet"
FINGERPRINTS = "fingerprints.parquet"
FAILURES = "failures.parquet"
DERIVED_TABLES = (MODELS, FINGERPRINTS, FAILURES)
STORE = "store"
SHARD_TABLES = ("scores", "queries")


class DamagedFile(ValueError):
    """A stored file that is missing, truncated or altered since it was recorded."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verified(data: bytes, expected: str | None, path: str) -> bytes:
    """`data` if its checksum is the recorded one; a file without a record cannot be trusted."""
    if not expected:
        raise DamagedFile(path, "no checksum was recorded for it")
    if digest(data) != expected:
        raise DamagedFile(path, f"checksum mismatch ({len(data)} bytes; the record says sha256 {expected[:12]}…)")
    return data


def artefact_files(kind: str, key: str) -> tuple[str, str]:
    """(data, sidecar) of a stored model ("models") or fingerprint ("fingerprints"), inside STORE."""
    stem = f"{kind}/{short_hash(key)}"
    return f"{stem}.safetensors", f"{stem}.json"


def shard_name(table: str, method: str, model_id: str) -> str:
    return f"{table}/method={method}/{short_hash(model_id)}.parquet"


def record_name(method: str, model_id: str) -> str:
    return f"records/method={method}/{short_hash(model_id)}.json"


def job_record(method: str, model_id: str, fingerprint_id: str, shards: dict[str, bytes]) -> str:
    """The JSON job record of a query job whose shards (name -> bytes) are written."""
    files = {name: digest(data) for name, data in shards.items()}
    return json.dumps({"method": method, "model_id": model_id, "fingerprint_id": fingerprint_id, "files": files},
                      indent=1, sort_keys=True)


# ------------------------------------------------------------------ table schemas

QUERIES_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("method", pa.string()),
        ("fingerprint_id", pa.string()),
        ("model_id", pa.string()),
        ("query_index", pa.int32()),
        ("logits", pa.list_(pa.float32())),
    ]
)

SCORES_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("method", pa.string()),
        ("model_id", pa.string()),
        ("score", pa.float64()),
        ("access", pa.string()),
        ("p_value", pa.float64()),  # methods with a hypothesis test (watermarks): its p-value, else null
        ("effect", pa.float64()),  # and its effect size (e.g. hit rate above chance, mean posterior gap)
        ("outcomes", pa.list_(pa.float32())),  # per-query outcomes whose mean is the score (per-query methods), else null
        ("fingerprint_id", pa.string()),  # the fingerprint it answered
        ("labels", pa.list_(pa.int32())),  # top-1 label per query, null where a logit is NaN/inf (reports.queries)
    ]
)

FINGERPRINTS_SCHEMA = pa.schema(
    [
        ("fingerprint_id", pa.string()),
        ("method", pa.string()),  # the registered method
        ("label", pa.string()),  # the `method` column of the score and query shards
        ("params", pa.string()),  # its parameters as sorted JSON
        ("source_id", pa.string()),
        ("owner_models", pa.list_(pa.string())),  # the owner-side models it had trained for itself
        ("generation_seconds", pa.float64()),  # null until it is generated
        ("sha256", pa.string()),  # of its stored tensors (null until generated)
    ]
)

MODELS_SCHEMA = pa.schema(
    [
        ("model_id", pa.string()),
        ("parent_id", pa.string()),
        ("role", pa.string()),
        ("attack", pa.string()),
        ("attack_params", pa.string()),
        ("arch", pa.string()),
        ("dataset", pa.string()),
        ("seed", pa.int64()),
        ("test_acc", pa.float64()),
        ("agreement", pa.float64()),
        ("num_classes", pa.int64()),
        ("train_seconds", pa.float64()),
        ("source_id", pa.string()),
        ("created_at", pa.string()),
        ("lineage", pa.string()),
        ("pack_id", pa.string()),  # the pack the model trained in (null: alone); see engine/packs.py
        ("pack_size", pa.int64()),  # how many models trained together with it, itself included
        ("replicate", pa.int64()),  # which source replicate's benchmark it belongs to (0: the first)
        ("task", pa.string()),  # the label task a transfer moved it to (null: the data set's own labels)
    ]
)

FAILURES_SCHEMA = pa.schema([
    ("run_id", pa.string()),
    ("job", pa.string()),  # train | fingerprint | query
    ("model_id", pa.string()),
    ("method", pa.string()),
    ("error", pa.string()),
    ("attempts", pa.int64()),
])
