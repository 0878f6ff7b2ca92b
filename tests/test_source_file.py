"""A source the owner already has: `[source] file` loads it instead of training one, and the suite attacks it."""
from __future__ import annotations

import pickle

import polars as pl
import pytest
from conftest import tiny_spec
from safetensors.torch import save_file

from engine.config import SpecError, build_spec
from engine.plan import build_plan
from engine.run import run_spec
from reports.load import load_run
from reports.metrics import compute_metrics
from zoo.data import DataBundle
from zoo.fit import fit_many
from zoo.spec import canonical
from zoo.steps import StepContext
from zoo.train import Train


@pytest.fixture(scope="module")
def owner_file(tmp_path_factory):
    """The owner's model: a cnn trained on the defender split, saved as safetensors."""
    data = DataBundle.load("digits")
    params = canonical("train(cnn,digits,epochs=15,seed=42)").last.as_dict()
    model = fit_many([Train().prepare(None, params, StepContext(data, "cpu", 42))])[0]
    path = tmp_path_factory.mktemp("owner") / "mine.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def spec_for(path, **source):
    raw = tiny_spec(attacks={"list": ["finetune(mode=ftal)", "prune(rate=0.5)->finetune(mode=ftal)"]},
                    negatives={"archs": ["cnn", "mlp"], "seeds": [1, 2], "mirror": True})
    raw["source"] = {"arch": "cnn", "file": str(path), **source}
    return build_spec(raw)


def test_the_owners_file_is_the_source_the_suite_attacks(owner_file, tmp_path):
    spec = spec_for(owner_file)
    assert spec.source_id.startswith("weights(cnn,digits,") and "sha256=" in spec.source_id
    plan = build_plan(spec)
    mirror = next(n for n in plan.nodes.values() if n.lineage == "mirror" and n.role == "negative")
    assert mirror.model_id.startswith("train(cnn,digits,") and "split=independent" in mirror.model_id
    run_spec(spec, out=tmp_path / "run", show_progress=False)
    tables = load_run(tmp_path / "run")
    models = tables.models.collect()
    source = models.filter(pl.col("role") == "source").row(0, named=True)
    assert source["model_id"] == spec.source_id and source["test_acc"] > 0.9
    metrics = compute_metrics(tables.scores, tables.models, tables.run_id, resamples=0)
    auc = dict(zip(metrics.filter(pl.col("param") == "all")["attack"], metrics.filter(pl.col("param") == "all")["auc"]))
    assert auc["finetune"] >= 0.9 and auc["prune"] >= 0.9


def test_bad_source_files_are_refused_when_the_spec_loads(owner_file, tmp_path):
    pickled = tmp_path / "model.pt"
    pickled.write_bytes(pickle.dumps({"weight": [1.0]}))
    with pytest.raises(SpecError, match="never unpickles") as err:
        spec_for(pickled)
    assert err.value.path == "source.file"
    with pytest.raises(SpecError) as err:
        spec_for(owner_file, epochs=5)
    assert err.value.path == "source.epochs"
    with pytest.raises(SpecError) as err:
        spec_for(tmp_path / "missing.safetensors")
    assert err.value.path == "source.file"


def test_a_file_changed_after_the_spec_was_read_is_refused(owner_file, tmp_path):
    changed = tmp_path / "changed.safetensors"
    changed.write_bytes(owner_file.read_bytes())
    spec = spec_for(changed)
    changed.write_bytes(owner_file.read_bytes()[:-8] + b"\0" * 8)
    result = run_spec(spec, out=tmp_path / "run", show_progress=False)
    assert any("changed since the spec was read" in f.error for f in result.failures)
