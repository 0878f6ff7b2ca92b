"""`[[suspects]]`: weights files fpbench did not train, listed in a spec beside the zoo and judged with it."""
from __future__ import annotations

import pickle

import polars as pl
import pytest
from conftest import tiny_spec
from safetensors.torch import save_file

from engine.config import SpecError, build_spec
from engine.run import run_spec
from reports import build_report
from zoo.data import DataBundle
from zoo.testing import build


def save(model, path):
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return str(path)


@pytest.fixture(scope="module")
def found(tmp_path_factory):
    """Files found in the wild: a fine-tuned copy of the tiny spec's source, and two models of other owners."""
    folder = tmp_path_factory.mktemp("found")
    data = DataBundle.load("digits")
    source = build_spec(tiny_spec()).source_id
    copy = build(f"{source}->finetune(mode=ftal,epochs=3,rep=7)", data)
    stranger = build("train(cnn,digits,epochs=15,seed=77,split=independent)", data)
    other = build("train(mlp,digits,epochs=15,seed=78,split=independent)", data)
    return {"copy": save(copy, folder / "copy.safetensors"), "stranger": save(stranger, folder / "stranger.safetensors"),
            "other": save(other, folder / "other.safetensors")}


def spec_with(suspects):
    raw = tiny_spec(attacks={"list": ["finetune(mode=ftal)", "prune(rate=0.5)->finetune(mode=ftal)"]},
                    negatives={"archs": ["cnn", "mlp"], "seeds": [1, 2]})
    raw["suspects"] = suspects
    return build_spec(raw)


def test_external_suspects_are_scored_beside_the_zoo(found, tmp_path):
    spec = spec_with([{"file": found["copy"], "arch": "cnn", "label": "positive"},
                      {"file": found["stranger"], "arch": "cnn", "label": "negative"},
                      {"file": found["other"], "arch": "mlp"}])  # unknown: scored, never counted
    run_spec(spec, out=tmp_path / "run", show_progress=False)
    report = build_report(tmp_path / "run", resamples=0)
    models = pl.read_parquet(report.models_path).filter(pl.col("lineage") == "external")
    assert sorted(models.get_column("role")) == ["negative", "positive", "unknown"]
    assert set(models.get_column("attack")) == {"external"}
    assert all(m.startswith("weights(") and "sha256=" in m for m in models.get_column("model_id"))
    scores = pl.read_parquet(report.scores_path).join(models.select("model_id", "role"), on="model_id")
    score = dict(zip(scores.get_column("role"), scores.get_column("score")))
    assert score["positive"] > 0.8 > score["negative"] and score["unknown"] is not None
    cell = report.metrics.filter((pl.col("attack") == "external") & (pl.col("param") == "all")).row(0, named=True)
    assert cell["n_pos"] == 1 and cell["n_neg"] == 4 + 1  # the zoo's negatives and the external one
    overall = report.metrics.filter(pl.col("attack") == "all").row(0, named=True)
    assert overall["n_neg"] == 5  # the unknown suspect is not counted


def test_bad_suspect_entries_are_named(found, tmp_path):
    pickled = tmp_path / "model.pt"
    pickled.write_bytes(pickle.dumps({"weight": [1.0]}))
    cases = [
        ([{"onnx": "model.onnx", "label": "negative"}], "suspects[0].onnx", "fpbench verify"),
        ([{"file": str(pickled), "arch": "cnn"}], "suspects[0].file", "never unpickles"),
        ([{"file": found["copy"], "arch": "cnn", "label": "stolen"}], "suspects[0].label", "allowed"),
        ([{"file": found["copy"]}], "suspects[0].arch", "architecture"),
        ([{"file": found["copy"], "arch": "cnn"}, {"file": found["copy"], "arch": "cnn"}], "suspects[1].file", "same"),
    ]
    for entries, where, words in cases:
        with pytest.raises(SpecError, match=words) as err:
            spec_with(entries)
        assert err.value.path == where
