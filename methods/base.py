"""The interface every verification method implements, and what it is handed.

A method turns the source model (and, if it needs them, owner-side models it asked
for) into a `Fingerprint`; the engine runs each suspect on the fingerprint's inputs,
stores the raw logits, and asks the method for a score (higher = more likely
stolen). `score` only sees what the method's access level allows: label-only
methods get argmax labels, never logits.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from methods.scales import ScoreScale

Access = Literal["labels", "logits", "white-box"]


class MethodParamError(ValueError):
    """A method parameter that is unknown, of the wrong type or out of its range; `param` names it."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


class Above(float):
    """An exclusive lower bound: `(Above(0), 10.0)` means 0 < value <= 10."""


class Below(float):
    """An exclusive upper bound: `(0.0, Below(1))` means 0 <= value < 1."""


class _Architectures:
    """A `choices` entry meaning the registered architecture names, looked up when checked
    (zoo.archs imports torch, which listing methods must not)."""

    def names(self) -> tuple[str, ...]:
        from zoo.archs import list_archs

        return tuple(list_archs())

    def __repr__(self) -> str:
        return "ARCHITECTURES"


ARCHITECTURES = _Architectures()

# Ranges shared by many methods, so one kind of parameter has one rule everywhere. The
# upper limits only catch absurd values (n = 10**9 would run for days, then fail).
COUNT = (1, 100_000)  # fingerprint queries, candidates, images drawn
STEPS = (1, 100_000)  # optimisation steps, epochs, iterations
MODELS = (1, 1_000)  # owner-side models of one kind
RATE = (Above(0), 10.0)  # learning rates
UNIT = (0.0, 1.0)  # shares, probabilities, L-inf radii on [0, 1] pixels
WEIGHT = (0.0, 1_000.0)  # loss weights and margins
WIDTH = (1, 65_536)  # layer widths, latent sizes
SEED = (0, 2**63 - 1)
ARCH_LIST = (1, 100)  # entries of a list of architectures


def interval(lo, hi) -> str:
    left = "(-inf" if lo is None else f"({lo!r}" if isinstance(lo, Above) else f"[{lo!r}"
    right = "inf)" if hi is None else f"{hi!r})" if isinstance(hi, Below) else f"{hi!r}]"
    return f"{left}, {right}"


def within(value, lo, hi) -> bool:
    above = lo is None or (value > lo if isinstance(lo, Above) else value >= lo)
    below = hi is None or (value < hi if isinstance(hi, Below) else value <= hi)
    return above and below


@dataclass
class Fingerprint:
    """Query inputs plus whatever the method needs to score answers; saved by the store."""

    inputs: np.ndarray  # float32, N x C x H x W
    labels: np.ndarray | None = None  # int64, N: expected answers, if the method has them
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)  # JSON-able: params, timings

    def tensors(self) -> dict[str, np.ndarray]:
        out = {"inputs": np.ascontiguousarray(self.inputs, dtype=np.float32)}
        if self.labels is not None:
            out["labels"] = np.ascontiguousarray(self.labels, dtype=np.int64)
        out.update({f"array.{k}": np.ascontiguousarray(v) for k, v in self.arrays.items()})
        return out

    @classmethod
    def from_tensors(cls, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> "Fingerprint":
        arrays = {k[len("array.") :]: v for k, v in tensors.items() if k.startswith("array.")}
        return cls(tensors["inputs"], tensors.get("labels"), arrays, meta)


@dataclass
class OwnerContext:
    """What the owner holds when fingerprinting: its own data, a device, a seed."""

    data: Any  # zoo.data.DataBundle; methods may use the `defender` and `test` splits
    device: Any
    seed: int
    owner_models: dict[str, Any] = field(default_factory=dict)  # derivation string -> model


class Method:
    """A verification method: subclass, set the class variables, implement `fingerprint` and `score`.

    N is the number of fingerprint queries, C x H x W a data set's input shape, K the
    suspect's number of classes (a `transfer` suspect may have another K than the source).

    Class variables: `access` ("labels" | "logits" | "white-box") says what `score`
    may see; `score_scale` the range of the score; `per_query` whether the score is the
    mean of `outcomes`; `defaults` the parameters, each bounded by `bounds`, `choices`,
    `lengths` or named in `free`; `tiny` seconds-scale parameters for the contract
    checks (methods.testing); `version` bumps when results change (it is hashed into
    fingerprint ids); `summary` is what `fpbench list` shows. `name` is the registry key:
    the registry sets it, or checks it when a class declares its own.

    The engine calls, for one run:

    - `Method(**params)`: the spec's parameters, checked (MethodParamError names one).
    - `source_recipe(source_id) -> str | None`: watermark methods only, the derivation
      string of the marked source to train instead of `source_id`.
    - `owner_models(source_id) -> list[str]`: derivation strings of owner-side models to
      train first (`owner_train`, `owner_derived`); never evaluation suspects.
    - `fingerprint(source, owner) -> Fingerprint`, once per source: `source` is a
      `zoo.archs.base.Classifier` (torch, on `owner.device`, a copy the method may change);
      `owner` an `OwnerContext` whose `data.x(split)` are float32 N x C x H x W tensors in
      [0, 1] and `data.y(split)` int64 labels (use the `defender` and `test` splits), with
      `seed` and the trained `owner_models`. It returns `Fingerprint(inputs` float32
      N x C x H x W, `labels` int64 N or None, `arrays` any per-method numpy arrays,
      `meta` JSON-able`)`; the store saves and reloads it, so `score` may not rely on
      anything else.
    - `query(fp, model) -> np.ndarray`, once per suspect: float32 N x K logits by default;
      a white-box method may return other per-query vectors (N x D). Stored as is.
    - `observe(stored) -> np.ndarray`: what the access level reveals, int64 N argmax
      labels for "labels", the stored array unchanged otherwise.
    - `score(fp, observed) -> float`: higher means more likely stolen, within `score_scale`.
    - `outcomes(fp, observed) -> np.ndarray | None`: float32 N whose mean is the score
      (`per_query` methods), which lets the report score smaller query budgets.
    - `test(fp, observed) -> dict`: `{"p_value": p, "effect": e}` for a method with a
      hypothesis test, else `{}`; stored beside the score.
    """

    name: ClassVar[str]
    access: ClassVar[Access]
    # The range `score` can return, as ARUC needs it: a rate in [0, 1], a fixed map of a
    # bounded score, or unbounded (methods.scales, which repeats it for the torch-free report).
    score_scale: ClassVar[ScoreScale]
    # True when `score` is the mean of `outcomes`, one number per fingerprint query: the
    # report can then recompute it for any query budget from the stored outcomes alone.
    per_query: ClassVar[bool] = False
    version: ClassVar[int] = 1
    defaults: ClassVar[dict[str, Any]] = {}  # TOML arrays arrive as lists: list defaults, not tuples
    summary: ClassVar[str] = ""
    tiny: ClassVar[dict[str, Any]] = {}  # seconds-scale parameters for the registry's contract test
    # Allowed values, checked when a spec loads so a bad value fails before any training.
    # Every parameter needs one of these (tests/test_method_params.py), a bool default
    # being bounded by its type. For a list parameter, bounds/choices apply to each entry
    # and `lengths` to its length. `free` names parameters left unchecked, with the reason.
    bounds: ClassVar[dict[str, tuple[Any, Any]]] = {}  # inclusive; None = unbounded; Above/Below: exclusive
    choices: ClassVar[dict[str, Any]] = {}  # a tuple of values, or ARCHITECTURES
    lengths: ClassVar[dict[str, tuple[int, int]]] = {}
    free: ClassVar[dict[str, str]] = {}

    def __init__(self, **params: Any):
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise MethodParamError(
                f"{self.name} has no parameter {unknown[0]!r}; allowed: {', '.join(sorted(self.defaults))}", unknown[0]
            )
        self.params = {**self.defaults, **params}
        for key, value in self.params.items():
            default = self.defaults[key]
            if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
                self.params[key] = float(value)
            elif default is not None and type(value) is not type(default):
                raise MethodParamError(
                    f"{self.name}.{key} must be {type(default).__name__}, got {value!r}", key
                )
        for key in self.defaults:
            self._check_range(key, self.params[key])
        self.check(self.params)

    def check(self, params: dict[str, Any]) -> None:
        """Cross-parameter rules; raise MethodParamError naming the parameter."""

    def _check_range(self, key: str, value: Any) -> None:
        default = self.defaults[key]
        if value is None and default is None:
            return  # None means "inherit" (e.g. the source's epochs)
        if isinstance(default, list):
            lo, hi = self.lengths.get(key, (0, None))
            if not within(len(value), lo, hi):
                raise MethodParamError(
                    f"{self.name}.{key} must have a length in {interval(lo, hi)}, got {len(value)}: {value!r}", key
                )
            kind = type(default[0]) if default else None
            for i, item in enumerate(value):
                self._check_value(f"{key}[{i}]", key, item, kind)
        else:
            self._check_value(key, key, value, type(default) if default is not None else None)

    def _check_value(self, label: str, key: str, value: Any, kind: type | None) -> None:
        where = f"{self.name}.{label}"
        if key in self.choices:
            options = self.choices[key]
            options = options.names() if isinstance(options, _Architectures) else options
            if isinstance(value, bool) != any(isinstance(o, bool) for o in options) or value not in options:
                raise MethodParamError(f"{where} must be one of {', '.join(map(str, options))}, got {value!r}", key)
        if key not in self.bounds:
            return
        lo, hi = self.bounds[key]
        if kind is None:  # a None default: the bounds' type says what a value must be
            kind = int if all(b is None or type(b) is int for b in (lo, hi)) else float
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and isinstance(value, float)):
            raise MethodParamError(f"{where} must be {kind.__name__}, got {value!r}", key)
        if not math.isfinite(value):
            raise MethodParamError(f"{where} must be a finite number, got {value!r}", key)
        if not within(value, lo, hi):
            raise MethodParamError(f"{where} must be in {interval(lo, hi)}, got {value!r}", key)

    def identity(self) -> str:
        """Name, code version and resolved parameters: what a fingerprint id hashes."""
        return json.dumps({"method": self.name, "version": self.version, "params": self.params}, sort_keys=True)

    def source_recipe(self, source_id: str) -> str | None:
        """Watermark methods only: the derivation of the marked source that replaces `source_id`.

        The engine then trains that source, applies the spec's whole attack suite to it
        and queries this method on those copies (plus the shared negatives).
        """
        return None

    def owner_models(self, source_id: str) -> list[str]:
        """Derivation strings of owner-side models to build before `fingerprint` (none by default).

        The engine trains them like any model (see `owner_train` / `owner_derived`) and
        hands them over in `OwnerContext.owner_models`; they are never evaluation suspects.
        """
        return []

    def query(self, fp: Fingerprint, model) -> np.ndarray:
        """What the engine stores for one suspect: its logits on the fingerprint inputs.

        White-box methods may override this to record other per-query vectors.
        """
        import torch

        from zoo.fit import predict_logits

        device = next(model.parameters()).device
        inputs = torch.as_tensor(fp.inputs, device=device)
        return predict_logits(model, inputs).cpu().numpy().astype(np.float32)

    def fingerprint(self, source, owner: OwnerContext) -> Fingerprint:
        raise NotImplementedError

    def observe(self, logits: np.ndarray) -> np.ndarray:
        """What a suspect reveals at this method's access level."""
        return logits.argmax(axis=1) if self.access == "labels" else logits

    def score(self, fp: Fingerprint, observed: np.ndarray) -> float:
        raise NotImplementedError

    def outcomes(self, fp: Fingerprint, observed: np.ndarray) -> np.ndarray | None:
        """Per-query outcomes whose mean is the score (`per_query` methods), else None.

        The per-query methods today score a matching rate, so the outcome is 1.0 where
        the suspect gives the fingerprint's expected label and 0.0 where it does not; a
        method with another per-query score overrides this.
        """
        if not self.per_query:
            return None
        return (np.asarray(observed) == fp.labels).astype(np.float32).reshape(-1)

    def test(self, fp: Fingerprint, observed: np.ndarray) -> dict[str, float]:
        """Methods with a hypothesis test return {"p_value": ..., "effect": ...}; stored beside the score."""
        return {}


def owner_train(source_id: str, arch: str, seed: int, split: str = "defender", **params: Any) -> str:
    """An owner-side model trained from scratch on the owner's data (e.g. a reference model).

    It takes the source's training recipe with another architecture and seed; owner
    seeds should stay clear of the spec's negative seeds (use e.g. 1000 + i).
    """
    from zoo.spec import Step, canonical
    from zoo.train import retrain_params

    root = {**retrain_params(source_id), "arch": arch, "seed": seed, "split": split, **params}
    return str(canonical(str(Step.of("train", root))))


def owner_derived(source_id: str, suffix: str) -> str:
    """An owner-side model derived from the source (e.g. a surrogate extraction)."""
    from zoo.spec import canonical

    return str(canonical(f"{source_id}->{suffix}"))
