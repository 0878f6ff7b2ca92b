"""A job that keeps failing is recorded and the run goes on (local executor)."""
import polars as pl

from conftest import tiny_spec
from engine.config import build_spec
from engine.run import run_spec
from zoo.attacks.prune import Prune


def test_failing_attack_is_recorded_and_the_rest_finishes(tmp_path, monkeypatch):
    calls = {"n": 0}

    def broken(self, parent, params, ctx):
        calls["n"] += 1
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Prune, "apply", broken)
    spec = build_spec(tiny_spec(executor={"device": "cpu", "workers": 1}))  # the patch lives in this process
    result = run_spec(spec, out=tmp_path / "run", show_progress=False)
    assert calls["n"] == 4  # two prune rates, each tried max_attempts = 2 times
    failures = pl.read_parquet(tmp_path / "run" / "failures.parquet")
    assert set(failures["job"]) == {"train", "query"}
    assert failures.filter(pl.col("job") == "train")["error"].str.contains("disk on fire").all()
    assert failures.filter(pl.col("job") == "query")["error"].str.contains("needs train").all()
    done = len(list((tmp_path / "run" / "queries").rglob("*.parquet")))
    assert done == len(result.plan.suspects()) - 2  # every suspect but the two pruned copies

    monkeypatch.undo()  # fixed: the re-run retries only what failed, then clears the record
    again = run_spec(spec, out=tmp_path / "run", show_progress=False)
    assert again.queries_run == 2 and not again.failures
    assert not (tmp_path / "run" / "failures.parquet").exists()
