"""The Ray executor on a real multi-node cluster (one machine, fake GPUs).

It must give the local executor's results, survive a worker node dying mid-run,
resume after its driver is killed, and record a job that keeps failing.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from conftest import tiny_spec
from engine.config import build_spec
from engine.run import run_spec

RAY_SPEC = tiny_spec(
    negatives={"archs": ["cnn", "mlp"], "seeds": [1, 2]},
    executor={"kind": "ray", "workers": 2, "device": "cpu"},
)


def shards(run_dir: Path) -> pl.DataFrame:
    return pl.read_parquet(run_dir / "queries" / "**" / "*.parquet", hive_partitioning=False).sort(
        "method", "model_id", "query_index")


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "run"
    run_spec(build_spec(RAY_SPEC), out=out, show_progress=False, executor="local")
    return out


def test_ray_matches_local(ray_cluster, local_run, tmp_path):
    result = run_spec(build_spec(RAY_SPEC), out=tmp_path / "run", show_progress=False)
    assert not result.failures
    local, remote = shards(local_run), shards(tmp_path / "run")
    assert local["model_id"].to_list() == remote["model_id"].to_list()
    np.testing.assert_allclose(np.stack(remote["logits"].to_numpy()), np.stack(local["logits"].to_numpy()),
                               rtol=1e-4, atol=1e-4)
    ids = lambda d: sorted(pl.read_parquet(d / "models.parquet")["model_id"])  # noqa: E731
    assert ids(tmp_path / "run") == ids(local_run)


def test_worker_node_lost_mid_run(ray_cluster, local_run, tmp_path):
    cluster, workers = ray_cluster
    out = tmp_path / "run"
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(
        result=run_spec(build_spec(RAY_SPEC), out=out, show_progress=False)))
    thread.start()
    deadline = time.monotonic() + 120
    while len(list((out / "queries").rglob("*.parquet"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    cluster.remove_node(workers[0], allow_graceful=False)
    thread.join(timeout=300)
    assert not thread.is_alive() and not outcome["result"].failures
    files = sorted(p.name for p in (out / "queries").rglob("*.parquet"))
    assert len(files) == len(set(files)) == len(outcome["result"].plan.queries)
    remote, local = shards(out), shards(local_run)
    assert remote.select("method", "model_id", "query_index").equals(local.select("method", "model_id", "query_index"))
    np.testing.assert_allclose(np.stack(remote["logits"].to_numpy()), np.stack(local["logits"].to_numpy()),
                               rtol=1e-4, atol=1e-4)
    workers[0] = cluster.add_node(num_cpus=1, num_gpus=2, resources={"zoo": 1})
    cluster.wait_for_nodes()


def test_killed_driver_resumes_without_retraining(ray_cluster, tmp_path):
    cluster, _ = ray_cluster
    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(toml_of(RAY_SPEC))
    out = tmp_path / "run"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(Path(__file__).parents[1])}
    driver = subprocess.Popen([sys.executable, "-m", "engine.cli", "run", str(spec_file), "--out", str(out),
                               "--quiet", "--address", cluster.address], env=env)
    deadline = time.monotonic() + 180
    models = out / "store" / "models"
    while (not models.exists() or len(list(models.glob("*.json"))) < 4) and time.monotonic() < deadline:
        assert driver.poll() is None, "the driver ended before it could be killed"
        time.sleep(0.2)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    before = {p: p.stat().st_mtime_ns for p in models.glob("*.json")}
    assert before
    result = run_spec(build_spec(RAY_SPEC), out=out, show_progress=False)
    assert not result.failures
    after = {p: p.stat().st_mtime_ns for p in models.glob("*.json")}
    assert all(after[p] == t for p, t in before.items()), "a finished model was trained again"
    assert len(list((out / "queries").rglob("*.parquet"))) == len(result.plan.queries)


def toml_of(raw: dict) -> str:
    """A minimal TOML writer for the test spec (tomllib reads, the standard library cannot write)."""
    import json

    lines, tables = [], []
    for key, value in raw.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                tables.append((f"[{key}]", item))
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    for name, table in tables:
        lines.append(f"[{name}]")  # "[methods]" is already bracketed: [[methods]]
        for key, value in table.items():
            if isinstance(value, dict):
                inner = ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items())
                lines.append(f"{key} = {{ {inner} }}")
            else:
                lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def test_failing_job_is_recorded_and_actors_are_recycled(ray_cluster, local_run, tmp_path, monkeypatch):
    """A parent whose stored weights are garbage makes its child's job fail on every try:
    the run records it after `max_attempts`, finishes everything else with the local
    run's logits, and no actor serves more than `recycle_after` jobs."""
    from engine.fs import Location
    from engine.plan import build_plan
    from engine.progress import RunProgress
    from engine.provenance import write_provenance
    from engine.rundir import artefact_files, digest
    from engine.store import ArtifactStore

    raw = {**RAY_SPEC, "executor": {**RAY_SPEC["executor"], "recycle_after": 3, "max_attempts": 2}}
    spec = build_spec(raw)
    plan = build_plan(spec)
    out = tmp_path / "run"
    write_provenance(Location(out), spec, plan.run_id, "cpu")
    pruned = next(n for n in plan.nodes.values() if n.role == "intermediate" and '"rate": 0.5' in n.attack_params)
    store = ArtifactStore(out / "store")
    weights, sidecar = artefact_files("models", pruned.model_id)
    store.root.write_bytes(weights, b"\x00" * 64)  # recorded as it is, so only loading it fails
    store.root.write_text(sidecar, json.dumps({"model_id": pruned.model_id, "arch": "cnn", "sha256": digest(b"\x00" * 64),
                                               "input_shape": [1, 8, 8], "num_classes": 10}))
    served = Counter()
    original = RunProgress.job_done
    monkeypatch.setattr(RunProgress, "job_done", lambda self, r: (served.update([r.pid]), original(self, r)))

    result = run_spec(spec, out=out, show_progress=False)

    child = next(n.model_id for n in plan.nodes.values() if n.parent_id == pruned.model_id)
    failures = pl.read_parquet(out / "failures.parquet")
    assert set(failures["model_id"]) == {child} and len(result.failures) == len(failures)
    own = failures.filter(pl.col("error").str.contains("not a safetensors file"))
    assert len(own) >= 1 and own["attempts"].to_list() == [2] * len(own)
    remote = shards(out)
    local = shards(local_run).filter(pl.col("model_id") != child)
    assert remote.select("method", "model_id", "query_index").equals(local.select("method", "model_id", "query_index"))
    np.testing.assert_allclose(np.stack(remote["logits"].to_numpy()), np.stack(local["logits"].to_numpy()),
                               rtol=1e-4, atol=1e-4)
    assert max(served.values()) <= 3 and len(served) >= sum(served.values()) / 3
