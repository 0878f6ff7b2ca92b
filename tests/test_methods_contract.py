"""Contract test generated from the method registry: every method, tiny CPU setting.

Owner-side models a method asks for are built from their derivation strings, as the
engine would, so a new method is tested the moment it is registered. A watermark
method (one with a `source_recipe`) is tested on its own marked source, built from
that recipe, since a clean source carries no watermark to verify.
"""
import numpy as np
import pytest
import torch

from methods import get_method, list_methods
from methods.base import OwnerContext
from zoo.archs import build_arch
from zoo.spec import canonical, derive_seed
from zoo.steps import StepContext, get_step

SOURCE = "train(cnn,digits,epochs=8)"


def build(text, digits, cache):
    """Build a derivation (and its prefixes) the way the worker does, memoised."""
    import copy

    model = None
    for prefix in canonical(text).prefixes():
        key = str(prefix)
        if key not in cache:
            step = prefix.last
            parent = copy.deepcopy(model) if model is not None else None
            cache[key] = get_step(step.name)().apply(parent, step.as_dict(), StepContext(digits, "cpu", derive_seed(prefix)))
        model = cache[key]
    return model


@pytest.fixture(scope="module")
def cache():
    return {}


@pytest.fixture(scope="module")
def source(digits, cache):
    return build(SOURCE, digits, cache)


def owner_source(method, source, digits, cache):
    """The source the owner fingerprints: the clean one, or the method's marked source."""
    source_id = str(canonical(SOURCE))
    recipe = method.source_recipe(source_id)
    if recipe is None:
        return source_id, source
    return str(canonical(recipe)), build(recipe, digits, cache)


def fingerprint(name, source, digits, cache, seed=3):
    import copy

    method = get_method(name)(**get_method(name).tiny)
    source_id, source = owner_source(method, source, digits, cache)
    owner = {mid: build(mid, digits, cache) for mid in method.owner_models(source_id)}
    return method, method.fingerprint(copy.deepcopy(source), OwnerContext(digits, "cpu", seed, owner))


def test_every_method_has_a_tiny_setting():
    for name in list_methods():
        assert get_method(name).tiny, f"{name} needs a `tiny` parameter set for CPU tests"


@pytest.mark.parametrize("name", list_methods())
def test_method_contract(name, source, digits, cache):
    method, fp = fingerprint(name, source, digits, cache)
    _, again = fingerprint(name, source, digits, cache)
    assert fp.inputs.ndim == 4 and fp.inputs.shape[1:] == digits.input_shape
    assert fp.inputs.dtype == np.float32 and np.isfinite(fp.inputs).all()
    assert np.array_equal(fp.inputs, again.inputs), "same seed must give the same fingerprint"
    _, source = owner_source(method, source, digits, cache)
    own = method.score(fp, method.observe(method.query(fp, source)))
    torch.manual_seed(123)
    stranger = build_arch("cnn", digits.input_shape, digits.num_classes).eval()
    other = method.score(fp, method.observe(method.query(fp, stranger)))
    assert np.isfinite(own) and np.isfinite(other)
    assert own > other, "the source must match its own fingerprint better than an untrained model"
    for model, score in ((source, own), (stranger, other)):
        observed = method.observe(method.query(fp, model))
        outcomes = method.outcomes(fp, observed)
        if not method.per_query:
            assert outcomes is None, f"{name} records outcomes but does not declare per_query"
            continue
        # the report recomputes the score for smaller query budgets as a mean of outcomes
        assert outcomes.shape == (len(fp.inputs),) and outcomes.dtype == np.float32
        assert float(outcomes.astype(np.float64).mean()) == pytest.approx(score, abs=1e-12)


def test_seven_methods_score_per_query():
    """The matching-rate methods declare it; scores that pool all queries (a verifier, a
    correlation, a t-test) cannot be recomputed for a subset of queries and do not."""
    declared = {name for name in list_methods() if get_method(name).per_query}
    assert declared == {"ipguard", "cae", "metafinger", "naturalfinger", "marginfinger", "margin_wm", "ewe"}
