"""Plugins: entries from entry points are listed with their distribution, checked like the
built-in ones, usable in a run, and a broken one is reported without hiding the others.

examples/plugin is registered through a patched `importlib.metadata.entry_points`, so
nothing is installed; the last test runs it through the real entry points when the
distribution is installed (CI installs it).
"""
from __future__ import annotations

import contextlib
import importlib.metadata
import io
import json
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest

from engine.cli import main
from methods import METHODS, get_method
from zoo.archs import ARCHS
from zoo.datasets import DATASETS
from zoo.registry import BrokenEntry
from zoo.spec import DerivationError, canonical
from zoo.steps import STEPS, get_step, list_attacks
from zoo.train import Train

PLUGIN_DIR = Path(__file__).resolve().parents[1] / "examples" / "plugin"
EXAMPLE = {
    "fpbench.methods": [("mistakes", "fpbench_example.method:SharedMistakes")],
    "fpbench.attacks": [("quantize", "fpbench_example.attack:Quantize")],
}
REGISTRIES = (METHODS, STEPS, ARCHS, DATASETS)


def entry_point(group: str, name: str, value: str, dist: str = "fpbench-example"):
    return SimpleNamespace(name=name, value=value, group=group, dist=SimpleNamespace(name=dist))


@pytest.fixture
def plugins(monkeypatch):
    """Install entry points: `plugins({group: [(name, value[, dist]), ...]})`; undone after the test."""
    real = importlib.metadata.entry_points
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))

    def install(groups):
        def entry_points(**selection):
            if selection.get("group") not in groups:
                return real(**selection)
            return [entry_point(selection["group"], *spec) for spec in groups[selection["group"]]]

        monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
        for registry in REGISTRIES:
            registry.forget_plugins()

    yield install
    monkeypatch.undo()
    for registry in REGISTRIES:
        registry.forget_plugins()


def run_cli(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    return out.getvalue()


def test_plugin_entries_are_listed_with_their_distribution(plugins):
    plugins(EXAMPLE)
    listed = json.loads(run_cli(["list", "--json"]))
    origins = {what: {row["name"]: row["origin"] for row in listed[what]} for what in ("methods", "attacks")}
    assert origins["methods"]["mistakes"] == "fpbench-example" and origins["methods"]["ipguard"] == "builtin"
    assert origins["attacks"]["quantize"] == "fpbench-example" and origins["attacks"]["prune"] == "builtin"
    assert listed["broken"] == []
    text = run_cli(["list", "methods"])
    assert {"mistakes", "(from", "fpbench-example)"} <= set(text.split())


def test_broken_plugins_are_reported_and_the_others_still_work(plugins):
    plugins({
        "fpbench.methods": [
            ("mistakes", "fpbench_example.method:SharedMistakes"),
            ("ghost", "fpbench_example.no_such_module:Ghost", "ghost-dist"),  # import error
            ("wrongbase", "fpbench_example.attack:Quantize", "odd-dist"),  # a step kind, not a Method
            ("ipguard", "fpbench_example.method:SharedMistakes", "clash-dist"),  # a builtin's name
        ],
        "fpbench.attacks": [
            ("quantize", "fpbench_example.attack:Quantize"),
            ("twice", "fpbench_example.attack:Quantize", "one-dist"),
            ("twice", "fpbench_example.attack:Quantize", "two-dist"),
        ],
    })
    listed = json.loads(run_cli(["list", "--json"]))
    assert {"mistakes", "ipguard", "cae"} <= {row["name"] for row in listed["methods"]}
    assert {"ghost", "wrongbase"}.isdisjoint(row["name"] for row in listed["methods"])
    assert {row["name"] for row in listed["attacks"]} == set(list_attacks()) - {"twice"}
    broken = {(p["registry"], p["name"], p["origin"]): p["error"] for p in listed["broken"]}
    assert "ModuleNotFoundError" in broken["methods", "ghost", "ghost-dist"]
    assert "not a subclass of methods.base:Method" in broken["methods", "wrongbase", "odd-dist"]
    assert "clashes with the builtin method 'ipguard'" in broken["methods", "ipguard", "clash-dist"]
    assert "several distributions: one-dist, two-dist" in broken["attacks", "twice", "one-dist"]
    assert ("attacks", "twice", "two-dist") in broken
    assert get_method("ipguard").__module__ == "methods.ipguard"  # the builtin keeps its name
    with pytest.raises(BrokenEntry, match="method 'ghost' \\(ghost-dist\\) cannot be used: ModuleNotFoundError"):
        get_method("ghost")
    from engine.config import SpecError, build_spec

    with pytest.raises(SpecError) as err:  # a spec naming it gets a spec error, not a traceback
        build_spec({"methods": [{"name": "ghost"}]})
    assert err.value.path == "methods[0].name" and "ghost" in str(err.value)
    with pytest.raises(DerivationError, match="unknown step 'twice'"):
        canonical("train(cnn,digits)->twice()")
    text = run_cli(["list"])
    assert "broken plugins" in text and "ghost-dist" in text


def test_the_example_plugin_passes_the_registry_contracts(plugins, digits):
    from methods.testing import check_method
    from zoo.testing import check_attack

    plugins(EXAMPLE)
    check_method("mistakes", digits)
    check_attack("quantize", digits)
    assert get_method("mistakes").name == "mistakes" and get_step("quantize").name == "quantize"


class Retrain(Train):
    """A root step offered as an attack."""


def test_a_plugin_attack_must_not_be_a_root_step(plugins):
    plugins({"fpbench.attacks": [("retrain", "test_plugins:Retrain", "odd-dist")]})
    with pytest.raises(DerivationError, match="must not be a root step"):
        get_step("retrain")


def plugin_spec(workers: int) -> dict:
    """The example's own spec, on the CPU with `workers` processes."""
    from engine.config import load_toml

    raw = load_toml(PLUGIN_DIR / "spec.toml")
    raw["executor"] = {"device": "cpu", "workers": workers}
    return raw


def check_plugin_run(out: Path) -> None:
    """Every suspect is scored, and the plugin method tells the plugin attack's copies from negatives."""
    from reports.load import load_run

    tables = load_run(out)
    scores = tables.scores.collect().join(tables.models.collect(), on="model_id")
    assert scores.height == 1 + 3 + 4 and set(scores["method"]) == {"mistakes"}
    copies = scores.filter(pl.col("role").is_in(["source", "positive"]))["score"]
    negatives = scores.filter(pl.col("role") == "negative")["score"]
    assert copies.min() > negatives.max(), scores.select("model_id", "role", "score")
    quantized = scores.filter(pl.col("model_id").str.ends_with("->quantize(4)"))["score"]
    assert quantized.to_list() and quantized[0] > 0.8


@pytest.mark.slow
def test_a_spec_runs_the_plugin_method_and_attack_end_to_end(plugins, tmp_path):
    from engine.config import build_spec
    from engine.run import run_spec

    plugins(EXAMPLE)
    spec = build_spec(plugin_spec(workers=1))  # patched entry points live in this process only
    run_spec(spec, out=tmp_path / "run", show_progress=False)
    check_plugin_run(tmp_path / "run")


def installed() -> bool:
    try:
        importlib.metadata.distribution("fpbench-example")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not installed(), reason="pip install -e examples/plugin to run the plugin through its entry points")
def test_the_installed_plugin_runs_through_its_entry_points(tmp_path):
    """Two worker processes find the plugin on their own, as a cluster's workers would."""
    from engine.config import build_spec
    from engine.run import run_spec

    for registry in REGISTRIES:
        registry.forget_plugins()
    assert METHODS.origin("mistakes") == "fpbench-example" and STEPS.origin("quantize") == "fpbench-example"
    run_spec(build_spec(plugin_spec(workers=2)), out=tmp_path / "run", show_progress=False)
    check_plugin_run(tmp_path / "run")
