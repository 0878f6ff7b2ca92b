"""Run specs: TOML in, a validated frozen `RunSpec` out, or an error that names the field.

A spec may start from a bundled preset (`preset = "quick"`, a TOML file in
`zoo/presets/`) and override any field. Everything is checked before anything is
written: unknown fields, wrong types, unknown names (with the allowed values) and
derivation strings that do not parse.
"""
from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.spec import Derivation, DerivationError, Step, canonical

PRESET_DIR = Path(__file__).resolve().parent.parent / "zoo" / "presets"
TRAIN_KEYS = ("epochs", "lr", "batch", "opt", "wd")


class SpecError(ValueError):
    """A spec problem; `path` is the dotted field path, e.g. `methods[0].name`."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


@dataclass(frozen=True)
class MethodSpec:
    name: str
    params: dict[str, Any]
    label: str  # the `method` column: unique per run, so one method can run with two settings


@dataclass(frozen=True)
class RunSpec:
    name: str
    seed: int
    output: str
    dataset: str
    dataset_root: str | None
    source_id: str
    attacks: tuple[tuple[Step, ...], ...]
    independent: tuple[tuple[str, int], ...]  # (arch, seed) of every independent negative
    negative_derived: tuple[tuple[Step, ...], ...]  # attacks applied to every independent model
    mirror: bool
    train_overrides: dict[str, Any]
    methods: tuple[MethodSpec, ...]
    executor: str
    device: str
    executor_options: dict[str, Any]  # address, workers, pack, actors_per_gpu, recycle_after, max_attempts, job_timeout_s
    resolved: dict[str, Any]  # the merged TOML, for provenance

    def independent_root(self, arch: str, seed: int) -> str:
        return root_id(arch, self.dataset, "independent", seed, self.train_overrides)


SCHEMA: dict[str, dict[str, type | tuple[type, ...]]] = {
    "": {"name": str, "seed": int, "output": str, "preset": str, "dataset": dict, "source": dict,
         "attacks": dict, "negatives": dict, "methods": list, "executor": dict},
    "dataset": {"name": str, "root": str},
    "source": {"arch": str, **{k: (int, float, str) for k in TRAIN_KEYS}},
    "attacks": {"list": list},
    "negatives": {"archs": list, "seeds": (list, dict), "mirror": bool, "derived": list},
    "executor": {"kind": str, "device": str, "address": str, "workers": int, "pack": int, "actors_per_gpu": int,
                 "recycle_after": int, "max_attempts": int, "job_timeout_s": (int, float)},
}


def root_id(arch: str, dataset: str, split: str, seed: int, overrides: dict[str, Any]) -> str:
    """The id of a model trained from scratch, built from typed values: a spec's text can
    never become part of the derivation's syntax (e.g. lr = "0.001)->noise(level=5.0")."""
    params = {"arch": arch, "dataset": dataset, "split": split, "seed": seed, **overrides}
    return str(canonical(Derivation((Step.of("train", params),))))


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _check_table(table: dict, section: str) -> None:
    allowed = SCHEMA[section]
    for key, value in table.items():
        path = f"{section}.{key}" if section else key
        if key not in allowed:
            raise SpecError(path, f"unknown field; allowed: {', '.join(sorted(allowed))}")
        if isinstance(value, bool) and allowed[key] is not bool:
            raise SpecError(path, f"expected {allowed[key]}, got a boolean")
        if not isinstance(value, allowed[key]):
            want = allowed[key].__name__ if isinstance(allowed[key], type) else "a number or string"
            raise SpecError(path, f"expected {want}, got {type(value).__name__} {value!r}")
        if isinstance(value, dict) and key in SCHEMA:
            _check_table(value, key)


def _choice(path: str, value: str, allowed: list[str]) -> str:
    if value not in allowed:
        raise SpecError(path, f"{value!r} is not allowed; allowed: {', '.join(allowed)}")
    return value


def load_toml(source: str | Path) -> dict:
    """Read a spec file, or a bundled preset when `source` names one."""
    path = Path(source)
    if not path.exists() and str(source) in list_presets():
        path = PRESET_DIR / f"{source}.toml"
    if not path.exists():
        raise SpecError("", f"no spec file {str(source)!r} (bundled specs: {', '.join(list_presets())})")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise SpecError("", f"{path} is not valid TOML: {err}") from None


def resolve(raw: dict, seen: tuple[str, ...] = ()) -> dict:
    """Merge a spec over its preset (which may itself name a preset)."""
    _check_table(raw, "")
    if "preset" not in raw:
        return raw
    preset = _choice("preset", raw["preset"], list_presets())
    if preset in seen:
        raise SpecError("preset", f"presets form a cycle: {' -> '.join((*seen, preset))}")
    base = resolve(tomllib.loads((PRESET_DIR / f"{preset}.toml").read_text()), (*seen, preset))
    merged = _merge(base, {k: v for k, v in raw.items() if k != "preset"})
    _check_table(merged, "")
    return merged


def _seed_list(path: str, seeds) -> list[int]:
    if not isinstance(seeds, list):
        raise SpecError(path, f"expected a list of integer seeds, got {seeds!r}")
    for i, seed in enumerate(seeds):
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise SpecError(f"{path}[{i}]", f"expected an integer seed, got {seed!r}")
    return seeds


def _independent_models(negatives: dict, archs: list[str]) -> tuple[tuple[str, int], ...]:
    """`seeds` is a list for every arch in `archs`, or a table of seed lists per arch."""
    seeds = negatives.get("seeds", [1])
    if isinstance(seeds, dict):
        if "archs" in negatives:
            raise SpecError("negatives.archs", "give either archs with a seed list, or a seeds table per arch")
        return tuple(
            (_choice(f"negatives.seeds.{arch}", arch, archs), seed)
            for arch, per_arch in seeds.items()
            for seed in _seed_list(f"negatives.seeds.{arch}", per_arch)
        )
    chosen = [_choice(f"negatives.archs[{i}]", a, archs) for i, a in enumerate(negatives.get("archs", []))]
    return tuple((arch, seed) for arch in chosen for seed in _seed_list("negatives.seeds", seeds))


EXECUTOR_DEFAULTS = {"address": "", "workers": 0, "pack": 0, "actors_per_gpu": 1, "recycle_after": 25,
                     "max_attempts": 2, "job_timeout_s": 3600.0}


def _executor_options(table: dict) -> dict[str, Any]:
    options = {**EXECUTOR_DEFAULTS, **{k: v for k, v in table.items() if k in EXECUTOR_DEFAULTS}}
    for key in ("workers", "pack", "actors_per_gpu", "recycle_after", "max_attempts", "job_timeout_s"):
        low = 0 if key in ("workers", "pack") else 1
        if options[key] < low:
            raise SpecError(f"executor.{key}", f"must be >= {low}, got {options[key]!r}")
    return options


def _suffixes(texts: list, path: str, root_id: str) -> tuple[tuple[Step, ...], ...]:
    """Attack chains written as derivation suffixes, checked against a root model."""
    out = []
    for i, text in enumerate(texts):
        where = f"{path}[{i}]"
        if not isinstance(text, str):
            raise SpecError(where, f"expected a derivation string such as 'finetune(mode=ftal)', got {text!r}")
        try:
            steps = canonical(f"{root_id}->{text}").steps[1:]
        except DerivationError as err:
            raise SpecError(where, str(err)) from None
        if any(step.name == "transfer" for step in steps[:-1]):
            raise SpecError(where, "transfer changes the label set, so it must be the last step")
        out.append(steps)
    return tuple(out)


def build_spec(raw: dict) -> RunSpec:
    from methods import get_method, list_methods
    from methods.base import MethodParamError
    from zoo.archs import list_archs
    from zoo.datasets import list_datasets

    merged = resolve(raw)
    dataset_table = merged.get("dataset", {})
    dataset = _choice("dataset.name", dataset_table.get("name", "digits"), list_datasets())
    source = merged.get("source", {})
    arch = _choice("source.arch", source.get("arch", "cnn"), list_archs())
    overrides = {k: source[k] for k in TRAIN_KEYS if k in source}
    seed = merged.get("seed", 0)
    try:
        source_id = root_id(arch, dataset, "defender", seed, overrides)
    except DerivationError as err:
        raise SpecError("source", str(err)) from None

    attacks = _suffixes(merged.get("attacks", {}).get("list", []), "attacks.list", source_id)
    negatives = merged.get("negatives", {})
    independent = _independent_models(negatives, list_archs())
    derived = _suffixes(negatives.get("derived", []), "negatives.derived", source_id)

    methods = []
    for i, entry in enumerate(merged.get("methods", [])):
        path = f"methods[{i}]"
        if not isinstance(entry, dict):
            raise SpecError(path, "expected a table like {name = \"ipguard\"}")
        unknown = sorted(set(entry) - {"name", "params", "label"})
        if unknown:
            raise SpecError(f"{path}.{unknown[0]}", "unknown field; allowed: label, name, params")
        name = _choice(f"{path}.name", entry.get("name", ""), list_methods())
        params = entry.get("params", {})
        try:
            get_method(name)(**params)
        except MethodParamError as err:
            raise SpecError(f"{path}.params", str(err)) from None
        label = entry.get("label", name)
        if not isinstance(label, str) or not label.replace("-", "_").isidentifier():
            raise SpecError(f"{path}.label", f"expected a short name of letters, digits, '-' or '_', got {label!r}")
        if label in {m.label for m in methods}:
            raise SpecError(f"{path}.label", f"{label!r} is used twice; give each entry its own label")
        methods.append(MethodSpec(name, dict(params), label))
    if not methods:
        raise SpecError("methods", f"at least one method is needed; allowed: {', '.join(list_methods())}")

    executor = merged.get("executor", {})
    name = merged.get("name", "run")
    return RunSpec(
        name=name,
        seed=seed,
        output=merged.get("output", f"results/{name}"),
        dataset=dataset,
        dataset_root=dataset_table.get("root") or None,
        source_id=source_id,
        attacks=tuple(attacks),
        independent=independent,
        negative_derived=derived,
        mirror=bool(negatives.get("mirror", False)),
        train_overrides=overrides,
        methods=tuple(methods),
        executor=_choice("executor.kind", executor.get("kind", "local"), ["local", "ray"]),
        device=_choice("executor.device", executor.get("device", "auto"), ["auto", "cpu", "cuda"]),
        executor_options=_executor_options(executor),
        resolved=json.loads(json.dumps(merged)),
    )


def load_spec(source: str | Path) -> RunSpec:
    return build_spec(load_toml(source))
