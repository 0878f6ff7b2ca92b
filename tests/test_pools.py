"""Other data sets' local copies (`[dataset] pools`): Knockoff queries from them, as FingerBench queries a
CIFAR-10 source with CIFAR-100, and transfer tasks onto their first ten classes, as SAC transfers to
CIFAR-100's; digits and hard_digits share the 8x8 shape, so they stand in here."""
from __future__ import annotations

import pytest
import torch
from conftest import tiny_spec

from engine.cli import main
from engine.config import SpecError, build_spec
from engine.run import check_pools, run_spec
from zoo.data import DataBundle
from zoo.datasets import DatasetError, load_splits
from zoo.spec import canonical
from zoo.steps import StepContext

KNOCKOFF = "knockoff(arch=mlp,data=hard_digits,queries=1500,epochs=20)"


def test_queries_come_from_the_pool_and_the_student_learns_from_them(digits):
    bundle = DataBundle(load_splits("digits"), "cpu", {"hard_digits": "embedded"})
    pool = bundle.pool("hard_digits")
    splits = load_splits("hard_digits")
    assert len(pool) == sum(len(part.x) for part in splits.parts.values()) and pool.shape[1:] == (1, 8, 8)
    from zoo.attacks.knockoff import query_pool

    x = query_pool("hard_digits", 300, StepContext(bundle, "cpu", 7))
    pooled = {tuple(row.flatten().tolist()) for row in pool}
    assert len(x) == 300 and all(tuple(row.flatten().tolist()) in pooled for row in x[:50])
    assert torch.equal(x, query_pool("hard_digits", 300, StepContext(bundle, "cpu", 7)))  # seeded


def test_a_spec_names_its_pools_and_a_missing_copy_stops_the_run_before_anything_is_written(tmp_path, capsys):
    spec = build_spec(tiny_spec(attacks={"list": [KNOCKOFF]}))
    with pytest.raises(DatasetError, match=r"pools = \{ hard_digits ="):
        check_pools(spec)
    out = tmp_path / "run"
    path = tmp_path / "spec.toml"
    path.write_text(f'preset = "quick"\n[attacks]\nlist = ["{KNOCKOFF}"]\n')
    assert main(["run", str(path), "--out", str(out)]) == 2
    assert "pools" in capsys.readouterr().err and not out.exists()
    with pytest.raises(SpecError, match="dataset.pools.digits"):  # the run's own data set is not a pool
        build_spec(tiny_spec(dataset={"name": "digits", "pools": {"digits": "x"}}))
    with pytest.raises(Exception, match="knockoff\\(data='imagenet'\\) is not allowed"):
        canonical("train(cnn,digits)->knockoff(arch=mlp,data=imagenet)")


def test_a_run_with_a_pool_trains_its_knockoff_student(tmp_path):
    import polars as pl

    raw = tiny_spec(attacks={"list": [KNOCKOFF]}, negatives={"archs": ["mlp"], "seeds": [1, 2]})
    raw["dataset"] = {"name": "digits", "pools": {"hard_digits": "embedded"}}
    run_spec(build_spec(raw), out=tmp_path / "run", show_progress=False)
    models = pl.read_parquet(tmp_path / "run" / "models.parquet")
    student = models.filter(pl.col("attack") == "knockoff").row(0, named=True)
    assert "data=hard_digits" in student["model_id"] and student["agreement"] > 0.5


def test_a_transfer_to_another_data_set_is_judged_against_task_matched_negatives(tmp_path):
    import polars as pl

    from reports import build_report

    transfer = "transfer(task=hard_digits,epochs=5)"
    raw = tiny_spec(attacks={"list": ["finetune(mode=ftal)", transfer, transfer[:-1] + ",mode=last)"]},
                    negatives={"archs": ["cnn", "mlp"], "seeds": [1, 2], "derived": [transfer]})
    raw["dataset"] = {"name": "digits", "pools": {"hard_digits": "embedded"}}
    run_spec(build_spec(raw), out=tmp_path / "run", show_progress=False)
    models = pl.read_parquet(tmp_path / "run" / "models.parquet")
    moved = models.filter(pl.col("task") == "hard_digits")
    assert moved.height == 2 + 4 and set(moved.get_column("num_classes")) == {10}
    assert moved.get_column("test_acc").min() > 0.3  # tested on hard_digits' own test split
    metrics = build_report(tmp_path / "run", resamples=0).metrics.filter(pl.col("param") == "all")
    cell = metrics.filter(pl.col("attack") == "transfer").row(0, named=True)
    assert (cell["n_pos"], cell["n_neg"]) == (2, 4)  # the four transferred negatives, not the digits ones
    overall = metrics.filter(pl.col("attack") == "all").row(0, named=True)
    assert overall["n_neg"] == 4  # the "all" row keeps to the source's own label space
