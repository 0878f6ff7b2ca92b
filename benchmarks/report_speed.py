"""How long `fpbench report` takes on a large synthetic run: 1,000,000 query rows.

Writes a run directory in the engine's layout (models.parquet, run.json, one scores
and one queries shard and their job record per (suspect, method), named by engine.rundir) with MODELS suspects × METHODS methods ×
QUERIES queries of 10 logits, shaped like FingerBench: attack families with swept
parameters and replicates, independent negatives and mirror negatives. Then times,
in one process, each part of the report and the whole `build_report`:

    .venv/bin/python benchmarks/report_speed.py [--models 500] [--methods 4] [--queries 500] [--repeat 3]

Goal (issue #8): build_report <= 2 s for 1,000,000 query rows on the 2-core dev machine.
Goal (issue #15): every table (`analyse`) in <= 2 s for 1,000,000 query rows, and in <= 15 s
with peak memory <= 2 GB for 10,000,000 (`--models 5000`): the query summary reads the labels
stored with each score, never the logits.
Goal (issue #18): a 100,000-suspect run with 12 methods reported in <= 60 s and <= 4 GB;
`--models 100000 --methods 12 --queries 10 --repeat 1 --only build_report` is that run
(1.2 million records and 2.4 million shards: writing them takes a long while), and
smaller `--models` show how each part grows. Each part's peak memory is printed too.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from engine import rundir
from engine.fs import Location
from engine.sink import parquet_bytes, top_labels

ROOT = "train(cnn,digits,seed=0,split={split})"
SWEEPS = {  # family -> (parameter, values); every value gets replicates
    "prune": ("rate", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]),
    "noise": ("level", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]),
    "advtrain": ("fraction", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]),
    "distill": ("arch", ["cnn", "mlp", "resnet", "vgg", "mobilenet"]),
    "knockoff": ("arch", ["cnn", "mlp", "resnet", "vgg", "mobilenet"]),
    "finetune": ("mode", ["ftll", "ftal", "rtll", "rtal"]),
}


def zoo(n_models: int) -> list[dict]:
    """Source, positives cycling through SWEEPS with replicates, mirrors of the first positives, independents."""
    variants = [(family, param, value) for family, (param, values) in SWEEPS.items() for value in values]
    n_pos = (n_models - 2) // 2
    n_mirror = min(n_pos, (n_models - 2 - n_pos) * 3 // 5)
    n_independent = n_models - 2 - n_pos - n_mirror
    rows = [dict(model_id=ROOT.format(split="defender"), role="source", attack="source", params={}, lineage="source")]
    rows.append(dict(model_id=ROOT.format(split="independent"), role="negative", attack="source", params={},
                     lineage="mirror"))
    for i in range(n_pos):
        family, param, value = variants[i % len(variants)]
        params = {param: value, "rep": i // len(variants)}
        step = f"{family}(" + ",".join(f"{k}={v}" for k, v in sorted(params.items())) + ")"
        rows.append(dict(model_id=f"{ROOT.format(split='defender')}->{step}", role="positive", attack=family,
                         params=params, lineage="source"))
        if i < n_mirror:
            rows.append(dict(model_id=f"{ROOT.format(split='independent')}->{step}", role="negative", attack=family,
                             params=params, lineage="mirror"))
    for i in range(n_independent):
        rows.append(dict(model_id=f"train(mlp,digits,seed={i + 1},split=independent)", role="negative",
                         attack="independent", params={}, lineage="independent"))
    return rows


def write_run(root: Path, n_models: int, n_methods: int, n_queries: int, seed: int = 0) -> int:
    """Write the synthetic run under `root`; returns the number of query rows written."""
    rng = np.random.default_rng(seed)
    models = zoo(n_models)
    source_id = models[0]["model_id"]
    root.mkdir(parents=True, exist_ok=True)
    (root / "run.json").write_text(json.dumps({"run_id": "bench", "name": "report-speed",
                                               "spec": {"methods": [{"name": f"m{i}"} for i in range(n_methods)]}}))
    manifest = {
        "model_id": [m["model_id"] for m in models],
        "parent_id": [None] * len(models),
        "role": [m["role"] for m in models],
        "attack": [m["attack"] for m in models],
        "attack_params": [json.dumps(m["params"], sort_keys=True) for m in models],
        "arch": [str(m["params"].get("arch", "cnn")) for m in models],
        "dataset": ["digits"] * len(models),
        "seed": list(range(len(models))),
        "test_acc": rng.uniform(0.8, 1.0, len(models)).tolist(),
        "agreement": rng.uniform(0.5, 1.0, len(models)).tolist(),
        "num_classes": [10] * len(models),
        "train_seconds": rng.uniform(1, 5, len(models)).tolist(),
        "source_id": [source_id] * len(models),
        "created_at": ["2025-01-01T00:00:00+00:00"] * len(models),
        "lineage": [m["lineage"] for m in models],
    }
    pq.write_table(pa.table(manifest), root / "models.parquet")
    rows, location = 0, Location(root)
    for k in range(n_methods):
        method = f"m{k}"
        source_logits = rng.standard_normal((n_queries, 10)).astype(np.float32)
        for i, m in enumerate(models):
            stolen = m["role"] in ("source", "positive")
            noise = 0.5 if stolen else 3.0
            logits = (source_logits + noise * rng.standard_normal((n_queries, 10))).astype(np.float32)
            offsets = pa.array(np.arange(n_queries + 1, dtype=np.int32) * 10)
            queries = pa.table({
                "run_id": ["bench"] * n_queries, "method": [method] * n_queries,
                "fingerprint_id": [f"fp{k}"] * n_queries, "model_id": [m["model_id"]] * n_queries,
                "query_index": pa.array(np.arange(n_queries, dtype=np.int32)),
                "logits": pa.ListArray.from_arrays(offsets, pa.array(logits.reshape(-1))),
            })
            score = float((logits.argmax(1) == source_logits.argmax(1)).mean())
            scores = pa.table({"run_id": ["bench"], "method": [method], "model_id": [m["model_id"]],
                               "score": [score], "access": ["labels"], "fingerprint_id": [f"fp{k}"],
                               "labels": pa.array([top_labels(logits)], pa.list_(pa.int32()))})
            shards = {rundir.shard_name(table, method, m["model_id"]): parquet_bytes(data)
                      for table, data in (("queries", queries), ("scores", scores))}
            for name, data in shards.items():
                location.write_bytes(name, data)
            location.write_text(rundir.record_name(method, m["model_id"]),
                                rundir.job_record(method, m["model_id"], f"fp{k}", shards))
            rows += n_queries
    return rows


PARTS = ["load_run", "compute_metrics", "query_summary", "query_summary_logits", "analyse", "build_report"]


def timed(fn, repeat: int) -> tuple[float, float]:
    """(best, median) wall seconds of `repeat` calls."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--methods", type=int, default=4)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", nargs="+", choices=PARTS, default=PARTS, help="time only these parts")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        started = time.perf_counter()
        rows = write_run(run_dir, args.models, args.methods, args.queries)
        print(f"synthetic run: {args.models} models x {args.methods} methods x {args.queries} queries "
              f"= {rows:,} query rows (written in {time.perf_counter() - started:.1f} s)")

        started = time.perf_counter()
        import reports
        from reports.analysis import analyse
        from reports.queries import query_summary

        print(f"import reports: {time.perf_counter() - started:.2f} s")
        run = reports.load_run(run_dir)
        parts = {
            "load_run": ("load_run (records checked, shards listed)", lambda: reports.load_run(run_dir)),
            "compute_metrics": ("compute_metrics (scores path, B=1000)", lambda: reports.compute_metrics(
                run.scores, run.models, run.run_id, methods=run.methods)),
            "query_summary": ("query_summary (from the labels kept with the scores)",
                              lambda: query_summary(run.queries, run.models, run.scores.collect())),
            "query_summary_logits": ("query_summary (from every logit: older runs)",
                                     lambda: query_summary(run.queries, run.models)),
            "analyse": ("analyse (all tables, no files)", lambda: analyse(reports.load_run(run_dir))),
            "build_report": ("build_report (tables + figures + HTML/MD + Parquet)",
                             lambda: reports.build_report(run_dir)),
        }
        for part in args.only:
            name, fn = parts[part]
            best, median = timed(fn, args.repeat)
            print(f"{name:55s} best {best:6.2f} s   median {median:6.2f} s   peak RSS {peak_gb():.2f} GB")


def peak_gb() -> float:
    """This process's peak resident memory so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


if __name__ == "__main__":
    main()
