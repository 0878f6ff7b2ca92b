"""Every core by default, packs by default: the numbers do not depend on either."""
import polars as pl
import pytest
from conftest import tiny_spec

from engine.config import build_spec
from engine.run import run_spec
from engine.rundir import artefact_files, record_name, shard_name
from engine.store import ArtifactStore

ATTACKS = [
    "finetune(mode=ftal,epochs=3)",
    "prune(rate=0.5)->finetune(mode=ftal,epochs=3)",
    "prune(rate=0.8)->finetune(mode=ftal,epochs=3)",
    "distill(arch=mlp,epochs=4)",
    "distill(arch=mlp,epochs=4,rep=1)",
]


def spec(workers, pack):
    return build_spec(tiny_spec(
        source={"arch": "cnn", "epochs": 8},
        attacks={"list": ATTACKS},
        negatives={"archs": ["mlp"], "seeds": [1, 2, 3], "derived": ["distill(arch=mlp,epochs=4)"]},
        methods=[{"name": "ipguard", "params": {"n": 20, "steps": 100}}],
        executor={"device": "cpu", "workers": workers, "pack": pack},
    ))


def logits(run_dir):
    table = pl.read_parquet(run_dir / "queries" / "**" / "*.parquet", hive_partitioning=False)
    return table.sort("model_id", "query_index").select("model_id", "query_index", "logits")


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial") / "run"
    return out, run_spec(spec(workers=1, pack=4), out=out, show_progress=False)


def test_two_worker_processes_write_what_one_process_writes(serial, tmp_path):
    out, _ = serial
    parallel = run_spec(spec(workers=2, pack=4), out=tmp_path / "run", show_progress=False)
    assert parallel.events["trained"] == sum(1 for _ in (out / "store" / "models").glob("*.json"))
    assert logits(tmp_path / "run").equals(logits(out))


def test_the_manifest_records_each_models_pack(serial):
    out, result = serial
    models = pl.read_parquet(out / "models.parquet")
    packed = models.filter(pl.col("pack_size") > 1)
    assert packed.height >= 5  # the mlp independents, the two distilled replicates, the pruned copies' fine-tunes
    assert set(packed["model_id"]) <= set(result.plan.packs)
    for _, group in packed.group_by("pack_id"):
        assert group["pack_size"].unique().to_list() == [group.height]
    alone = models.filter(pl.col("pack_size") == 1)["model_id"]
    assert not set(alone) & set(result.plan.packs)


def test_a_killed_pack_retrains_only_its_lost_member(serial):
    out, result = serial
    store = ArtifactStore(out / "store")
    member = sorted(m for m in result.plan.packs if "->distill(arch=mlp," in m and "rep=1" in m)[0]
    weights = store.load_model(member).state_dict()
    for name in artefact_files("models", member):  # as if the run died before this member was stored
        (out / "store" / name).unlink()
    for name in (*(shard_name(table, "ipguard", member) for table in ("queries", "scores")),
                 record_name("ipguard", member)):
        (out / name).unlink()
    again = run_spec(spec(workers=1, pack=4), out=out, show_progress=False)
    assert again.events["trained"] == 1
    retrained = store.load_model(member).state_dict()
    assert all(weights[k].equal(retrained[k]) for k in weights)
