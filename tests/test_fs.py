"""Runs on any pyarrow filesystem: a `file://` URI goes through the same code as s3:// would."""
import pyarrow.fs as pafs

from conftest import tiny_spec
from engine.config import build_spec
from engine.fs import Location
from engine.run import run_spec


def test_location_writes_whole_files_only(tmp_path):
    loc = Location(f"file://{tmp_path}/run")
    assert loc.is_empty() and not loc.exists("a/b.txt")
    loc.write_text("a/b.txt", "hello")
    assert loc.read_text("a/b.txt") == "hello" and not loc.is_empty()
    assert not [p for p in (tmp_path / "run").rglob("*") if p.name.endswith(".tmp")]
    loc.delete("a/b.txt")
    assert not loc.exists("a/b.txt")


def test_location_over_a_subtree_filesystem(tmp_path):
    fs = pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem())
    loc = Location("bucket/run", fs)
    (loc / "store").write_bytes("x.bin", b"\x00\x01")
    assert (tmp_path / "bucket" / "run" / "store" / "x.bin").read_bytes() == b"\x00\x01"
    assert loc.local_path is None


def test_a_run_at_a_uri_resumes(tmp_path):
    raw = tiny_spec(attacks={"list": ["finetune(mode=ftal)"]}, negatives={"archs": ["mlp"], "seeds": [1, 2]})
    uri = f"file://{tmp_path}/run"
    first = run_spec(build_spec(raw), out=uri, show_progress=False)
    assert first.queries_run == 4 and first.run_dir == tmp_path / "run"
    again = run_spec(build_spec(raw), out=uri, show_progress=False)
    assert again.queries_run == 0 and again.events.get("trained", 0) == 0


def test_report_of_a_run_at_a_uri_reads_a_mirror_of_its_tables(tmp_path):
    from engine.cli import main

    raw = tiny_spec(attacks={"list": ["finetune(mode=ftal)"]}, negatives={"archs": ["mlp"], "seeds": [1, 2]})
    uri = f"file://{tmp_path}/run"
    run_spec(build_spec(raw), out=uri, show_progress=False)
    mirror = tmp_path / "mirror"
    assert main(["report", uri, "--local", str(mirror), "--resamples", "0"]) == 0
    assert (mirror / "models.parquet").is_file() and len(list((mirror / "queries").rglob("*.parquet"))) == 4
    assert not (mirror / "store").exists()  # the model store never comes down
    assert (tmp_path / "run" / "report" / "report.html").is_file()  # the report goes back beside the run
    assert main(["report", uri, "--local", str(mirror), "--resamples", "0"]) == 0  # same run: refreshed

    other = tmp_path / "other"
    (other / "run.json").parent.mkdir()
    (other / "run.json").write_text('{"run_id": "someone-else"}')
    (other / "keep.txt").write_text("mine")
    assert main(["report", uri, "--local", str(other), "--resamples", "0"]) == 2
    assert (other / "keep.txt").read_text() == "mine" and not (other / "models.parquet").exists()
