"""`fpbench list`: what a spec may name, as tables a person reads and as JSON a script reads.

The tables wrap only between words and between parameters (`k=v` pairs never
break), so they stay readable at 80 columns and when piped to a file. `--json`
prints every registry in one object whose entries carry the same fields.
"""
from __future__ import annotations

import json
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

WHAT = ("methods", "attacks", "archs", "datasets", "presets")


def _value(value: Any) -> str:
    """A default as a spec would spell it, without spaces: lists joined by commas, floats short."""
    if isinstance(value, (list, tuple)):
        return ",".join(_value(v) for v in value) or "[]"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return "none" if value is None else str(value)


def _params(required: tuple[str, ...], defaults: dict[str, Any]) -> str:
    return " ".join([f"{key}=?" for key in required] + [f"{key}={_value(v)}" for key, v in defaults.items()])


def methods() -> list[dict]:
    from methods import get_method, list_methods

    rows = []
    for name in list_methods():
        cls = get_method(name)
        rows.append({"name": name, "access": cls.access, "summary": cls.summary, "defaults": dict(cls.defaults)})
    return rows


def attacks() -> list[dict]:
    from zoo.steps import get_step, list_attacks

    rows = []
    for name in list_attacks():
        kind = get_step(name)
        rows.append({"name": name, "summary": kind.summary, "required": list(kind.required),
                     "defaults": dict(kind.defaults)})
    return rows


def names(what: str) -> list[dict]:
    if what == "archs":
        from zoo.archs import list_archs

        return [{"name": name} for name in list_archs()]
    if what == "datasets":
        from zoo.datasets import list_datasets

        return [{"name": name} for name in list_datasets()]
    from engine.config import list_presets

    return [{"name": name} for name in list_presets()]


def entries(what: str) -> list[dict]:
    return methods() if what == "methods" else attacks() if what == "attacks" else names(what)


def as_json(chosen: tuple[str, ...]) -> str:
    return json.dumps({what: entries(what) for what in chosen}, indent=1, default=str)


def table(what: str, width: int) -> Table:
    """The registry `what` as a table `width` columns wide; a `k=v` pair is never cut."""
    rows = entries(what)
    grid = Table(title=what, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    grid.add_column("name", no_wrap=True, style="bold")
    if what not in ("methods", "attacks"):
        for row in rows:
            grid.add_row(row["name"])
        return grid
    fixed = [max(len(row["name"]) for row in rows)]
    if what == "methods":
        grid.add_column("access", no_wrap=True)
        fixed.append(max(len("access"), *(len(row["access"]) for row in rows)))
    params = [_params(tuple(row.get("required", ())), row["defaults"]) for row in rows]
    free = width - sum(fixed) - 3 * (len(fixed) + 1)  # a column separator takes 3
    longest = max((len(pair) for text in params for pair in text.split()), default=0)
    params_width = max(longest, free * 2 // 5)
    grid.add_column("summary", width=max(free - params_width, 16))
    grid.add_column("defaults" if what == "methods" else "parameters (=? required)", width=params_width)
    for row, text in zip(rows, params):
        grid.add_row(*([row["name"], row["access"]] if what == "methods" else [row["name"]]), row["summary"], text)
    return grid


def print_tables(chosen: tuple[str, ...], out: Console) -> None:
    for what in chosen:
        out.print(table(what, out.width))
