"""Contract test generated from the method registry: every method, tiny CPU setting.

The checks live in methods.testing so a plugin author runs the same ones; here they
run on every registered method (plugins included), so a new method is tested the
moment it is registered.
"""
import pytest

from methods import METHODS, get_method, list_methods
from methods.testing import check_method, check_tiny


@pytest.fixture(scope="module")
def cache():
    return {}


@pytest.mark.parametrize("name", list_methods())
def test_every_method_has_a_tiny_setting(name):
    check_tiny(name)


@pytest.mark.parametrize("name", list_methods())
def test_method_contract(name, digits, cache):
    check_method(name, digits, cache)


def test_seven_methods_score_per_query():
    """The matching-rate methods declare it; scores that pool all queries (a verifier, a
    correlation, a t-test) cannot be recomputed for a subset of queries and do not."""
    declared = {name for name in METHODS.builtins() if get_method(name).per_query}
    assert declared == {"ipguard", "cae", "metafinger", "naturalfinger", "marginfinger", "margin_wm", "ewe"}
