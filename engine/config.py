"""Run specs: TOML in, a validated frozen `RunSpec` out, or an error that names the field.

A spec may start from a bundled preset (`preset = "quick"`, a TOML file in
`zoo/presets/`) and override any field. Everything is checked before anything is
written: unknown fields, wrong types, unknown names (with the allowed values) and
derivation strings that do not parse.
"""
from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.safe_files import UnsafeFileError, read_bytes
from engine.spec_errors import SpecError
from engine.spec_errors import choice as _choice
from engine.spec_files import external_suspects, model_file_sha256, pools, weights_id
from zoo.spec import Derivation, DerivationError, Step, canonical
from zoo.registry import UnknownName
from zoo.steps import REPLICATE

PRESET_DIR = Path(__file__).resolve().parent.parent / "zoo" / "presets"
TRAIN_KEYS = ("epochs", "lr", "batch", "opt", "wd", "sched", "warmup", "smooth", "aug")  # zoo.recipes.Recipe
# Upper bounds: beyond these a value is a typo (10**12 epochs), not an experiment.
TRAIN_MAX = {"epochs": 10_000, "batch": 1 << 20, "lr": 10.0, "wd": 10.0}
MAX_SPEC_BYTES = 1 << 20  # a spec is a page of TOML; anything bigger is not one
MAX_DEPTH = 32  # specs nest a few levels; deeper nesting only exhausts the parser's stack
MAX_TEXT = 4096
MAX_SEED = 2**63 - 1  # TOML's largest integer
# `name` becomes the default output directory results/<name>: one safe path component.
NAME_RULE = "letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64 characters, no '..'"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_LABEL = re.compile(r"[A-Za-z_-][A-Za-z0-9_-]{0,63}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1 control characters
# executor.address: '', 'auto', 'local', or [ray://]HOST:PORT (HOST may be [IPv6]).
_ADDRESS = re.compile(r"(|auto|local|(ray://)?([A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5})")
ADDRESS_RULE = "'auto', or HOST:PORT such as 10.0.0.1:6379 (ray://HOST:PORT for Ray Client)"


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
    source_id: str  # the first replicate's source
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
    source_ids: tuple[str, ...] = ()  # one source per replicate (source_id first); () means (source_id,)
    pools: dict[str, str] = field(default_factory=dict)  # other data sets' local copies (knockoff queries)
    files: dict[str, str] = field(default_factory=dict)  # sha256 -> path of model files ([source] file, [[suspects]])
    external: tuple[tuple[str, str], ...] = ()  # (model id, role) of every [[suspects]] entry

    @property
    def sources(self) -> tuple[str, ...]:
        """The replicates' sources: replicate k's whole zoo descends from sources[k] and from roots tagged rep=k."""
        return self.source_ids or (self.source_id,)

    def independent_root(self, arch: str, seed: int, replicate: int = 0) -> str:
        return str(self.independent_derivation(arch, seed, replicate))

    def independent_derivation(self, arch: str, seed: int, replicate: int = 0) -> Derivation:
        """The canonical root of an independent negative, parsed once (plans hold 10^5 of them)."""
        return root_derivation(arch, self.dataset, "independent", seed, self.train_overrides, replicate)

    def mirror_root(self, replicate: int = 0) -> str:
        """The source's recipe and seed on the independent split, trained: the root of the mirror
        negatives (for a source from a file, the recipe its `weights` root records)."""
        from zoo.train import retrain_params

        params = {**retrain_params(self.sources[replicate]), "split": "independent"}
        return str(canonical(Derivation((Step.of("train", params),))))


SCHEMA: dict[str, dict[str, type | tuple[type, ...]]] = {
    "": {"name": str, "seed": int, "output": str, "preset": str, "dataset": dict, "source": dict, "suspects": list,
         "attacks": dict, "negatives": dict, "methods": list, "executor": dict},
    "dataset": {"name": str, "root": str, "pools": dict},
    "source": {"arch": str, "file": str, "replicates": (int, list), **{k: (int, float, str) for k in TRAIN_KEYS}},
    "attacks": {"list": list},
    "negatives": {"archs": list, "seeds": (list, dict), "mirror": bool, "derived": list},
    "executor": {"kind": str, "device": str, "address": str, "workers": int, "pack": int, "actors_per_gpu": int,
                 "recycle_after": int, "max_attempts": int, "job_timeout_s": (int, float)},
}


def root_id(arch: str, dataset: str, split: str, seed: int, overrides: dict[str, Any], replicate: int = 0) -> str:
    """The id of a model trained from scratch, built from typed values: a spec's text can
    never become part of the derivation's syntax (e.g. lr = "0.001)->noise(level=5.0").

    `replicate` k > 0 tags the root rep=k (the first replicate's ids carry no tag), which
    changes its derived seed: replicate zoos never share a model."""
    return str(root_derivation(arch, dataset, split, seed, overrides, replicate))


def root_derivation(arch: str, dataset: str, split: str, seed: int, overrides: dict[str, Any],
                    replicate: int = 0) -> Derivation:
    """`root_id` as a canonical Derivation."""
    params = {"arch": arch, "dataset": dataset, "split": split, "seed": seed, **overrides, REPLICATE: replicate}
    return canonical(Derivation((Step.of("train", params),)))


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


TYPE_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list",
              dict: "a table"}


def _check_table(table: dict, section: str) -> None:
    allowed = SCHEMA[section]
    for key, value in table.items():
        path = f"{section}.{key}" if section else key
        if key not in allowed:
            raise SpecError(path, f"unknown field; allowed: {', '.join(sorted(allowed))}")
        kinds = allowed[key] if isinstance(allowed[key], tuple) else (allowed[key],)
        want = " or ".join(TYPE_WORDS[kind] for kind in kinds)
        if isinstance(value, bool) and bool not in kinds:
            raise SpecError(path, f"expected {want}, got a boolean")
        if not isinstance(value, kinds):
            raise SpecError(path, f"expected {want}, got {type(value).__name__} {value!r}")
        if isinstance(value, dict) and key in SCHEMA:
            _check_table(value, key)


def load_toml(source: str | Path) -> dict:
    """Read a spec file, or a bundled preset when `source` names one.

    The file must be a regular file (a FIFO would block the read), at most
    MAX_SPEC_BYTES of UTF-8 TOML, not empty, and nested at most MAX_DEPTH deep.
    """
    path = Path(source)
    if not path.exists() and not path.is_symlink() and str(source) in list_presets():
        path = PRESET_DIR / f"{source}.toml"
    if not path.exists() and not path.is_symlink():
        raise SpecError("", f"no spec file {str(source)!r} (bundled specs: {', '.join(list_presets())})")
    if path.is_dir():
        raise SpecError("", f"{path} is a directory; expected a spec TOML file")
    try:
        data = read_bytes(path, MAX_SPEC_BYTES)
    except UnsafeFileError as err:
        raise SpecError("", f"spec {err}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SpecError("", f"{path} is not UTF-8 text (byte {data[err.start]:#04x} at offset {err.start})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SpecError("", f"{path} is not valid TOML: {err}") from None
    except RecursionError:
        raise SpecError("", f"{path} nests arrays or tables too deeply (at most {MAX_DEPTH} levels)") from None
    if not raw:
        raise SpecError("", f"{path} is empty (no settings); a spec needs at least a [[methods]] table")
    _check_values(raw)
    return raw


def _check_values(raw: dict) -> None:
    """Refuse what no field accepts anywhere: deep nesting, NaN/inf, control characters, huge text."""
    stack: list[tuple[Any, str, int]] = [(raw, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise SpecError(path, f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, dict):
            stack += [(v, f"{path}.{k}" if path else str(k), depth + 1) for k, v in node.items()]
        elif isinstance(node, list):
            stack += [(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(node)]
        elif isinstance(node, float) and not math.isfinite(node):
            raise SpecError(path, f"must be a finite number, got {node!r}")
        elif isinstance(node, str) and (len(node) > MAX_TEXT or _CONTROL.search(node)):
            what = f"longer than {MAX_TEXT} characters" if len(node) > MAX_TEXT else "contains a control character"
            raise SpecError(path, f"{what}: {node[:60]!r}")
        elif isinstance(node, int) and not isinstance(node, bool) and abs(node) > MAX_SEED:
            raise SpecError(path, f"{node} does not fit in 64 bits")


def resolve(raw: dict, seen: tuple[str, ...] = ()) -> dict:
    """Merge a spec over its preset (which may itself name a preset)."""
    if not isinstance(raw, dict):
        raise SpecError("", f"a spec is a TOML table, got {type(raw).__name__}")
    _check_values(raw)
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
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
            raise SpecError(f"{path}[{i}]", f"expected an integer seed >= 0, got {seed!r}")
    return seeds


def _independent_models(negatives: dict, archs: list[str]) -> tuple[tuple[str, int], ...]:
    """`seeds` is a list for every arch in `archs`, or a table of seed lists per arch."""
    seeds = negatives.get("seeds", [1])
    if isinstance(seeds, dict):
        if "archs" in negatives:
            raise SpecError("negatives.archs", "give either archs with a seed list (negatives.seeds = [1, 2]), "
                                               "or a seeds table per arch (negatives.seeds = {cnn = [1]}), not both")
        return tuple(
            (_choice(f"negatives.seeds.{arch}", arch, archs), seed)
            for arch, per_arch in seeds.items()
            for seed in _seed_list(f"negatives.seeds.{arch}", per_arch)
        )
    chosen = [_choice(f"negatives.archs[{i}]", a, archs) for i, a in enumerate(negatives.get("archs", []))]
    return tuple((arch, seed) for arch in chosen for seed in _seed_list("negatives.seeds", seeds))


EXECUTOR_DEFAULTS = {"address": "", "workers": 0, "pack": 0, "actors_per_gpu": 1, "recycle_after": 25,
                     "max_attempts": 2, "job_timeout_s": 3600.0}
# (lowest, highest) of each executor number: workers and pack 0 mean "pick for the device".
EXECUTOR_BOUNDS = {"workers": (0, 1024), "pack": (0, 4096), "actors_per_gpu": (1, 64), "recycle_after": (1, 10**6),
                   "max_attempts": (1, 100), "job_timeout_s": (1, 30 * 24 * 3600)}


def _executor_options(table: dict) -> dict[str, Any]:
    options = {**EXECUTOR_DEFAULTS, **{k: v for k, v in table.items() if k in EXECUTOR_DEFAULTS}}
    for key, (low, high) in EXECUTOR_BOUNDS.items():
        if not low <= options[key] <= high:
            raise SpecError(f"executor.{key}", f"must be between {low} and {high}, got {options[key]!r}")
    if not _ADDRESS.fullmatch(options["address"]):
        raise SpecError("executor.address", f"expected {ADDRESS_RULE}, got {options['address']!r}")
    return options


def _check_identity(merged: dict) -> None:
    """`name` (the default output directory's last part), `output` and `seed`."""
    name = merged.get("name", "run")
    if not _NAME.fullmatch(name) or ".." in name:
        raise SpecError("name", f"{name!r} cannot name a directory under results/; allowed: {NAME_RULE}")
    if "output" in merged and not merged["output"].strip():
        raise SpecError("output", "is empty; give a directory, or leave it out for results/<name>")
    if not 0 <= merged.get("seed", 0) <= MAX_SEED:
        raise SpecError("seed", f"must be an integer >= 0, got {merged['seed']!r}")


MAX_REPLICATES = 64


def _replicate_seeds(source: dict, seed: int) -> list[int]:
    """The source seed of each replicate: `replicates = N` keeps the spec's seed N times (the
    rep tag tells them apart); a list gives each replicate its own seed."""
    replicates = source.get("replicates", 1)
    if isinstance(replicates, list):
        seeds = _seed_list("source.replicates", replicates)
        if not 1 <= len(seeds) <= MAX_REPLICATES or len(set(seeds)) != len(seeds):
            raise SpecError("source.replicates", f"expected 1 to {MAX_REPLICATES} distinct seeds, got {replicates!r}")
        return seeds
    if isinstance(replicates, bool) or not 1 <= replicates <= MAX_REPLICATES:
        raise SpecError("source.replicates", f"must be a number of sources from 1 to {MAX_REPLICATES} or a list of "
                                             f"seeds, got {replicates!r}")
    return [seed] * replicates


def _source_file(source: dict) -> tuple[str, dict[str, str]]:
    """The sha256 of `[source] file` and {sha256: path}."""
    extra = sorted(k for k in source if k in TRAIN_KEYS or k == "replicates")
    if extra:
        raise SpecError(f"source.{extra[0]}", "a source from a file is not trained: leave out its training "
                                              "settings and replicates")
    if "arch" not in source:
        raise SpecError("source.arch", "a source from a file needs its architecture (fpbench list archs)")
    sha256 = model_file_sha256(source["file"], "source.file")
    return sha256, {sha256: str(source["file"])}


def _train_overrides(source: dict, arch: str, dataset: str) -> dict[str, Any]:
    """The source's training settings, each checked on its own so an error names its field."""
    overrides = {k: source[k] for k in TRAIN_KEYS if k in source}
    for key, value in overrides.items():
        try:
            root_id(arch, dataset, "defender", 0, {key: value})
        except DerivationError as err:
            raise SpecError(f"source.{key}", str(err)) from None
        if key in TRAIN_MAX and isinstance(value, (int, float)) and value > TRAIN_MAX[key]:
            raise SpecError(f"source.{key}", f"must be at most {TRAIN_MAX[key]}, got {value!r}")
    return overrides


def _method_params(cls, params: Any, path: str) -> dict[str, Any]:
    """`params` if `cls` accepts them; an error names the parameter when one alone is refused."""
    from methods.base import MethodParamError

    if not isinstance(params, dict):
        raise SpecError(path, f"expected a table of parameters, got {type(params).__name__} {params!r}")
    refused = (MethodParamError, TypeError, ValueError, ArithmeticError)
    try:
        cls(**params)
    except refused as err:
        named = getattr(err, "param", None)  # a MethodParamError may say which parameter it refuses
        if isinstance(named, str) and named in params:
            raise SpecError(f"{path}.{named}", str(err)) from None
        for key, value in params.items():  # else blame the one parameter that is refused on its own
            try:
                cls(**{key: value})
            except refused as alone:
                raise SpecError(f"{path}.{key}", str(alone)) from None
        raise SpecError(path, str(err)) from None
    return dict(params)


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
    from zoo.archs import list_archs
    from zoo.datasets import list_datasets

    merged = resolve(raw)
    _check_identity(merged)
    dataset_table = merged.get("dataset", {})
    dataset = _choice("dataset.name", dataset_table.get("name", "digits"), list_datasets())
    source = merged.get("source", {})
    arch = _choice("source.arch", source.get("arch", "cnn"), list_archs())
    overrides = _train_overrides(source, arch, dataset)
    seed = merged.get("seed", 0)
    files = {}
    try:
        if "file" in source:
            sha256, files = _source_file(source)
            sources = (weights_id(arch, dataset, sha256, seed),)
        else:
            sources = tuple(root_id(arch, dataset, "defender", s, overrides, k)
                            for k, s in enumerate(_replicate_seeds(source, seed)))
    except DerivationError as err:
        raise SpecError("source", str(err)) from None
    source_id = sources[0]
    external, external_files = external_suspects(merged.get("suspects", []), dataset, seed)

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
        try:
            cls = get_method(name)
        except UnknownName as err:  # a plugin method that fails to load: named, never a traceback
            raise SpecError(f"{path}.name", str(err)) from None
        params = _method_params(cls, entry.get("params", {}), f"{path}.params")
        label = entry.get("label", name)
        if not isinstance(label, str) or not _LABEL.fullmatch(label):  # a directory name: scores/method=<label>/
            raise SpecError(f"{path}.label", f"expected a short name of letters, digits, '-' or '_', got {label!r}")
        if label in {m.label for m in methods}:
            raise SpecError(f"{path}.label", f"{label!r} is used twice; give each entry its own label")
        methods.append(MethodSpec(name, params, label))
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
        source_ids=sources,
        pools=pools(dataset_table.get("pools", {}), dataset),
        files={**files, **external_files},
        external=external,
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
