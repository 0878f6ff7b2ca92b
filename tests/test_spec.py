"""Derivation strings: parse, canonical print, round trip, clear errors."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.spec import DerivationError, canonical, derive_seed, parse_steps

SOURCE = "train(cnn,digits,split=defender,seed=0)"


def test_defaults_are_made_explicit_and_sorted():
    d = canonical(SOURCE)
    assert str(d) == "train(cnn,digits,batch=64,epochs=30,lr=0.001,opt=adam,seed=0,split=defender,wd=0.0)"


def test_equal_recipes_give_equal_strings():
    a = canonical(f"{SOURCE}->finetune(lr=0.005,mode=ftal)")
    b = canonical("train(cnn, digits, seed=0) -> finetune(mode=ftal, epochs=10)")
    assert str(a) == str(b)
    assert derive_seed(a) == derive_seed(b)
    assert derive_seed(a) != derive_seed(a.parent)


def test_int_is_coerced_to_a_float_parameter():
    assert canonical(f"{SOURCE}->prune(rate=0)").last.get("rate") == 0.0


def test_prefixes_and_parent():
    d = canonical(f"{SOURCE}->prune(rate=0.5)->finetune(epochs=5)")
    assert [p.last.name for p in d.prefixes()] == ["train", "prune", "finetune"]
    assert str(d.parent) == str(canonical(f"{SOURCE}->prune(rate=0.5)"))


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("train(cnn,digits)->prnue(rate=0.5)", "unknown step 'prnue'; allowed:"),
        ("train(cnn,digits)->prune(ratio=0.5)", "no parameter 'ratio'; allowed: rate, rep, scope"),
        ("train(cnn,digits)->prune(rate=1.5)", "must be in [0, 1)"),
        ("train(cnn,digits)->finetune(mode=ftxx)", "allowed: ftll, ftal, rtll, rtal"),
        ("train(nope,digits)", "unknown; allowed:"),
        ("prune(rate=0.5)", "can only appear after a root step"),
        ("train(cnn,digits)->train(cnn,digits)", "can only appear first"),
        ("train(cnn,digits", "expected ')'"),
        ("train(cnn,digits)->distill(temp=2)", "needs parameter 'arch'"),
        ("train(cnn,digits)->finetune(epochs=ten)", "must be int"),
    ],
)
def test_bad_strings_name_the_problem(text, fragment):
    with pytest.raises(DerivationError) as err:
        canonical(text)
    assert fragment in str(err.value)


values = st.one_of(
    st.integers(-1000, 1000),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.booleans(),
    st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(lambda s: s not in ("true", "false")),
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z][a-z_]{0,6}", fullmatch=True), values, max_size=5))
def test_parse_print_round_trip(params):
    from zoo.spec import Step

    step = Step.of("finetune", params)
    text = f"{SOURCE}->{step}"
    parsed = parse_steps(text)[1]
    assert parsed == step
    assert str(parsed) == str(step)


@settings(max_examples=50, deadline=None)
@given(rate=st.floats(0.0, 0.99), epochs=st.integers(1, 50), mode=st.sampled_from(["ftll", "ftal", "rtll", "rtal"]))
def test_canonical_is_a_fixed_point(rate, epochs, mode):
    d = canonical(f"{SOURCE}->prune(rate={rate!r})->finetune(mode={mode},epochs={epochs})")
    assert str(canonical(str(d))) == str(d)


def test_replicate_index_changes_only_the_seed():
    a = canonical(f"{SOURCE}->distill(arch=mlp)")
    b = canonical(f"{SOURCE}->distill(arch=mlp,rep=0)")
    c = canonical(f"{SOURCE}->distill(arch=mlp,rep=2)")
    assert str(a) == str(b) and "rep=" not in str(a)
    assert "rep=2" in str(c) and derive_seed(c) != derive_seed(a)
    with pytest.raises(DerivationError, match="non-negative integer"):
        canonical(f"{SOURCE}->distill(arch=mlp,rep=-1)")
