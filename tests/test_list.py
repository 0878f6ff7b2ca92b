"""`fpbench list`: JSON that names every registered entry and where it comes from; tables that never cut a word."""
from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from engine.listing import _params
from methods import METHODS, get_method, list_methods
from zoo.archs import ARCHS
from zoo.datasets import DATASETS
from zoo.steps import STEPS, get_step, list_attacks

ROOT = Path(__file__).resolve().parents[1]


def run_cli(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    return out.getvalue()


def test_list_json_names_every_registered_method_and_attack():
    listed = json.loads(run_cli(["list", "--json"]))
    assert set(listed) == {"methods", "attacks", "archs", "datasets", "presets", "broken"}
    assert [m["name"] for m in listed["methods"]] == list_methods() and listed["broken"] == []
    assert [a["name"] for a in listed["attacks"]] == list_attacks() and listed["attacks"]
    for entry in listed["methods"]:
        cls = get_method(entry["name"])
        assert entry["access"] == cls.access and entry["summary"] == cls.summary
        assert entry["defaults"] == json.loads(json.dumps(cls.defaults))
    for entry in listed["attacks"]:
        kind = get_step(entry["name"])
        assert entry["required"] == list(kind.required) and entry["summary"] == kind.summary
    assert json.loads(run_cli(["list", "methods", "--json"])) == {"methods": listed["methods"], "broken": []}


def test_every_entry_says_where_it_comes_from():
    listed = json.loads(run_cli(["list", "--json"]))
    for what, registry in (("methods", METHODS), ("attacks", STEPS), ("archs", ARCHS), ("datasets", DATASETS)):
        assert listed[what], what
        for entry in listed[what]:
            assert entry["origin"] == registry.origin(entry["name"]), (what, entry)
    assert {e["name"] for e in listed["methods"] if e["origin"] == "builtin"} == set(METHODS.builtins())
    assert {"cnn", "resnet18"} <= {e["name"] for e in listed["archs"] if e["origin"] == "builtin"}
    assert all(set(entry) == {"name"} for entry in listed["presets"])


def test_listing_methods_and_attacks_imports_no_torch():
    code = ("import sys\nfrom methods import list_methods\nfrom zoo.steps import list_attacks\n"
            "assert list_methods() and list_attacks()\nassert 'torch' not in sys.modules\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("what", ["methods", "attacks"])
def test_piped_tables_fit_80_columns_and_cut_no_word(what, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    text = run_cli(["list", what])
    assert max(len(line) for line in text.splitlines()) <= 80
    tokens = set(text.split())
    rows = json.loads(run_cli(["list", what, "--json"]))[what]
    for row in rows:
        words = row["summary"].split() + _params(tuple(row.get("required", ())), row["defaults"]).split()
        cut = [word for word in words if word not in tokens]
        assert not cut, f"{row['name']}: split across lines: {cut}"
        assert re.search(rf"^{re.escape(row['name'])} ", text, re.MULTILINE)
