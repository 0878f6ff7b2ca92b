"""Every method parameter has a declared range, checked when a spec loads (before any training).

Generated from the registry: a parameter added without `bounds`, `choices` or a
`free` entry (listed in FREE below) fails here. A bool parameter is bounded by its type.
"""
import math

import pytest
from conftest import tiny_spec

from engine.config import SpecError, build_spec, load_spec
from methods import get_method, list_methods
from methods.base import Above, Below, MethodParamError, _Architectures

FREE: dict[str, set[str]] = {}  # parameters deliberately left unchecked, per method (none today)


def kind(cls, key):
    """The type a parameter's values (or list entries) must have."""
    default = cls.defaults[key]
    if isinstance(default, list):
        default = default[0] if default else None
    if default is not None:
        return type(default)
    lo, hi = cls.bounds.get(key, (None, None))
    return int if all(b is None or type(b) is int for b in (lo, hi)) else float


def outside(lo, hi, typ):
    """Values just outside an interval: the bound itself if exclusive, else the next value past it."""
    values = []
    if lo is not None:
        values.append(float(lo) if isinstance(lo, Above) else lo - 1 if typ is int else math.nextafter(lo, -math.inf))
    if hi is not None:
        values.append(float(hi) if isinstance(hi, Below) else hi + 1 if typ is int else math.nextafter(hi, math.inf))
    return values


def wrap(cls, key, value):
    """A parameter value carrying `value`: itself, or as the first entry of a list parameter."""
    return [value] if isinstance(cls.defaults[key], list) else value


def refused(name, key, **params):
    with pytest.raises(MethodParamError) as err:
        get_method(name)(**params)
    assert f"{name}.{key}" in str(err.value) and err.value.param == key
    return str(err.value)


@pytest.mark.parametrize("name", list_methods())
def test_every_parameter_has_a_declared_range(name):
    cls = get_method(name)
    assert set(cls.free) == FREE.get(name, set()), "a free parameter must be listed in FREE on purpose"
    assert all(reason.strip() for reason in cls.free.values()), "say why a parameter is free"
    declared = set(cls.bounds) | set(cls.choices) | set(cls.lengths) | set(cls.free)
    assert declared <= set(cls.defaults), f"declarations for unknown parameters: {declared - set(cls.defaults)}"
    typed_bools = {k for k, v in cls.defaults.items() if isinstance(v, bool)}
    missing = set(cls.defaults) - set(cls.bounds) - set(cls.choices) - set(cls.free) - typed_bools
    assert not missing, f"{name}: declare bounds or choices for {sorted(missing)}"
    lists = {k for k, v in cls.defaults.items() if isinstance(v, list)}
    assert lists <= set(cls.lengths), f"{name}: declare lengths for {sorted(lists - set(cls.lengths))}"


@pytest.mark.parametrize("name", list_methods())
def test_defaults_and_tiny_parameters_are_valid(name):
    cls = get_method(name)
    assert cls().params == cls.defaults
    cls(**cls.tiny)


@pytest.mark.parametrize("name", list_methods())
def test_values_just_outside_a_range_are_refused(name):
    cls = get_method(name)
    for key, (lo, hi) in cls.bounds.items():
        for value in outside(lo, hi, kind(cls, key)):
            message = refused(name, key, **{key: wrap(cls, key, value)})
            assert repr(value) in message
    for key, (lo, hi) in cls.lengths.items():
        entry = cls.defaults[key][0]
        for size in [n for n in (lo - 1, hi + 1) if n >= 0]:
            refused(name, key, **{key: [entry] * size})
    for key, options in cls.choices.items():
        allowed = options.names() if isinstance(options, _Architectures) else options
        assert cls.defaults[key] in allowed or all(v in allowed for v in cls.defaults[key])
        refused(name, key, **{key: wrap(cls, key, "no-such-choice")})


@pytest.mark.parametrize("name", list_methods())
def test_bools_nan_and_inf_are_refused_for_numbers(name):
    cls = get_method(name)
    for key in cls.bounds:
        if kind(cls, key) is int:
            refused(name, key, **{key: wrap(cls, key, True)})
        else:
            for bad in (math.nan, math.inf, -math.inf):
                refused(name, key, **{key: wrap(cls, key, bad)})


@pytest.mark.parametrize("params", [{"n": 0}, {"n": -5}, {"n": 10**9}, {"steps": -1}, {"steps": 0}])
def test_ipguard_refuses_degenerate_and_absurd_sizes(params):
    (key, value), = params.items()
    assert refused("ipguard", key, **params) == f"ipguard.{key} must be in [1, 100000], got {value}"


def test_none_means_inherit_but_other_values_are_checked():
    for name in ("ewe", "external_features"):
        assert get_method(name)(epochs=None).params["epochs"] is None
        get_method(name)(epochs=20)
        refused(name, "epochs", epochs=0)
        refused(name, "epochs", epochs="20")
        refused(name, "epochs", epochs=2.5)


def test_cross_parameter_rules():
    refused("sac_w", "min_n", n=10, min_n=20)
    refused("ewe", "target", source=3, target=3)
    refused("uap", "views", points=1000, views=100)
    refused("cae", "surrogates", surrogates=["cnn", "lenet"])
    refused("metav", "hidden", hidden=[64, 0])
    get_method("metav")(hidden=[])  # a linear verifier


def test_a_spec_with_a_bad_method_parameter_is_refused_at_load(tmp_path, monkeypatch):
    import zoo.fit

    def no_training(*args, **kwargs):
        raise AssertionError("nothing may train before the spec is checked")

    monkeypatch.setattr(zoo.fit, "fit_many", no_training)
    monkeypatch.setattr(zoo.fit, "fit", no_training)
    with pytest.raises(SpecError) as err:
        build_spec(tiny_spec(methods=[{"name": "ipguard", "params": {"n": 0}}]))
    assert err.value.path in ("methods[0].params", "methods[0].params.n")  # the config may name the parameter
    assert "ipguard.n must be in [1, 100000], got 0" in str(err.value)

    spec = tmp_path / "bad.toml"
    spec.write_text('[dataset]\nname = "digits"\n[[methods]]\nname = "ipguard"\nparams = { steps = -1 }\n')
    with pytest.raises(SpecError) as err:
        load_spec(spec)
    assert err.value.path.startswith("methods[0].params")
    assert "ipguard.steps must be in [1, 100000], got -1" in str(err.value)

    spec.write_text('[dataset]\nname = "digits"\n[[methods]]\nname = "cae"\nparams = { eps = nan }\n')
    with pytest.raises(SpecError) as err:
        load_spec(spec)
    assert err.value.path.startswith("methods[0].params") and "eps" in str(err.value) and "finite" in str(err.value)
