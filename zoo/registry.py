"""One lazy name -> object registry for methods, step kinds, architectures and data sets.

An entry is a "module:attr" string, imported on first use, or an object already
imported; it is checked (a base class, a callable) when first loaded, so listing the
names imports no heavy code. Third-party packages add entries through an entry-point
group. A plugin that cannot be used (a name that clashes, an import error, the wrong
type) is recorded under its name with its error, and every other entry stays usable.
Duplicate names are an error so two packages can never silently shadow each other.
"""
from __future__ import annotations

import importlib
import importlib.metadata
from dataclasses import dataclass
from typing import Any, Callable

BUILTIN = "builtin"  # the origin of entries that ship with fpbench
Check = Callable[[str, Any], None]  # raises TypeError when an entry is not what the registry serves
_UNLOADED = object()


class UnknownName(KeyError):
    """A name that is not in a registry; the message lists the allowed names."""

    def __str__(self) -> str:  # KeyError would print the message with quotes
        return str(self.args[0])


class BrokenEntry(UnknownName):
    """A registered name that cannot be used; the message says where it comes from and why."""


@dataclass
class Problem:
    """A plugin entry that is left out, as `fpbench list` reports it."""

    name: str
    origin: str
    error: str


@dataclass
class _Entry:
    target: Any  # "module:attr" or the object itself
    origin: str
    value: Any = _UNLOADED
    error: Exception | None = None

    def reason(self) -> str:
        return f"{type(self.error).__name__}: {self.error}"


def resolve(target: str) -> Any:
    """The object a "module:attr" string names (attr may be dotted)."""
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def path_of(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', type(obj).__qualname__)}"


def subclass_of(base: str, named: bool = True) -> Check:
    """A check that an entry is a subclass of `base` ("module:Class", imported only when checking).

    With `named`, the class takes its registered name unless it declares its own, which
    must then be the same: a fingerprint or model id hashes that name.
    """

    def check(name: str, obj: Any) -> None:
        cls = resolve(base)
        if not (isinstance(obj, type) and issubclass(obj, cls)):
            raise TypeError(f"{path_of(obj)} is not a subclass of {base}")
        if not named:
            return
        declared = obj.__dict__.get("name")
        if declared is None:
            obj.name = name
        elif declared != name:
            raise TypeError(f"{path_of(obj)} declares name {declared!r} but is registered as {name!r}")

    return check


def is_callable(name: str, obj: Any) -> None:
    if not callable(obj):
        raise TypeError(f"{path_of(obj)} is not callable")


class Registry:
    """Names of one kind (`kind` words the messages), built in or added by `group`'s plugins."""

    def __init__(self, kind: str, group: str | None = None, check: Check = is_callable,
                 builtins: dict[str, Any] | None = None):
        self.kind, self.group, self._check = kind, group, check
        self._entries: dict[str, _Entry] = {}
        self._problems: list[Problem] = []  # plugin entries refused before loading (name clashes)
        self._discovered = group is None
        for name, target in (builtins or {}).items():
            self.add(name, target)

    def add(self, name: str, target: Any, origin: str = BUILTIN) -> None:
        """List `target` ("module:attr" or an object) under `name`; it is loaded on first use."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = _Entry(target, origin)

    def remove(self, name: str) -> None:
        del self._entries[name]

    def register(self, name: str) -> Callable[[Any], Any]:
        """Decorator: list an object under `name`, or confirm it is the one listed there."""

        def decorate(obj: Any) -> Any:
            self._discover()  # a plugin module imported directly must meet its own entry point
            entry = self._entries.get(name)
            if entry is None:
                self.add(name, obj)
            elif entry.target is not obj and entry.target != path_of(obj):
                raise ValueError(f"{self.kind} {name!r} is registered twice: {entry.target} and {path_of(obj)}")
            return obj

        return decorate

    def get(self, name: str) -> Any:
        """The object listed under `name`, imported and checked the first time it is asked for."""
        entry = self._entry(name)
        if entry.error is None and entry.value is _UNLOADED:
            try:
                value = resolve(entry.target) if isinstance(entry.target, str) else entry.target
                self._check(name, value)
                entry.value = value
            except Exception as err:  # noqa: BLE001  (whatever a plugin raises on import is its own error)
                entry.error = err
        if entry.error is not None:
            raise BrokenEntry(f"{self.kind} {name!r} ({entry.origin}) cannot be used: {entry.reason()}") from entry.error
        return entry.value

    def names(self) -> list[str]:
        """Every listed name, importing nothing but the entry-point metadata."""
        self._discover()
        return sorted(self._entries)

    def builtins(self) -> list[str]:
        return sorted(name for name, entry in self._entries.items() if entry.origin == BUILTIN)

    def origin(self, name: str) -> str:
        """"builtin", or the distribution that added `name`."""
        return self._entry(name).origin

    def name_of(self, obj: Any) -> str | None:
        """The name `obj` is listed under, among the entries that load; None when none is it."""
        for name in self.names():
            try:
                if self.get(name) is obj:
                    return name
            except BrokenEntry:
                continue
        return None

    def problems(self) -> list[Problem]:
        """Plugin entries left out so far: clashing names, and entries that failed to load."""
        self._discover()
        failed = [Problem(name, entry.origin, entry.reason())
                  for name, entry in sorted(self._entries.items()) if entry.error is not None]
        return self._problems + failed

    def forget_plugins(self) -> None:
        """Drop what entry points added, so the next lookup reads them again (tests patch them)."""
        for name in [name for name, entry in self._entries.items() if entry.origin != BUILTIN]:
            del self._entries[name]
        self._problems.clear()
        self._discovered = self.group is None

    def __contains__(self, name: object) -> bool:
        self._discover()
        return name in self._entries

    def _entry(self, name: str) -> _Entry:
        self._discover()
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownName(f"unknown {self.kind} {name!r}; allowed: {', '.join(self.names())}") from None

    def _discover(self) -> None:
        """Read the entry-point group once; a name offered twice, or a builtin's, is refused."""
        if self._discovered:
            return
        self._discovered = True
        offered: dict[str, list[Any]] = {}
        for point in importlib.metadata.entry_points(group=self.group):
            offered.setdefault(point.name, []).append(point)
        for name, points in sorted(offered.items()):
            origins = [_distribution(point) for point in points]
            if name in self._entries:
                clash = f"the name clashes with the {self._entries[name].origin} {self.kind} {name!r}"
                self._problems += [Problem(name, origin, clash) for origin in origins]
            elif len(points) > 1:
                clash = f"the name is offered by several distributions: {', '.join(origins)}"
                self._problems += [Problem(name, origin, clash) for origin in origins]
            else:
                self.add(name, points[0].value, origins[0])


def _distribution(point: Any) -> str:
    dist = getattr(point, "dist", None)
    return getattr(dist, "name", None) or f"entry point {point.value}"
