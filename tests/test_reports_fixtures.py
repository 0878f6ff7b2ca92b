"""Writer of engine-shaped run directories for the report tests (no tests of its own).

`write_engine_run` writes what the engine writes: run.json with the spec's methods,
models.parquet with lineage/source_id/num_classes/attack_params, one scores and one
queries shard per (method, model), and optionally fingerprint sidecars and failures.
The zoo below has mirror pairs (distill's data=defender vs data=independent, as the
engine writes them), a prune sweep and a distill architecture sweep.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from engine import rundir
from engine.fs import Location
from engine.sink import parquet_bytes

SRC = "train(cnn,digits,seed=0,split=defender)"
MIRROR = "train(cnn,digits,seed=0,split=independent)"


def _step(name: str, **params) -> str:
    return f"{name}(" + ",".join(f"{k}={v}" for k, v in sorted(params.items())) + ")"


# model_id -> (role, attack, attack_params, arch, lineage)
ZOO: dict[str, tuple[str, str, dict, str, str]] = {
    SRC: ("source", "source", {}, "cnn", "source"),
    f"{SRC}->{_step('prune', rate=0.2)}": ("positive", "prune", {"rate": 0.2}, "cnn", "source"),
    f"{SRC}->{_step('prune', rate=0.5)}": ("positive", "prune", {"rate": 0.5}, "cnn", "source"),
    f"{SRC}->{_step('distill', arch='cnn', data='defender')}": (
        "positive", "distill", {"arch": "cnn", "data": "defender"}, "cnn", "source"),
    f"{SRC}->{_step('distill', arch='mlp', data='defender')}": (
        "positive", "distill", {"arch": "mlp", "data": "defender"}, "mlp", "source"),
    MIRROR: ("negative", "source", {}, "cnn", "mirror"),
    f"{MIRROR}->{_step('prune', rate=0.2)}": ("negative", "prune", {"rate": 0.2}, "cnn", "mirror"),
    f"{MIRROR}->{_step('prune', rate=0.5)}": ("negative", "prune", {"rate": 0.5}, "cnn", "mirror"),
    f"{MIRROR}->{_step('distill', arch='cnn', data='independent')}": (
        "negative", "distill", {"arch": "cnn", "data": "independent"}, "cnn", "mirror"),
    f"{MIRROR}->{_step('distill', arch='mlp', data='independent')}": (
        "negative", "distill", {"arch": "mlp", "data": "independent"}, "mlp", "mirror"),
    "train(mlp,digits,seed=1,split=independent)": ("negative", "independent", {}, "mlp", "independent"),
    "train(vgg,digits,seed=2,split=independent)": ("negative", "independent", {}, "vgg", "independent"),
    "train(cnn,digits,seed=9,split=defender)": ("owner", "independent", {}, "cnn", "owner"),
}
IDS = list(ZOO)
# Short names for the tests: s, p2, p5, dc, dm (positives), ms, m2, m5, mdc, mdm (mirrors), i1, i2, own.
NAMES = dict(zip(["s", "p2", "p5", "dc", "dm", "ms", "m2", "m5", "mdc", "mdm", "i1", "i2", "own"], IDS))
SCORES = {"s": 1.0, "p2": 0.9, "p5": 0.6, "dc": 0.7, "dm": 0.35,
          "ms": 0.3, "m2": 0.3, "m5": 0.4, "mdc": 0.2, "mdm": 0.5, "i1": 0.1, "i2": 0.25, "own": 0.0}


def write_engine_run(
    root: Path,
    scores: dict[str, dict[str, float]],
    logits: dict[str, dict[str, np.ndarray]] | None = None,
    spec_methods: list[str] | None = None,
    run_id: str = "run-e",
    sidecars: dict[str, dict] | None = None,
) -> Path:
    """Write a run under `root`. `scores` maps method -> {short name: score}; `logits` method -> {short name: array}.

    Methods without logits get 4 queries of width 3 whose argmax follows the score
    (high score: the source's labels). `sidecars` maps fingerprint_id -> {"seconds", "owners"}, the
    generation time and owner models its `fingerprints.parquet` row records.
    """
    root.mkdir(parents=True, exist_ok=True)
    methods = spec_methods if spec_methods is not None else list(scores)
    (root / "run.json").write_text(json.dumps({
        "run_id": run_id, "name": "fixture",
        "spec": {"dataset": {"name": "digits"}, "methods": [{"name": m} for m in methods]}}))
    rows = [ZOO[m] for m in IDS]
    pq.write_table(pa.table({
        "model_id": IDS,
        "parent_id": pa.array([m.rsplit("->", 1)[0] if "->" in m else None for m in IDS], pa.string()),
        "role": [r[0] for r in rows],
        "attack": [r[1] for r in rows],
        "attack_params": [json.dumps(r[2], sort_keys=True) for r in rows],
        "arch": [r[3] for r in rows],
        "dataset": ["digits"] * len(IDS),
        "seed": list(range(len(IDS))),
        "test_acc": [0.9] * len(IDS),
        "agreement": [0.8] * len(IDS),
        "num_classes": [10] * len(IDS),
        "train_seconds": [2.0] * len(IDS),
        "source_id": [SRC] * len(IDS),
        "created_at": ["2025-01-01T00:00:00+00:00"] * len(IDS),
        "lineage": [r[4] for r in rows],
    }), root / "models.parquet")
    for method, per_model in scores.items():
        for name, score in per_model.items():
            model_id = NAMES[name]
            out = (logits or {}).get(method, {}).get(name)
            if out is None:
                agree = min(max(round(score * 4), 0), 4) if np.isfinite(score) else 0
                out = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
                out[agree:] = np.roll(out[agree:], 1, axis=1)
            n = len(out)
            offsets = pa.array(np.arange(n + 1, dtype=np.int32) * out.shape[1])
            queries = pa.table({
                "run_id": [run_id] * n, "method": [method] * n, "fingerprint_id": [f"fp-{method}"] * n,
                "model_id": [model_id] * n, "query_index": pa.array(np.arange(n, dtype=np.int32)),
                "logits": pa.ListArray.from_arrays(offsets, pa.array(out.astype(np.float32).reshape(-1))),
            })
            score_table = pa.table({"run_id": [run_id], "method": [method], "model_id": [model_id],
                                    "score": pa.array([score], pa.float64()), "access": ["labels"]})
            shards = {rundir.shard_name(table, method, model_id): parquet_bytes(data)
                      for table, data in (("queries", queries), ("scores", score_table))}
            location = Location(root)
            for name, data in shards.items():
                location.write_bytes(name, data)
            location.write_text(rundir.record_name(method, model_id),
                                rundir.job_record(method, model_id, f"fp-{method}", shards))
    if sidecars:
        rows = [{"fingerprint_id": fid, "generation_seconds": meta.get("seconds"), "owner_models": meta.get("owners")}
                for fid, meta in sidecars.items()]
        pq.write_table(pa.Table.from_pylist(rows, schema=rundir.FINGERPRINTS_SCHEMA), root / "fingerprints.parquet")
    return root
