"""The run directory contract: the name of every file in it, and the checksum that guards each.

A benchmark's numbers must never come from a damaged file. Every artefact is
written with the SHA-256 of its bytes recorded beside it, and read back only
through `verified`:

    run.json                                      provenance (engine/provenance.py)
    run.lock                                      the driver that is using the directory
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
No torch import here: reports and `fpbench check` use this module on any machine.
"""
from __future__ import annotations

import hashlib
import json

from zoo.spec import short_hash

RUN_JSON = "run.json"
LOCK = "run.lock"
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
