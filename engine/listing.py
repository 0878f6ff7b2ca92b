"""`fpbench list`: what a spec may name, as tables a person reads and as JSON a script reads.

The tables wrap only between words and between parameters (`k=v` pairs never
break), so they stay readable at 80 columns and when piped to a file. `--json`
prints every registry in one object whose entries carry the same fields. Each entry
says where it comes from (`builtin` or the plugin's distribution: a `from` column, or
for methods and attacks the start of the summary); a plugin that cannot be used is
left out of its registry and listed under `broken` with its error.
"""
from __future__ import annotations

import json
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from zoo.registry import BUILTIN, BrokenEntry

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


def registry(what: str):
    """The registry behind `what` (None for the bundled specs), and the names it lists."""
    if what == "methods":
        from methods import METHODS

        return METHODS, METHODS.names()
    if what == "attacks":
        from zoo.steps import STEPS, list_attacks

        return STEPS, list_attacks()
    if what == "archs":
        from zoo.archs import ARCHS

        return ARCHS, ARCHS.names()
    if what == "datasets":
        from zoo.datasets import DATASETS

        return DATASETS, DATASETS.names()
    from engine.config import list_presets

    return None, list_presets()


def _row(what: str, name: str, obj: Any) -> dict:
    if what == "methods":
        return {"name": name, "access": obj.access, "summary": obj.summary, "defaults": dict(obj.defaults)}
    if what == "attacks":
        return {"name": name, "summary": obj.summary, "required": list(obj.required), "defaults": dict(obj.defaults)}
    return {"name": name}


def entries(what: str) -> list[dict]:
    """One row per usable entry; loading each is what finds a plugin that cannot be used."""
    found, listed = registry(what)
    rows = []
    for name in listed:
        if found is None:
            rows.append({"name": name})
            continue
        try:
            obj = found.get(name)
        except BrokenEntry:
            continue  # reported by broken()
        rows.append({**_row(what, name, obj), "origin": found.origin(name)})
    return rows


def broken(chosen: tuple[str, ...]) -> list[dict]:
    """The plugin entries of the chosen registries that were left out, each with its error."""
    out = []
    for what in chosen:
        found, _ = registry(what)
        if found is not None:
            out += [{"registry": what, "name": p.name, "origin": p.origin, "error": p.error} for p in found.problems()]
    return out


def as_json(chosen: tuple[str, ...]) -> str:
    listed = {what: entries(what) for what in chosen}
    return json.dumps({**listed, "broken": broken(chosen)}, indent=1, default=str)


def table(what: str, width: int) -> Table:
    """The registry `what` as a table `width` columns wide; a `k=v` pair is never cut."""
    rows = entries(what)
    grid = Table(title=what, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    grid.add_column("name", no_wrap=True, style="bold")
    if what not in ("methods", "attacks"):
        if what != "presets":
            grid.add_column("from", no_wrap=True)
        for row in rows:
            grid.add_row(*([row["name"], row["origin"]] if what != "presets" else [row["name"]]))
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
        lead = [row["name"], row["access"]] if what == "methods" else [row["name"]]
        grid.add_row(*lead, _from(row) + row["summary"], text)
    return grid


def _from(row: dict) -> str:
    """A plugin's summary starts with its distribution (a column would squeeze the summary at 80)."""
    return "" if row["origin"] == BUILTIN else f"(from {row['origin']}) "


def broken_table(problems: list[dict]) -> Table:
    grid = Table(title="broken plugins (left out)", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                 pad_edge=False)
    for column in ("registry", "name", "from"):
        grid.add_column(column, no_wrap=True, style="bold" if column == "name" else None)
    grid.add_column("error")
    for p in problems:
        grid.add_row(p["registry"], p["name"], p["origin"], p["error"])
    return grid


def print_tables(chosen: tuple[str, ...], out: Console) -> None:
    for what in chosen:
        out.print(table(what, out.width))
    problems = broken(chosen)
    if problems:
        out.print(broken_table(problems))
