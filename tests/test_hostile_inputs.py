"""Bad input of every kind is exit code 2 with a message naming it, before any training,
with no traceback and nothing written: one test per class of defect."""
from __future__ import annotations

import gzip
import io
import json
import math
import os
import signal
import struct
import tracemalloc
from contextlib import contextmanager

import numpy as np
import pytest
from conftest import tiny_spec
from rich.console import Console
from test_reports_fixtures import SCORES, write_engine_run

import engine.cli
import engine.run
from engine.cli import main
from engine.config import SpecError, build_spec
from engine.safe_files import UnsafeFileError, check_tree, read_bytes, regular_file
from zoo.datasets.base import DatasetError


def to_toml(raw: dict) -> str:
    """A spec dict as TOML: every table inline, so any value can go anywhere."""

    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float) and not math.isfinite(v):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return "{" + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + "}"

    return "".join(f"{json.dumps(k)} = {value(v)}\n" for k, v in raw.items())


def run_cli(argv: list[str]) -> tuple[int, str]:
    """main(argv) with its messages captured unwrapped; argparse errors come back as their exit code."""
    buffer, saved = io.StringIO(), engine.cli.console
    engine.cli.console = Console(file=buffer, width=10_000, soft_wrap=True)
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    finally:
        engine.cli.console = saved
    return code, buffer.getvalue()


@pytest.fixture
def no_training(monkeypatch):
    """Any spec that reaches run_spec fails the test: every refusal must come before it."""

    def refuse(*args, **kwargs):
        raise AssertionError("validation passed and the run started")

    monkeypatch.setattr(engine.run, "run_spec", refuse)


def refused(code: int, text: str, *fragments: str) -> None:
    assert code == 2, text
    assert "Traceback" not in text
    for fragment in fragments:
        assert fragment in text, text


@contextmanager
def deadline(seconds: int = 30):
    """Fail instead of hanging for ever (a FIFO read blocks until a writer comes)."""

    def expire(*_):
        raise TimeoutError(f"still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --- spec name ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../../evil", "a/b", "/abs", "a\\b", "a\x00b", "..", ".", "", "-x", "a..b",
                                  "x" * 65, "é", "a b"])
def test_spec_name_must_be_one_safe_path_component(name):
    with pytest.raises(SpecError) as err:
        build_spec(tiny_spec(name=name))
    assert err.value.path == "name"


def test_spec_name_cannot_lead_the_default_output_out_of_results(tmp_path, monkeypatch, no_training):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.toml").write_text(to_toml(tiny_spec(name="../../escaped")))
    refused(*run_cli(["run", "spec.toml"]), "name:", "letters, digits")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.toml"]
    assert build_spec(tiny_spec(name="ok-name_1.2")).output == "results/ok-name_1.2"


# --- unreadable spec files ----------------------------------------------------------------

SPEC_FILES = {
    "binary": (b"\xff\xfe\x00\x81garbage", "is not UTF-8 text"),
    "nested arrays": (("x = " + "[" * 10_000 + "]" * 10_000).encode(), "nests arrays or tables too deeply"),
    "nested tables": (("x = " + "{a = " * 10_000 + "1" + "}" * 10_000).encode(), "nests arrays or tables too deeply"),
    "nested 40": (("x = " + "[" * 40 + "]" * 40).encode(), "x[0][0]"),
    "empty": (b"", "is empty"),
    "blank": (b"  \n# only a comment\n", "is empty"),
    "huge": (b"# " + b"x" * (1 << 20) + b"\n", "more than the 1048576"),
}


@pytest.mark.parametrize("kind", SPEC_FILES)
def test_unreadable_spec_files_are_refused(tmp_path, no_training, kind):
    data, fragment = SPEC_FILES[kind]
    (tmp_path / "spec.toml").write_bytes(data)
    named = "nested more than 32 levels" if kind == "nested 40" else "spec.toml"
    refused(*run_cli(["run", str(tmp_path / "spec.toml"), "--out", str(tmp_path / "out")]), named, fragment)
    assert not (tmp_path / "out").exists()


def test_a_directory_fifo_or_outside_symlink_is_not_a_spec(tmp_path, no_training):
    out = str(tmp_path / "out")
    refused(*run_cli(["run", str(tmp_path), "--out", out]), "is a directory")
    os.mkfifo(tmp_path / "pipe.toml")
    with deadline():
        refused(*run_cli(["run", str(tmp_path / "pipe.toml"), "--out", out]), "pipe.toml", "FIFO")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "real.toml").write_text(to_toml(tiny_spec()))
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "link.toml").symlink_to(tmp_path / "elsewhere" / "real.toml")
    refused(*run_cli(["run", str(tmp_path / "specs" / "link.toml"), "--out", out]), "link.toml", "outside")
    assert not (tmp_path / "out").exists()


# --- the output directory -----------------------------------------------------------------

@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text(to_toml(tiny_spec()))
    return str(path)


def test_out_that_is_a_file_is_refused(tmp_path, spec_file, no_training):
    (tmp_path / "taken").write_text("mine")
    refused(*run_cli(["run", spec_file, "--out", str(tmp_path / "taken")]), "taken exists and is not a directory")
    refused(*run_cli(["run", spec_file, "--out", str(tmp_path / "taken" / "run")]), "taken is not a directory")
    assert (tmp_path / "taken").read_text() == "mine"


def test_out_that_is_not_writable_is_refused(tmp_path, spec_file, monkeypatch, no_training):
    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if str(path) == str(locked) else real(path, mode, **kw))
    refused(*run_cli(["run", spec_file, "--out", str(locked)]), "locked is not writable")
    refused(*run_cli(["run", spec_file, "--out", str(locked / "run")]), "cannot be created", "is not writable")
    assert list(locked.iterdir()) == []


def test_report_and_compare_out_of_the_wrong_kind_are_refused(tmp_path):
    run = write_engine_run(tmp_path / "run", {"mr": SCORES})
    (tmp_path / "taken").write_text("mine")
    refused(*run_cli(["report", str(run), "--resamples", "0", "--out", str(tmp_path / "taken")]), "taken exists")
    refused(*run_cli(["compare", str(run), str(run), "--resamples", "0", "--out", str(tmp_path)]), "is a directory")
    refused(*run_cli(["compare", str(run), str(run), "--out", str(tmp_path / "taken" / "c.parquet")]),
            "taken exists and is not a directory")
    assert (tmp_path / "taken").read_text() == "mine" and not (run / "report").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_out_is_refused_for_real(tmp_path, spec_file, no_training):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    refused(*run_cli(["run", spec_file, "--out", str(locked / "run")]), "is not writable")


# --- device ------------------------------------------------------------------------------------

def test_cuda_without_a_gpu_is_refused_before_the_run(tmp_path, monkeypatch, no_training):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    (tmp_path / "spec.toml").write_text(to_toml(tiny_spec(executor={"device": "cuda"})))
    refused(*run_cli(["run", str(tmp_path / "spec.toml"), "--out", str(tmp_path / "out")]),
            "executor.device", "no GPU")
    assert not (tmp_path / "out").exists()


# --- run.json ---------------------------------------------------------------------------------

BAD_RUN_JSON = ["[1, 2]", '"a string"', "null", "3", "{}", '{"run_id": 5}', '{"run_id": ["a"]}', '{"run_id": ""}',
                "{not json", "\udcff"]


@pytest.mark.parametrize("content", BAD_RUN_JSON)
def test_run_json_of_the_wrong_shape_is_refused_and_kept(tmp_path, spec_file, no_training, content):
    out = tmp_path / "out"
    out.mkdir()
    data = content.encode("utf-8", "surrogateescape")
    (out / "run.json").write_bytes(data)
    refused(*run_cli(["run", spec_file, "--out", str(out)]), "run.json", "refusing to touch")
    assert (out / "run.json").read_bytes() == data and [p.name for p in out.iterdir()] == ["run.json"]


@pytest.mark.parametrize("content", [*BAD_RUN_JSON, '{"run_id": "r", "spec": []}', '{"run_id": "r", "spec": {"methods": [1]}}',
                                     '{"run_id": "r", "spec": {"dataset": {"name": "[/red]"}}}'])
def test_reports_refuse_run_json_of_the_wrong_shape(tmp_path, content):
    run = write_engine_run(tmp_path / "run", {"mr": SCORES})
    (run / "run.json").write_bytes(content.encode("utf-8", "surrogateescape"))
    refused(*run_cli(["report", str(run), "--resamples", "0"]), "run.json")
    refused(*run_cli(["compare", str(run), str(run), "--resamples", "0"]), "run.json")
    assert not (run / "report").exists()


def test_run_directory_names_are_paths_not_patterns_or_markup(tmp_path):
    first = write_engine_run(tmp_path / "x[/]", {"mr": SCORES})
    second = write_engine_run(tmp_path / "y[1]*", {"mr": SCORES})
    code, text = run_cli(["compare", str(first), str(second), "--resamples", "0"])
    assert code == 0 and "Traceback" not in text
    assert run_cli(["report", str(first), "--resamples", "0"])[0] == 0


# --- report arguments --------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["--resamples", "-5"], ["--resamples", str(10**12)], ["--resamples", "1e3"],
                                  ["--min-count", "-1"], ["--min-count", "0"], ["--min-count", str(10**12)],
                                  ["--min-count", "²"]])
@pytest.mark.parametrize("command", ["report", "compare"])
def test_report_counts_out_of_range_are_argparse_errors(tmp_path, capsys, command, args):
    code, _ = run_cli([command, str(tmp_path), *args])
    assert code == 2
    assert "expected an integer from" in capsys.readouterr().err


# --- corrupt Parquet ----------------------------------------------------------------------------

@pytest.mark.parametrize("damage", ["random", "truncated"])
@pytest.mark.parametrize("table", ["scores", "queries", "models"])
def test_corrupt_parquet_is_named(tmp_path, damage, table):
    run = write_engine_run(tmp_path / "run", {"mr": SCORES})
    target = run / "models.parquet" if table == "models" else sorted((run / table).rglob("*.parquet"))[0]
    data = target.read_bytes()
    target.write_bytes(np.random.default_rng(0).bytes(len(data)) if damage == "random" else data[: len(data) // 2])
    reason = "not a readable Parquet file" if table == "models" else "checksum mismatch"  # shards: their record
    for argv in (["report", str(run), "--resamples", "0"], ["compare", str(run), str(run), "--resamples", "0"]):
        refused(*run_cli(argv), str(target), reason)


def test_parquet_that_fails_past_its_footer_is_still_named(tmp_path, monkeypatch):
    run = write_engine_run(tmp_path / "run", {"mr": SCORES})
    target = sorted((run / "scores").rglob("*.parquet"))[0]
    target.write_bytes(b"junk")
    monkeypatch.setattr("reports.load.check_parquet", lambda path: None)  # as if the footer had read
    refused(*run_cli(["report", str(run), "--resamples", "0"]), str(target), "checksum mismatch")


# --- gzip bombs and oversized data set files -------------------------------------------------------

def idx(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return struct.pack(f">{1 + len(dims)}I", magic, *dims) + payload


def write_fashion(folder, n=(5, 3)):
    for prefix, count in zip(("train", "t10k"), n):
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(idx(0x803, (count, 28, 28), bytes(count * 784)))
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(idx(0x801, (count,), bytes(count)))


def test_gzip_bomb_is_refused_without_inflating_it(tmp_path):
    from zoo.datasets.fashion_mnist import load_fashion_mnist

    write_fashion(tmp_path)
    images = tmp_path / "train-images-idx3-ubyte"
    zeros = gzip.compress(bytes(1 << 20), compresslevel=9)  # 1 MB of zeros in about 1 KB
    images.with_name(images.name + ".gz").write_bytes(
        gzip.compress(idx(0x803, (5, 28, 28), bytes(5 * 784))) + zeros * 96)  # gzip members concatenate
    images.unlink()
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match=r"idx3-ubyte.gz: decompresses to more than the 3936 bytes"):
            load_fashion_mnist(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # the 96 MB it would inflate to were never held


def test_bad_data_set_copy_is_refused_before_the_run(tmp_path, no_training):
    (tmp_path / "fashion").mkdir()
    write_fashion(tmp_path / "fashion")
    (tmp_path / "fashion" / "t10k-labels-idx1-ubyte").write_bytes(idx(0x801, (3,), bytes(3) * 1000))
    spec = tiny_spec(dataset={"name": "fashion_mnist", "root": str(tmp_path / "fashion")})
    (tmp_path / "spec.toml").write_text(to_toml(spec))
    refused(*run_cli(["run", str(tmp_path / "spec.toml"), "--out", str(tmp_path / "out")]),
            "t10k-labels-idx1-ubyte: has more than")
    (tmp_path / "spec.toml").write_text(to_toml(tiny_spec(dataset={"name": "cifar10"})))
    refused(*run_cli(["run", str(tmp_path / "spec.toml"), "--out", str(tmp_path / "out")]), "reads a local copy")
    assert not (tmp_path / "out").exists()


# --- FIFOs and symlinks out of their directory --------------------------------------------------

def test_safe_files_helper(tmp_path):
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "dir" / "ok").write_bytes(b"12345")
    (tmp_path / "outside").write_bytes(b"x")
    (tmp_path / "dir" / "in").symlink_to(tmp_path / "dir" / "ok")
    (tmp_path / "dir" / "out").symlink_to(tmp_path / "outside")
    os.mkfifo(tmp_path / "dir" / "pipe")
    assert regular_file(tmp_path / "dir" / "in") == tmp_path / "dir" / "in"
    assert read_bytes(tmp_path / "dir" / "ok", 5) == b"12345"
    for name, reason in (("out", "outside"), ("pipe", "FIFO"), ("missing", "file not found"), ("sub", "directory")):
        with pytest.raises(UnsafeFileError, match=reason) as err:
            regular_file(tmp_path / "dir" / name)
        assert isinstance(err.value, ValueError) and err.value.path.endswith(name)
    assert regular_file(tmp_path / "dir" / "out", inside=tmp_path)  # inside a wider tree it may point there
    with pytest.raises(UnsafeFileError, match="more than the 4"):
        read_bytes(tmp_path / "dir" / "ok", 4)
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "file").write_bytes(b"")
    (tree / "a" / "link").symlink_to(tree / "a" / "b")
    check_tree(tree)
    (tree / "a" / "b" / "out").symlink_to(tmp_path / "outside")
    with pytest.raises(UnsafeFileError, match="out: is a symlink"):
        check_tree(tree)
    (tree / "a" / "b" / "out").unlink()
    os.mkfifo(tree / "a" / "b" / "pipe")
    with pytest.raises(UnsafeFileError, match="pipe: is a FIFO"):
        check_tree(tree)
    (tree / "a" / "b" / "pipe").unlink()
    (tree / "loop").symlink_to(tree / "loop")
    with pytest.raises(UnsafeFileError, match="loop: cannot be"):
        check_tree(tree)


@pytest.mark.parametrize("where", ["scores/method=mr/0000.parquet", "models.parquet", "failures/x.json"])
def test_fifo_in_a_run_directory_is_refused_not_waited_on(tmp_path, spec_file, no_training, where):
    run = write_engine_run(tmp_path / "run", {"mr": SCORES})
    (run / where).parent.mkdir(parents=True, exist_ok=True)
    (run / where).unlink(missing_ok=True)
    os.mkfifo(run / where)
    with deadline():
        refused(*run_cli(["report", str(run), "--resamples", "0"]), where, "FIFO")
        refused(*run_cli(["compare", str(run), str(run), "--resamples", "0"]), where, "FIFO")
        refused(*run_cli(["run", spec_file, "--out", str(run)]), where, "FIFO")


def test_symlink_out_of_a_run_directory_is_refused(tmp_path):
    run = write_engine_run(tmp_path / "run", {"mr": SCORES})
    shard = sorted((run / "scores").rglob("*.parquet"))[0]
    stolen = tmp_path / "elsewhere.parquet"
    shard.rename(stolen)
    shard.symlink_to(stolen)
    refused(*run_cli(["report", str(run), "--resamples", "0"]), shard.name, "outside")


def test_fifos_and_outside_symlinks_in_data_set_copies_are_refused(tmp_path):
    from zoo.datasets.cifar import CIFAR10_MD5, load_cifar10
    from zoo.datasets.fashion_mnist import load_fashion_mnist
    from zoo.datasets.tiny_imagenet import load_tiny_imagenet

    fashion = tmp_path / "fashion"
    fashion.mkdir()
    write_fashion(fashion)
    (fashion / "t10k-images-idx3-ubyte").unlink()
    os.mkfifo(fashion / "t10k-images-idx3-ubyte")
    cifar = tmp_path / "cifar"
    cifar.mkdir()
    for name in CIFAR10_MD5:
        (cifar / name).write_bytes(b"x")
    (cifar / "data_batch_1").unlink()
    (cifar / "data_batch_1").symlink_to(tmp_path / "fashion" / "train-labels-idx1-ubyte")
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    os.mkfifo(tiny / "wnids.txt")
    with deadline():
        with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte: is a FIFO"):
            load_fashion_mnist(fashion)
        for verify in (True, False):
            with pytest.raises(DatasetError, match="data_batch_1: is a symlink to .*, outside"):
                load_cifar10(cifar, verify_md5=verify)
        with pytest.raises(DatasetError, match="wnids.txt: is a FIFO"):
            load_tiny_imagenet(tiny)
