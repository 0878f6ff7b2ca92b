"""Step kinds: the schema and implementation behind each name in a derivation string.

`train` and the watermark trainings are root steps; every other step is an attack
applied to its parent model. Each kind declares its parameters with defaults (the
schema that makes ids canonical) and either a `prepare` that says what to train (so
the engine can train sibling models as one pack) or, for steps that are not one
training task, an `apply` that builds the model. Kinds live one family per file;
`STEPS` lists them as "module:Class" and imports a family when its name is first
used. Third-party attacks come through the `fpbench.attacks` entry-point group.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from zoo.registry import Registry, UnknownName, subclass_of
from zoo.spec import DerivationError, Step, Value, is_word

ROOTS = frozenset({"train", "weights", "wm_margin", "wm_ewe", "wm_features"})  # known without importing a family


def _check_kind(name: str, obj: Any) -> None:
    """A step kind, and a root step exactly when it is one of ROOTS: plugins add attacks only."""
    subclass_of("zoo.steps:StepKind")(name, obj)
    if bool(obj.root) != (name in ROOTS):
        raise TypeError(f"step {name!r} must {'' if name in ROOTS else 'not '}be a root step")


STEPS = Registry("step", group="fpbench.attacks", check=_check_kind, builtins={
    "train": "zoo.train:Train",
    "weights": "zoo.weights_file:WeightsFile",
    "finetune": "zoo.attacks.finetune:FineTune",
    "prune": "zoo.attacks.prune:Prune",
    "distill": "zoo.attacks.distill:Distill",
    "noise": "zoo.attacks.noise:Noise",
    "advtrain": "zoo.attacks.advtrain:AdvTrain",
    "knockoff": "zoo.attacks.knockoff:Knockoff",
    "extract": "zoo.attacks.extract:Extract",
    "transfer": "zoo.attacks.transfer:Transfer",
    "wm_margin": "zoo.watermark.margin:MarginWatermark",
    "wm_ewe": "zoo.watermark.ewe:EntangledWatermark",
    "wm_features": "zoo.watermark.external_features:ExternalFeatures",
})
register_step = STEPS.register
register_attack = STEPS.register


@dataclass
class StepContext:
    """What a step may use besides its parent: the data, the device and its own seed."""

    data: Any  # zoo.data.DataBundle
    device: Any  # torch.device
    seed: int
    files: dict = field(default_factory=dict)  # sha256 -> path of the model files a spec names


class StepKind:
    """Base of all steps. Subclasses set the class variables and implement `apply`."""

    name: ClassVar[str]
    version: ClassVar[int] = 1  # bump when the recipe's behaviour changes: ids change too
    root: ClassVar[bool] = False
    positional: ClassVar[tuple[str, ...]] = ()
    required: ClassVar[tuple[str, ...]] = ()
    defaults: ClassVar[dict[str, Value]] = {}
    choices: ClassVar[dict[str, tuple[Value, ...]]] = {}
    summary: ClassVar[str] = ""
    tiny: ClassVar[str] = ""  # a seconds-scale instance for the registry's contract test
    quiet: ClassVar[dict[str, Value]] = {}  # parameters left out of the id at these (neutral) values

    @classmethod
    def defaults_for(cls, params: dict[str, Value]) -> dict[str, Value]:
        """The defaults that complete `params`: `defaults`, or for a root step its data set's recipe."""
        return cls.defaults

    @classmethod
    def check(cls, params: dict[str, Value]) -> None:
        """Cross-field or registry checks; raise DerivationError naming the parameter."""

    def prepare(self, parent, params: dict[str, Value], ctx: StepContext):
        """What to train, as a `zoo.fit.TrainTask`: the initialised model, its data and objective.

        Steps that train one model on a fixed objective define this and inherit
        `apply`; the engine may then train the task in a pack with its siblings.
        """
        raise NotImplementedError(f"step {self.name!r} defines neither prepare nor apply")

    @classmethod
    def packable(cls, params: dict[str, Value]) -> bool:
        """Whether a model made by this step may train in a pack: its training is one `prepare`d task."""
        return cls.apply is StepKind.apply

    def apply(self, parent, params: dict[str, Value], ctx: StepContext):
        """Build the model; steps whose work is not a single training task override this."""
        from zoo.fit import fit_many

        return fit_many([self.prepare(parent, params, ctx)])[0]


def get_step(name: str) -> type[StepKind]:
    try:
        return STEPS.get(name)
    except UnknownName as err:  # unknown, or a plugin that cannot be used: the message says which
        raise DerivationError(str(err)) from err.__cause__


def list_attacks() -> list[str]:
    """Every step that applies to a parent model, built in or from a plugin, importing none."""
    return [name for name in STEPS.names() if name not in ROOTS]


def positional_params(name: str) -> tuple[str, ...]:
    try:
        return get_step(name).positional
    except DerivationError:
        return ()


def _coerce(step: str, key: str, value: Value, default: Value | None) -> Value:
    if default is None or isinstance(value, type(default)) and not (
        isinstance(value, bool) and not isinstance(default, bool)
    ):
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    raise DerivationError(
        f"{step}({key}=...) must be {type(default).__name__}, got {value!r}"
    )


REPLICATE = "rep"  # any step may carry rep=N: a replicate index that only changes the seed

# Training hyper-parameters mean the same in every step that has them, so one rule each
# holds for all: a step kind cannot forget it (finetune(epochs=-5) would be a "stolen
# copy" identical to its parent, batch=0 a crash after the source has trained).
SHARED_BOUNDS = {
    "epochs": (lambda v: v >= 1, ">= 1"),
    "batch": (lambda v: v >= 1, ">= 1"),
    "lr": (lambda v: v > 0, "> 0"),
    "temp": (lambda v: v > 0, "> 0"),
    "wd": (lambda v: v >= 0, ">= 0"),
}


def check_shared_bounds(step: str, params: dict[str, Value]) -> None:
    for key, (holds, bound) in SHARED_BOUNDS.items():
        if key in params and not holds(params[key]):  # NaN fails every bound
            raise DerivationError(f"{step}({key}={params[key]!r}) must be {bound}")


def canonical_step(step: Step, root: bool) -> Step:
    """Fill defaults, coerce types, check choices; `rep` is kept only when non-zero."""
    kind = get_step(step.name)
    if kind.root != root:
        where = "first" if kind.root else "after a root step"
        raise DerivationError(f"step {step.name!r} can only appear {where}")
    params = step.as_dict()
    rep = params.pop(REPLICATE, 0)
    if not isinstance(rep, int) or isinstance(rep, bool) or rep < 0:
        raise DerivationError(f"{step.name}(rep={rep!r}) must be a non-negative integer")
    defaults = kind.defaults_for(params)
    allowed = set(kind.required) | set(defaults)
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise DerivationError(
            f"{step.name}() has no parameter {unknown[0]!r}; allowed: {', '.join(sorted(allowed | {REPLICATE}))}"
        )
    missing = [k for k in kind.required if k not in params]
    if missing:
        raise DerivationError(f"{step.name}() needs parameter {missing[0]!r}")
    merged = dict(defaults)
    for key, value in params.items():
        if isinstance(value, str) and not is_word(value):
            raise DerivationError(f"{step.name}({key}={value!r}): a value is one word of letters, digits, '_.+-'")
        merged[key] = _coerce(step.name, key, value, defaults.get(key))
    for key, options in kind.choices.items():
        if key in merged and merged[key] not in options:
            raise DerivationError(
                f"{step.name}({key}={merged.get(key)!r}) is not allowed; "
                f"allowed: {', '.join(map(str, options))}"
            )
    check_shared_bounds(step.name, merged)
    kind.check(merged)
    for key, neutral in kind.quiet.items():
        if key in merged and merged[key] == neutral:
            del merged[key]
    if rep:
        merged[REPLICATE] = rep
    return Step.of(step.name, merged)
