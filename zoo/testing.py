"""The attack contract, importable by a plugin author: `from zoo.testing import check_attack`.

tests/test_attacks.py runs it on every registered attack, built in or from a plugin;
a plugin's own tests can run it on theirs. It applies the attack's `tiny` setting to
a small source on the given data (digits trains it in seconds on a CPU).
"""
from __future__ import annotations

import copy

import torch

from zoo.archs import build_arch
from zoo.spec import Derivation, canonical, derive_seed
from zoo.steps import StepContext, get_step

SOURCE = "train(cnn,digits,epochs=8)"


def build(text: str, data, cache: dict | None = None):
    """The model a derivation string names, built step by step the way the worker does.

    With `cache`, every prefix is kept by its canonical string and a step works on a
    copy of its parent, so checks that share a source train it once.
    """
    model = None
    for prefix in canonical(text).prefixes():
        key = str(prefix)
        if cache is not None and key in cache:
            model = cache[key]
            continue
        step = prefix.last
        parent = copy.deepcopy(model) if cache is not None and model is not None else model
        model = get_step(step.name)().apply(parent, step.as_dict(), StepContext(data, "cpu", derive_seed(prefix)))
        if cache is not None:
            cache[key] = model
    return model


def recorded_arch(derivation: Derivation) -> str:
    """The architecture a model's weights load into: set by the last step that builds a network."""
    for step in reversed(derivation.steps):
        if step.get("arch") is not None:
            return str(step.get("arch"))
    raise ValueError(f"no architecture in {derivation}")


def check_tiny(name: str) -> None:
    """The attack has a seconds-scale setting of its own for these checks."""
    tiny = get_step(name).tiny
    assert tiny.startswith(f"{name}("), f"{name} needs a `tiny` setting such as '{name}(epochs=1)', got {tiny!r}"


def check_attack(name: str, data, source: str = SOURCE) -> None:
    """Right output shape, finite logits, the same string gives the same model, and the
    weights load into a fresh model of the architecture the id records."""
    check_tiny(name)
    text = f"{source}->{get_step(name).tiny}"
    a, b = build(text, data), build(text, data)
    x = data.x("test")[:32]
    out = a(x)
    classes = a.head.out_features
    assert classes == data.num_classes or name == "transfer", f"{name} changed the label set"
    assert out.shape == (len(x), classes)
    assert torch.isfinite(out).all(), f"{name} gives non-finite logits"
    assert torch.equal(out, b(x)), f"{name}: the same derivation string must give the same model"
    fresh = build_arch(recorded_arch(canonical(text)), data.input_shape, classes)
    fresh.load_state_dict(a.state_dict())
