"""The error a spec problem raises, and the check of a value against its allowed names.

Apart from engine.config so the modules that read parts of a spec (engine.spec_files)
share them without importing each other.
"""
from __future__ import annotations


class SpecError(ValueError):
    """A spec problem; `path` is the dotted field path, e.g. `methods[0].name`."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


def choice(path: str, value: str, allowed: list[str]) -> str:
    if value not in allowed:
        raise SpecError(path, f"{value!r} is not allowed; allowed: {', '.join(allowed)}")
    return value
