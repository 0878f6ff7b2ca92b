"""Derivation strings: the name, id and recipe of every model in one string.

    train(cnn,digits,split=defender,seed=0)->prune(rate=0.5)->finetune(epochs=5)

A string parses into a `Derivation` (a tuple of frozen `Step`s). `canonical()` fills
in every default from the step's schema, coerces values to the schema's types and
sorts parameters, so equal recipes always print to the equal string: that string is
the model's id in the manifest, the Parquet tables and the store, and its hash is the
seed of the step. Parsing needs no torch; the schemas come from `zoo.steps`.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Mapping, Union

Value = Union[bool, int, float, str]

_TOKEN = re.compile(r"\s*(->|[(),=]|[A-Za-z0-9_.+\-]+)")
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WORD = re.compile(r"[A-Za-z0-9_.+\-]+")  # what one value may be: no syntax of the string itself


def is_word(text: str) -> bool:
    """Whether `text` can stand as one value in a derivation string without changing its syntax."""
    return _WORD.fullmatch(text) is not None


class DerivationError(ValueError):
    """A derivation string that does not parse or names unknown steps/parameters."""


def parse_value(text: str) -> Value:
    if text in ("true", "false"):
        return text == "true"
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text


def format_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


@dataclass(frozen=True)
class Step:
    """One operation: `name(positional..., key=value, ...)`; params are kept sorted."""

    name: str
    params: tuple[tuple[str, Value], ...] = ()

    @staticmethod
    def of(name: str, params: Mapping[str, Value]) -> "Step":
        return Step(name, tuple(sorted(params.items())))

    def get(self, key: str, default: Value | None = None) -> Value | None:
        return dict(self.params).get(key, default)

    def as_dict(self) -> dict[str, Value]:
        return dict(self.params)

    def __str__(self) -> str:
        from zoo.steps import positional_params

        positional = positional_params(self.name)
        params = dict(self.params)
        args = [format_value(params.pop(k)) for k in positional if k in params]
        args += [f"{k}={format_value(v)}" for k, v in sorted(params.items())]
        return f"{self.name}({','.join(args)})"


@dataclass(frozen=True)
class Derivation:
    """A root step (`train`) followed by the attacks applied to its result."""

    steps: tuple[Step, ...]

    @property
    def root(self) -> Step:
        return self.steps[0]

    @property
    def last(self) -> Step:
        return self.steps[-1]

    @property
    def parent(self) -> "Derivation | None":
        return Derivation(self.steps[:-1]) if len(self.steps) > 1 else None

    def then(self, *steps: Step) -> "Derivation":
        return Derivation(self.steps + steps)

    def prefixes(self) -> list["Derivation"]:
        """Every ancestor and itself, root first: the models the recipe builds on the way."""
        return [Derivation(self.steps[: i + 1]) for i in range(len(self.steps))]

    def __str__(self) -> str:
        return "->".join(str(s) for s in self.steps)


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise DerivationError(f"unexpected character {text[pos]!r} at {pos} in {text!r}")
        out.append(m.group(1))
        pos = m.end()
    return out


def parse_steps(text: str) -> list[Step]:
    """Parse without canonicalising (no defaults): a chain of `name(args)` steps."""
    from zoo.steps import positional_params

    toks, i, steps = _tokens(text), 0, []

    def expect(tok: str) -> None:
        nonlocal i
        if i >= len(toks) or toks[i] != tok:
            got = toks[i] if i < len(toks) else "end of string"
            raise DerivationError(f"expected {tok!r} but found {got!r} in {text!r}")
        i += 1

    while True:
        if i >= len(toks) or not _IDENT.match(toks[i]):
            raise DerivationError(f"expected a step name in {text!r}")
        name = toks[i]
        i += 1
        expect("(")
        positional, params = [], {}
        while i < len(toks) and toks[i] != ")":
            if i + 1 < len(toks) and toks[i + 1] == "=":
                key, value = toks[i], toks[i + 2] if i + 2 < len(toks) else ""
                if key in params:
                    raise DerivationError(f"parameter {key!r} given twice in {name}(...)")
                params[key] = parse_value(value)
                i += 3
            else:
                if params:
                    raise DerivationError(f"positional argument after keywords in {name}(...)")
                positional.append(parse_value(toks[i]))
                i += 1
            if i < len(toks) and toks[i] == ",":
                i += 1
        expect(")")
        names = positional_params(name)
        if len(positional) > len(names):
            raise DerivationError(
                f"{name}(...) takes {len(names)} positional argument(s) "
                f"({', '.join(names) or 'none'}), got {len(positional)}"
            )
        for key, value in zip(names, positional):
            if key in params:
                raise DerivationError(f"parameter {key!r} given twice in {name}(...)")
            params[key] = value
        steps.append(Step.of(name, params))
        if i == len(toks):
            return steps
        expect("->")


def canonical(text_or_derivation: "str | Derivation") -> Derivation:
    """Parse (if needed) and fill every default, so equal recipes compare equal."""
    from zoo.steps import canonical_step

    steps = (
        parse_steps(text_or_derivation)
        if isinstance(text_or_derivation, str)
        else list(text_or_derivation.steps)
    )
    if not steps:
        raise DerivationError("empty derivation")
    out = []
    for index, step in enumerate(steps):
        is_root = index == 0
        out.append(canonical_step(step, root=is_root))
    return Derivation(tuple(out))


def short_hash(text: str, length: int = 16) -> str:
    """Stable file-name-safe id of a string (store paths, shard names)."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def derive_seed(derivation: "Derivation | str") -> int:
    """The torch/numpy seed of a model's last step: a hash of its whole string."""
    return int(hashlib.sha256(str(derivation).encode()).hexdigest()[:8], 16)
