"""Live progress of a run: overall bars plus one line per node (trained / queried / failed)."""
from __future__ import annotations

import time
from collections import defaultdict
from typing import Callable

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from engine.jobs import JobResult


class RunProgress:
    def __init__(self, models_total: int, queries_total: int, enabled: bool = True):
        self.progress = Progress(TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), disable=not enabled, transient=False)
        self.models = self.progress.add_task("models", total=models_total)
        self.queries = self.progress.add_task("queries", total=queries_total)
        self.failed = self.progress.add_task("failed jobs", total=None, visible=False)
        self.per_node: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._node_tasks: dict[str, int] = {}
        self.events: dict[str, int] = defaultdict(int)
        self.jobs_done = 0
        self.busy_seconds = 0.0  # time workers spent inside jobs: wall time minus this is overhead
        self._refresh: tuple[float, Callable[[], None]] | None = None
        self._refreshed = time.monotonic()

    def refresh_every(self, seconds: float, action: Callable[[], None]) -> None:
        """Call `action` after a finished job whenever `seconds` have passed since the last call
        (the run's tables then follow the run, so a killed run still reports what it did)."""
        self._refresh = (seconds, action)

    def __enter__(self) -> "RunProgress":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def _node_line(self, node: str) -> None:
        counts = self.per_node[node]
        text = f"  {node[:20]}: trained {counts['trained']} · queried {counts['queried']} · failed {counts['failed']}"
        if node not in self._node_tasks:
            self._node_tasks[node] = self.progress.add_task(text, total=None, start=False)
        self.progress.update(self._node_tasks[node], description=text)

    def job_done(self, result: JobResult) -> None:
        self.jobs_done += 1
        self.busy_seconds += result.seconds
        for kind, count in result.events.items():
            self.events[kind] += count
            self.per_node[result.node][kind] += count
        self.progress.advance(self.queries, result.events.get("queried", 0))
        if result.job.kind == "query":
            self.progress.advance(self.models)
        self._node_line(result.node)
        if self._refresh and time.monotonic() - self._refreshed >= self._refresh[0]:
            self._refreshed = time.monotonic()
            self._refresh[1]()

    def job_failed(self, node: str, count: int) -> None:
        if not count:  # a dissolved pack: its members try again alone
            return
        self.events["failed"] += count
        self.per_node[node]["failed"] += count
        self.progress.update(self.failed, visible=True, advance=count)
        self._node_line(node)
