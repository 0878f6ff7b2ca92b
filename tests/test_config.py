"""Spec validation: a bad field is refused with its path and allowed values, nothing written."""
import copy

import pytest
from conftest import tiny_spec

from engine.cli import main
from engine.config import SpecError, build_spec, list_presets, load_spec


def broken(path, value):
    raw = tiny_spec()
    node = raw
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if key.isdigit() else node[key]
    last = keys[-1]
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return raw


@pytest.mark.parametrize(
    "path, value, where, fragment",
    [
        ("dataset.name", "mnist", "dataset.name", "allowed: cifar10, cifar100, digits"),
        ("source.arch", "alexnet", "source.arch", "allowed: cnn, densenet121, mlp"),
        ("source.epochs", "many", "source.epochs", "must be int"),
        ("source.epoch", 3, "source.epoch", "unknown field; allowed:"),
        ("attacks.list.0", "finetune(mode=all)", "attacks.list[0]", "allowed: ftll, ftal, rtll, rtal"),
        ("attacks.list.1", "steal()", "attacks.list[1]", "unknown step 'steal'"),
        ("negatives.archs", ["cnn", "lenet"], "negatives.archs[1]", "'lenet' is not allowed"),
        ("negatives.seeds", [1, "two"], "negatives.seeds[1]", "expected an integer seed"),
        ("methods.0.name", "ipgard", "methods[0].name", "ipguard"),
        ("methods.0.params", {"n": 10, "kk": 1}, "methods[0].params.kk", "no parameter 'kk'"),
        ("executor.kind", "slurm", "executor.kind", "allowed: local, ray"),
        ("executor.workers", -1, "executor.workers", "must be between 0 and"),
        ("executor.pack", -1, "executor.pack", "must be between 0 and"),
        # typed values only: a text value never becomes syntax of a model's id
        ("source.lr", "0.001)->noise(level=5.0", "source.lr", "a value is one word"),
        ("source.opt", "adam)->noise(level=5.0", "source.opt", "a value is one word"),
        # training hyper-parameters have one rule in every step
        ("source.epochs", 0, "source.epochs", "train(epochs=0) must be >= 1"),
        ("attacks.list.0", "finetune(epochs=-5)", "attacks.list[0]", "finetune(epochs=-5) must be >= 1"),
        ("attacks.list.0", "finetune(lr=-1)", "attacks.list[0]", "finetune(lr=-1.0) must be > 0"),
        ("attacks.list.0", "finetune(batch=0)", "attacks.list[0]", "finetune(batch=0) must be >= 1"),
        ("attacks.list.0", "transfer(task=parity,epochs=-2)", "attacks.list[0]", "transfer(epochs=-2) must be >= 1"),
        ("attacks.list.0", "distill(arch=mlp,temp=0)", "attacks.list[0]", "distill(temp=0.0) must be > 0"),
        ("seed", "zero", "seed", "expected an integer, got str 'zero'"),
        ("source.replicates", 0, "source.replicates", "from 1 to 64"),
        ("source.replicates", [3, 3], "source.replicates", "distinct seeds"),
        ("source.replicates", "two", "source.replicates", "expected an integer or a list"),
        ("methods", [], "methods", "at least one method"),
    ],
)
def test_bad_fields_are_named(path, value, where, fragment):
    with pytest.raises(SpecError) as err:
        build_spec(broken(path, value))
    assert err.value.path == where
    assert fragment in str(err.value)


def test_presets_load_and_user_fields_override_them():
    assert {"default", "quick"} <= set(list_presets())
    spec = build_spec({"preset": "quick", "source": {"arch": "mlp"}, "name": "mine"})
    assert spec.source_id.startswith("train(mlp,digits,") and spec.name == "mine"
    assert len(spec.attacks) == len(load_spec("quick").attacks)


def test_cli_refuses_a_malformed_spec_and_writes_nothing(tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text('[dataset]\nname = "digits"\n[[methods]]\nname = "ipguard"\nparams = { n = "many" }\n')
    out = tmp_path / "run"
    assert main(["run", str(spec), "--out", str(out)]) == 2
    assert "methods[0].params" in capsys.readouterr().err
    assert not out.exists()


def test_cli_refuses_invalid_toml(tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text("name = \n")
    assert main(["run", str(spec), "--out", str(tmp_path / "run")]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_same_spec_same_run_id_and_ids():
    from engine.plan import build_plan

    a, b = build_plan(build_spec(tiny_spec())), build_plan(build_spec(copy.deepcopy(tiny_spec())))
    assert a.run_id == b.run_id and list(a.nodes) == list(b.nodes)
    c = build_plan(build_spec(tiny_spec(seed=1)))
    assert c.run_id != a.run_id
