"""Method registry: built-in names map to "module:Class", so listing methods imports no torch.

Third-party packages add methods through the `fpbench.methods` entry-point group
(see the README, "Writing a method"); each loads on first use and must subclass
`methods.base.Method`.
"""
from __future__ import annotations

from zoo.registry import Registry, subclass_of

METHODS = Registry("method", group="fpbench.methods", check=subclass_of("methods.base:Method"), builtins={
    "ipguard": "methods.ipguard:IPGuard",
    "cae": "methods.cae:CAE",
    "uap": "methods.uap:UAP",
    "sac_w": "methods.sac_w:SACW",
    "sac_m": "methods.sac_m:SACM",
    "metav": "methods.metav:MetaV",
    "metafinger": "methods.metafinger:MetaFinger",
    "naturalfinger": "methods.naturalfinger:NaturalFinger",
    "marginfinger": "methods.marginfinger:MarginFinger",
    "margin_wm": "methods.margin_wm:MarginWatermark",
    "ewe": "methods.ewe:EWE",
    "external_features": "methods.external_features:ExternalFeatures",
})


def list_methods() -> list[str]:
    """Every method name, built in or from a plugin, without importing any of them."""
    return METHODS.names()


def get_method(name: str):
    """The Method class registered under `name`."""
    return METHODS.get(name)


def register_method(name: str):
    """Class decorator: the class takes `name` and must be the one listed under it."""

    def decorate(cls):
        cls.name = name
        return METHODS.register(name)(cls)

    return decorate
