"""Property: any one hostile field in a valid spec is exit code 2 naming that field, before a run.

A valid tiny spec (every section and executor option filled in) gets one field
anywhere in its tree replaced by a hostile value (wrong type, negative, zero, huge,
NaN/inf, path-like or injection text, nested junk, empty containers) or one unknown
key added to one of its tables. The spec is written as TOML and run through
`fpbench run` with `run_spec` patched out, so nothing trains. A spec that still
validates is skipped, except where no field may accept the value: NaN/inf, control
characters, over-long text, a changed type, an unknown key. Range checks of method
parameters belong to the methods, so a hostile in-range-typed method parameter that
passes today is skipped rather than failed.
"""
from __future__ import annotations

import copy
import re
import tempfile
from pathlib import Path
from unittest import mock

from conftest import tiny_spec
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from test_hostile_inputs import run_cli, to_toml

import engine.run
from engine.config import build_spec


def base_spec() -> dict:
    raw = tiny_spec(output="results/tiny")
    raw["source"].update(lr=0.01, batch=64, opt="adam", wd=0.0)
    raw["negatives"].update(mirror=False, derived=["prune(rate=0.5)"])
    raw["methods"][0]["label"] = "ipg"
    raw["executor"].update(kind="local", workers=1, pack=1, actors_per_gpu=1, recycle_after=25, max_attempts=2,
                           job_timeout_s=60.0, address="")
    return raw


def slots(node, path=(), shown="") -> list[tuple[tuple, str]]:
    """(key path, dotted path as errors print it) of every value in the tree."""
    if isinstance(node, dict):
        items = [(k, f"{shown}.{k}" if shown else k) for k in node]
    elif isinstance(node, list):
        items = [(i, f"{shown}[{i}]") for i in range(len(node))]
    else:
        return []
    out = []
    for key, name in items:
        out.append(((*path, key), name))
        out += slots(node[key], (*path, key), name)
    return out


def tables(node, path=(), shown="") -> list[tuple[tuple, str]]:
    """Every table (dict) of the tree, the root included."""
    return [(p, s) for p, s in [(path, shown), *slots(node, path, shown)] if isinstance(get(node, p[len(path):]), dict)]


def get(node, path):
    for key in path:
        node = node[key]
    return node


BASE = base_spec()
SLOTS = slots(BASE)
TABLES = tables(BASE)

TEXT = [
    "", " ", ".", "..", "../../etc/passwd", "/etc/passwd", "a/b", "a\\b", "C:\\Windows", "~root", "a\x00b", "tab\there",
    "line\nbreak", "\x7f", "0.001)->noise(level=5.0", "adam)->noise(level=5.0", "ftal)->prune(rate=0.9",
    "finetune(mode=ftal)->steal()", "prune(rate=2.0)", "finetune(epochs=-5)", "train(cnn,digits)", "->", "(", ")",
    "x" * 5000, "[/]", "[bold]x[/bold]", "$(rm -rf ~)", "`id`", "'; DROP TABLE runs; --", "%s%n", "{0}", "é",
    "\u202eevil", "😀", "nan", "inf", "-1", "None", "null", "true", "{}", "[]", "cuda:0", "auto ", "LOCAL",
]
NUMBERS = [-1, 0, -(10**12), 10**12, 2**63 - 1, -(2**63), float("nan"), float("inf"), float("-inf"), -0.5, 0.0,
           1e308, -1e308, 5e-324, 3.5, True, False]
KEYS = ["bogus", "nme", "Name", "name ", "", "a.b", "../x", "[/]", "__class__", "epochs_", "label2", "é"]

scalars = st.one_of(
    st.sampled_from(TEXT),
    st.sampled_from(NUMBERS),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
)
junk = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=3),
    max_leaves=6,
)
hostile = st.one_of(scalars, junk, st.sampled_from([[], {}, [[]], [{}], {"": {}}, [1, "a", [2.5]]]))


def kind(value) -> str:
    return "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__


def must_refuse(original, value) -> bool:
    """Values no field accepts, whatever the validation of numbers in range."""
    if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
        return True
    if isinstance(value, str) and (len(value) > 4096 or re.search(r"[\x00-\x1f\x7f-\x9f]", value)):
        return True
    return kind(value) != kind(original) and not (isinstance(original, list) and isinstance(value, dict))


@st.composite
def mutations(draw):
    """(spec, dotted path of the offending field, whether it must be refused)."""
    raw = copy.deepcopy(BASE)
    if draw(st.integers(0, 4)) == 0:  # one unknown key in one table
        path, shown = draw(st.sampled_from(TABLES))
        table = get(raw, path)
        key = draw(st.sampled_from([k for k in KEYS if k not in table]))
        table[key] = draw(hostile)
        return raw, f"{shown}.{key}" if shown else key, True
    path, shown = draw(st.sampled_from(SLOTS))
    parent, original = get(raw, path[:-1]), get(raw, path)
    value = draw(hostile)
    parent[path[-1]] = value
    return raw, shown, must_refuse(original, value) and "negatives.seeds" != shown


def test_base_spec_is_valid():
    build_spec(base_spec())


class Validated(Exception):
    """run_spec was reached: the spec passed every check."""


def _reached(*args, **kwargs):
    raise Validated


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(mutations())
@example(mutation=(dict(BASE, negatives={**BASE["negatives"], "seeds": {}}), "negatives.seeds", False))
@example(mutation=(dict(BASE, name="../../outside"), "name", True))
@example(mutation=(dict(BASE, source={**BASE["source"], "lr": "0.001)->noise(level=5.0"}), "source.lr", True))
@example(mutation=(dict(BASE, methods=[{"name": "ipguard", "params": {"n": "many"}}]), "methods[0].params.n", True))
@example(mutation=(dict(BASE, executor={**BASE["executor"], "job_timeout_s": float("nan")}), "executor.job_timeout_s",
                   True))
def test_one_hostile_field_is_refused_by_name(mutation):
    raw, field, refuse = mutation
    with tempfile.TemporaryDirectory() as tmp, mock.patch.object(engine.run, "run_spec", _reached):
        spec, out = Path(tmp) / "spec.toml", Path(tmp) / "out"
        spec.write_text(to_toml(raw), encoding="utf-8")
        try:
            code, text = run_cli(["run", str(spec), "--out", str(out)])
        except Validated:
            assert not refuse, f"{field} = {get_value(raw, field)!r} was accepted"
            assume(False)
        assert code == 2, text
        assert "Traceback" not in text
        assert field in text, f"{field} not named in: {text}"
        assert not out.exists()


def get_value(raw, field):
    for path, shown in slots(raw):
        if shown == field:
            return get(raw, path)
    return None
