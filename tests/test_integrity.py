"""The run directory is checked on every reuse: damage is found, named, cleared and rebuilt identically."""
import json
import os
import shutil

import polars as pl
import pytest
from conftest import tiny_spec

from engine.config import build_spec
from engine.fs import Location, WriteFailed
from engine.integrity import check_run, repair
from engine.lock import RunLock, RunLocked
from engine.rundir import FAILURES, FINGERPRINTS, LOCK, MODELS
from engine.run import run_spec


def small_spec():
    """One worker in this process, so the tests' patches reach the jobs."""
    return build_spec(tiny_spec(attacks={"list": ["finetune(mode=ftal)", "prune(rate=0.5)->finetune(mode=ftal)"]},
                                negatives={"archs": ["cnn", "mlp"], "seeds": [1]},
                                executor={"device": "cpu", "workers": 1}))


class FullStream:
    """An output stream on a full disk: opening works, writing fails."""

    def __init__(self, fs, path):
        self.handle = fs.open_output_stream(path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()

    def write(self, data):
        raise OSError(28, "No space left on device")


class FullDisk:
    """A file system proxy whose writes to paths `full(path)` selects fail as on a full disk."""

    def __init__(self, fs, full):
        self.fs, self.full = fs, full

    def __getattr__(self, name):
        return getattr(self.fs, name)

    def open_output_stream(self, path):
        return FullStream(self.fs, path) if self.full(path) else self.fs.open_output_stream(path)


def fill_disk(monkeypatch, full):
    """Every Location write whose temporary path `full` selects fails for lack of space."""
    real = Location.write_bytes

    def write_bytes(self, name, data):
        fs, self.fs = self.fs, FullDisk(self.fs, full)
        try:
            return real(self, name, data)
        finally:
            self.fs = fs

    monkeypatch.setattr(Location, "write_bytes", write_bytes)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("integrity") / "run"
    run_spec(small_spec(), out=out, show_progress=False)
    return out


@pytest.fixture
def run(finished, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    return copy


def scores(out):
    return pl.read_parquet(out / "scores" / "**" / "*.parquet").sort("method", "model_id")


def test_an_intact_run_checks_clean(run):
    assert check_run(Location(run)) == []
    assert (run / FINGERPRINTS).is_file() and (run / MODELS).is_file() and not (run / LOCK).exists()


def test_a_bit_flipped_weight_file_is_named_rebuilt_and_changes_no_score(run):
    before = scores(run)
    weights = sorted((run / "store" / "models").glob("*.safetensors"))[0]
    raw = bytearray(weights.read_bytes())
    raw[-9] ^= 0x10
    weights.write_bytes(bytes(raw))
    damage = check_run(Location(run))
    assert [d.path for d in damage] == [str(weights.relative_to(run))] and "checksum" in damage[0].reason
    again = run_spec(small_spec(), out=run, show_progress=False)
    assert [d.path for d in again.repaired] == [str(weights.relative_to(run))]
    assert again.events.get("trained") == 1 and check_run(Location(run)) == []
    assert scores(run).equals(before)


def test_a_truncated_query_shard_is_not_taken_as_done(run):
    shard = sorted((run / "queries").rglob("*.parquet"))[2]
    content = shard.read_bytes()
    shard.write_bytes(content[: len(content) // 2])
    again = run_spec(small_spec(), out=run, show_progress=False)
    assert again.queries_run == 1 and shard.read_bytes() == content


def test_check_lists_damage_and_repair_clears_only_it(run):
    sidecar = sorted((run / "store" / "fingerprints").glob("*.json"))[0]
    sidecar.write_text("{not json")
    (run / MODELS).write_bytes(b"PAR1 garbage")
    record = sorted((run / "records").rglob("*.json"))[0]
    shards = list(json.loads(record.read_text())["files"])
    (run / shards[0]).unlink()
    damage = check_run(Location(run))
    assert {d.path for d in damage} == {str(sidecar.relative_to(run)), MODELS, shards[0]}
    repair(Location(run), damage)
    assert not sidecar.exists() and not (run / MODELS).exists() and not record.exists()
    assert all((run / p).exists() for p in ("run.json",))
    run_spec(small_spec(), out=run, show_progress=False)
    assert check_run(Location(run)) == []


def test_a_damaged_run_json_is_reported_and_never_cleared(run):
    (run / "run.json").write_text("[]")
    damage = check_run(Location(run))
    assert [d.path for d in damage] == ["run.json"] and damage[0].clear == ()


def test_a_killed_first_run_can_be_reported(tmp_path, monkeypatch):
    """The manifest is written before any job runs, so a run killed half-way has one."""
    import engine.run

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine.run, "RunProgress", killed)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_spec(small_spec(), out=out, show_progress=False)
    manifest = pl.read_parquet(out / MODELS)
    assert manifest.height > 0 and manifest["test_acc"].is_null().all()
    assert not (out / LOCK).exists()  # released on the way out


def test_a_second_driver_is_refused_and_a_stale_lock_taken_over(run):
    location = Location(run)
    with RunLock(location):
        with pytest.raises(RunLocked, match="in use by pid"):
            run_spec(small_spec(), out=run, show_progress=False)
    dead = {"host": os.uname().nodename, "pid": 2**22 + 12345, "started": "2026-01-01T00:00:00+00:00"}
    (run / LOCK).write_text(json.dumps(dead))
    again = run_spec(small_spec(), out=run, show_progress=False)
    assert again.queries_run == 0 and again.stale_lock == dead
    assert not (run / LOCK).exists()


def test_a_full_disk_names_the_file_keeps_the_failure_record_and_leaves_no_temp_files(run, monkeypatch):
    sorted((run / "records").rglob("*.json"))[0].unlink()  # one query left to do: its shards hit the full disk
    fill_disk(monkeypatch, lambda path: "/scores/" in path)
    result = run_spec(small_spec(), out=run, show_progress=False)
    failures = pl.read_parquet(run / FAILURES)
    assert len(result.failures) == 1 and failures.height == 1
    assert "No space left" in failures["error"].item() and "scores/method=" in failures["error"].item()
    assert not [p for p in run.rglob("*") if p.name.endswith(".tmp")]
    (run / MODELS).unlink()
    fill_disk(monkeypatch, lambda path: MODELS in path)  # full before anything runs: named, nothing done
    with pytest.raises(WriteFailed, match="models.parquet"):
        run_spec(small_spec(), out=run, show_progress=False)
    monkeypatch.undo()
    again = run_spec(small_spec(), out=run, show_progress=False)
    assert again.queries_run == 1 and not again.failures and not (run / FAILURES).exists()
    assert check_run(Location(run)) == [] and not (run / LOCK).exists()


def test_a_failed_write_removes_its_temporary_file(tmp_path, monkeypatch):
    fill_disk(monkeypatch, lambda path: True)
    with pytest.raises(WriteFailed, match=r"x/y\.bin.*No space left"):
        Location(tmp_path).write_bytes("x/y.bin", b"data")
    assert list((tmp_path / "x").iterdir()) == []


def test_a_run_refused_for_its_data_leaves_nothing_behind(tmp_path):
    from zoo.datasets import DatasetError

    empty = tmp_path / "cifar"
    empty.mkdir()
    spec = build_spec(tiny_spec(dataset={"name": "cifar10", "root": str(empty)},
                                executor={"device": "cpu", "workers": 1}))
    out = tmp_path / "run"
    with pytest.raises(DatasetError):
        run_spec(spec, out=out, show_progress=False)
    assert not out.exists()


def test_two_specs_started_together_on_one_empty_directory_never_both_run(tmp_path):
    """One driver gets the directory; the other is refused (exit 2) and writes nothing."""
    import subprocess
    import sys
    from pathlib import Path

    from test_hostile_inputs import to_toml

    specs = []
    for i, arch in enumerate(("cnn", "mlp")):
        raw = tiny_spec(name=f"race{i}", attacks={"list": ["finetune(mode=ftal)"]},
                        negatives={"archs": [arch], "seeds": [1]}, executor={"device": "cpu", "workers": 1})
        path = tmp_path / f"race{i}.toml"
        path.write_text(to_toml(raw))
        specs.append(path)
    out = tmp_path / "shared"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    drivers = [subprocess.Popen([sys.executable, "-m", "engine.cli", "run", str(s), "--out", str(out), "--quiet"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for s in specs]
    codes = [d.wait(timeout=300) for d in drivers]
    errors = [d.stderr.read() for d in drivers]
    assert sorted(codes) == [0, 2], errors
    loser = " ".join(errors[codes.index(2)].split())  # the console wraps long paths at 80 columns
    assert "in use by" in loser or "holds run" in loser, loser
    assert "Traceback" not in loser
    run_ids = {json.loads(r.read_text())["run_id"] for r in out.glob("run.json")}
    assert len(run_ids) == 1
    shards = pl.read_parquet(out / "scores" / "**" / "*.parquet")
    assert shards["run_id"].unique().to_list() == list(run_ids)


def test_fpbench_check_exit_codes_and_repair(run, capsys):
    from engine.cli import main

    assert main(["check", str(run)]) == 0
    weights = sorted((run / "store" / "models").glob("*.safetensors"))[1]
    weights.write_bytes(weights.read_bytes()[:-1])
    assert main(["check", str(run)]) == 4
    out = capsys.readouterr().out
    assert weights.name in out and "checksum" in out
    assert weights.exists()
    assert main(["check", str(run), "--repair"]) == 4 and not weights.exists()
    assert main(["check", str(run)]) == 0  # cleared: nothing damaged is left
    assert run_spec(small_spec(), out=run, show_progress=False).events["trained"] == 1 and weights.exists()
    assert main(["check", str(run.parent / "nowhere")]) == 2


def test_reports_read_only_recorded_intact_shards_of_this_run(run):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from engine import rundir
    from reports.load import load_run

    n = load_run(run).scores.collect().height
    first, second = sorted((run / "scores").rglob("*.parquet"))[:2]
    stray = run / "scores" / "method=ipguard" / "0123456789abcdef.parquet"
    shutil.copy(first, stray)  # no job record: a job that never finished
    assert load_run(run).scores.collect().height == n
    table = pq.read_table(stray)  # and with a record, a shard of another run
    pq.write_table(table.set_column(table.schema.get_field_index("run_id"), "run_id",
                                    pa.array(["other-run"] * table.num_rows)), stray)
    (run / "records" / "method=ipguard" / "0123456789abcdef.json").write_text(
        rundir.job_record("ipguard", "forged", "fp", {str(stray.relative_to(run)): stray.read_bytes()}))
    assert load_run(run).scores.collect().height == n
    second.write_bytes(second.read_bytes()[:-3])
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_run(run)


def test_the_manifest_follows_a_run_that_is_then_killed(tmp_path, monkeypatch):
    import engine.run
    from engine.progress import RunProgress

    monkeypatch.setattr(engine.run, "MANIFEST_EVERY_S", 0.0)
    original = RunProgress.job_done

    def killed_after_five(self, result):
        original(self, result)
        if self.jobs_done == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(RunProgress, "job_done", killed_after_five)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_spec(small_spec(), out=out, show_progress=False)
    manifest = pl.read_parquet(out / MODELS)
    trained = manifest.filter(pl.col("test_acc").is_not_null()).height
    assert 0 < trained < manifest.height
