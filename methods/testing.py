"""The method contract, importable by a plugin author: `from methods.testing import check_method`.

tests/test_methods_contract.py runs it on every registered method, built in or from
a plugin; a plugin's own tests can run it on theirs. It uses the method's `tiny`
parameters on a small source (digits trains it in seconds on a CPU). Owner-side
models are built from their derivation strings, as the engine would; a watermark
method (one with a `source_recipe`) is checked on its own marked source, since a
clean source carries no watermark to verify.
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from methods import get_method
from methods.base import Fingerprint, Method, OwnerContext
from zoo.archs import build_arch
from zoo.spec import canonical
from zoo.testing import SOURCE, build


def check_tiny(name: str) -> None:
    """The method has seconds-scale parameters of its own for these checks."""
    assert get_method(name).tiny, f"{name} needs a `tiny` parameter set for CPU tests"


def owner_source(method: Method, data, cache: dict, source: str = SOURCE):
    """The source the owner fingerprints, by id and model: the clean one, or the method's marked source."""
    source_id = str(canonical(source))
    recipe = method.source_recipe(source_id)
    text = source_id if recipe is None else str(canonical(recipe))
    return text, build(text, data, cache)


def fingerprint(name: str, data, cache: dict, source: str = SOURCE, seed: int = 3) -> tuple[Method, Fingerprint]:
    """The method with its tiny parameters, and its fingerprint of the (marked) source."""
    cls = get_method(name)
    method = cls(**cls.tiny)
    source_id, model = owner_source(method, data, cache, source)
    owner = {mid: build(mid, data, cache) for mid in method.owner_models(source_id)}
    return method, method.fingerprint(copy.deepcopy(model), OwnerContext(data, "cpu", seed, owner))


def check_method(name: str, data, cache: dict | None = None, source: str = SOURCE) -> None:
    """Finite float32 N x C x H x W inputs, the same seed gives the same fingerprint, the
    source scores above an untrained model, and `outcomes` agree with the score."""
    cache = {} if cache is None else cache
    check_tiny(name)
    method, fp = fingerprint(name, data, cache, source)
    _, again = fingerprint(name, data, cache, source)
    assert fp.inputs.ndim == 4 and fp.inputs.shape[1:] == tuple(data.input_shape), fp.inputs.shape
    assert fp.inputs.dtype == np.float32 and np.isfinite(fp.inputs).all()
    assert np.array_equal(fp.inputs, again.inputs), f"{name}: the same seed must give the same fingerprint"
    _, model = owner_source(method, data, cache, source)
    torch.manual_seed(123)
    stranger = build_arch("cnn", data.input_shape, data.num_classes).eval()
    scores = {}
    for who, suspect in (("source", model), ("stranger", stranger)):
        observed = method.observe(method.query(fp, suspect))
        scores[who] = method.score(fp, observed)
        assert np.isfinite(scores[who]), f"{name} scores the {who} {scores[who]!r}"
        check_outcomes(method, fp, observed, scores[who])
    assert scores["source"] > scores["stranger"], f"{name}: the source must match its fingerprint better than an " \
                                                  f"untrained model, got {scores}"


def check_outcomes(method: Method, fp: Fingerprint, observed: np.ndarray, score: float) -> None:
    """A `per_query` method's outcomes are one float32 per query whose mean is the score
    (the report recomputes scores for smaller query budgets from them); others give None."""
    outcomes = method.outcomes(fp, observed)
    if not method.per_query:
        assert outcomes is None, f"{method.name} records outcomes but does not declare per_query"
        return
    assert outcomes.shape == (len(fp.inputs),) and outcomes.dtype == np.float32
    assert abs(float(outcomes.astype(np.float64).mean()) - score) <= 1e-12, (method.name, score)
