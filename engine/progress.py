"""What a person sees while a run goes: a live view on a terminal, plain lines anywhere else.

On a terminal, rich draws bars (models, fingerprints, queries), the ETA and one
line per worker. Off a terminal (a log file, CI, `nohup`, `ray submit`) a live view
draws nothing, so a plain line is printed at a steady pace instead: every
`every_s` seconds or every `every_share` of the jobs, whichever comes first. Both
show the ETA of `engine.eta`. A heartbeat (`engine.heartbeat`), written every few
seconds and at each `every_share` of the jobs, lets `fpbench status` follow the
run from another shell or machine.

Jobs finish on the driver's thread, which alone touches the scheduler; it leaves an
immutable `Snapshot` that a timer thread prints and writes between jobs, so a line
still comes every `every_s` while one long job runs.
"""
from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Callable, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from engine.eta import Estimator, duration
from engine.jobs import JobResult
from engine.scheduler import Scheduler

PLAIN_EVERY_S = 30.0  # off a terminal: a progress line at least this often...
PLAIN_EVERY_SHARE = 0.05  # ...and each time this share of the jobs is done
ETA_EVERY_S = 1.0  # the ETA walks every job left: recomputed at most this often between lines...
ETA_SHARE = 0.02  # ...and rarer on a plan so large that the walk would take more of the driver's time
MAX_LISTED_FAILURES = 50  # failures named in the heartbeat; the count is always complete


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def worker_label(result: JobResult) -> str:
    """A worker's name: a local worker's node already names its process; a Ray node holds several actors."""
    return result.node if str(result.pid) in result.node or result.node == "local" else f"{result.node[:12]}:{result.pid}"


class NoteColumn(ProgressColumn):
    """A task's `note` field, if it has one: the run's ETA, beside the first bar."""

    def render(self, task) -> Text:
        return Text(task.fields.get("note", ""))


@dataclass(frozen=True)
class Counts:
    """Per kind of output (models, fingerprints, queries): how many the plan has, and how many exist."""

    total: dict[str, int]
    done: dict[str, int]


@dataclass(frozen=True)
class Snapshot:
    """The state of the run as of the last finished job; safe to read from another thread."""

    done: dict[str, int]
    failed: int = 0
    jobs_done: int = 0
    jobs_left: int = 0
    eta: float | None = None
    eta_at: float = 0.0  # monotonic time the ETA was computed
    workers: dict[str, dict] = field(default_factory=dict)
    failures: tuple[dict, ...] = ()

    def eta_now(self) -> float | None:
        return None if self.eta is None else max(self.eta - (time.monotonic() - self.eta_at), 0.0)


class RunProgress:
    def __init__(self, counts: Counts, enabled: bool = True, out: TextIO | None = None,
                 every_s: float = PLAIN_EVERY_S, every_share: float = PLAIN_EVERY_SHARE):
        self.counts, self.out = counts, out or sys.stdout
        console = Console(file=self.out)
        self.live = enabled and console.is_terminal
        self.plain = enabled and not self.live
        self.every_s, self.every_share = every_s, every_share
        self.progress = Progress(TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), NoteColumn(), console=console, disable=not self.live,
                                 transient=False)
        self._bars = {kind: self.progress.add_task(kind, total=counts.total[kind], completed=counts.done[kind])
                      for kind in ("models", "fingerprints", "queries")}
        self.failed = self.progress.add_task("failed jobs", total=None, visible=False)
        self.per_node: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._node_tasks: dict[str, int] = {}
        self.events: dict[str, int] = defaultdict(int)
        self.jobs_done = 0
        self.busy_seconds = 0.0  # time workers spent inside jobs: wall time minus this is overhead
        self.results: list[JobResult] = []  # what the end-of-run summary is made of
        self.estimator = Estimator()
        self.started = time.monotonic()
        self.started_at = now_iso()
        self._refresh: tuple[float, Callable[[], None]] | None = None
        self._refreshed = self.started
        self._sched: Scheduler | None = None
        self._workers, self._fixed_workers = 1, False
        self._beat: Callable[[dict], None] | None = None
        self._beat_every = 0.0
        self.workers_seen: dict[str, dict] = {}
        self.snapshot = Snapshot(done=dict(counts.done))
        self._eta_next = 0.0  # monotonic time from which the ETA may be recomputed between steps
        self._lines_lock = threading.Lock()
        self._last_line = self.started
        self._last_step = 0  # how many `every_share` steps of the jobs have been printed (and beaten)
        self._last_beat = self.started
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # ------------------------------------------------------------------ set-up
    def refresh_every(self, seconds: float, action: Callable[[], None]) -> None:
        """Call `action` after a finished job whenever `seconds` have passed since the last call
        (the run's tables then follow the run, so a killed run still reports what it did)."""
        self._refresh = (seconds, action)

    def track(self, sched: Scheduler, workers: int | None) -> None:
        """Estimate from `sched` what is left, for `workers` workers (None: as many as are seen busy)."""
        self._sched, self._workers = sched, workers or 1
        self._fixed_workers = workers is not None
        self._update(force=True)

    def heartbeat(self, every_s: float, write: Callable[[dict], None]) -> None:
        """Hand `write` the heartbeat record now, every `every_s` seconds and at each step of jobs,
        and once more at the end."""
        self._beat, self._beat_every = write, every_s
        write(self.record(finished=False))

    def __enter__(self) -> "RunProgress":
        self.progress.__enter__()
        self._ticker = threading.Thread(target=self._tick, name="fpbench-progress", daemon=True)
        self._ticker.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        self.progress.__exit__(*exc)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def finish(self) -> None:
        """The run ended normally: the heartbeat says so."""
        self._update(force=True)
        if self._beat:
            self._stop.set()
            if self._ticker is not None:
                self._ticker.join()  # no late beat from the timer may follow the final one
            self._beat(self.record(finished=True))

    # ------------------------------------------------------------------ events
    def job_done(self, result: JobResult) -> None:
        self.jobs_done += 1
        self.busy_seconds += result.seconds
        self.results.append(result)
        self.estimator.measured(result.job.kind, bool(result.trained), result.seconds)
        for kind, count in result.events.items():
            self.events[kind] += count
            self.per_node[result.node][kind] += count
        label = worker_label(result)
        seen = self.workers_seen.get(label, {"jobs": 0, "busy_s": 0.0})
        # a new record, never changed in place: a snapshot shares the others without copying them
        self.workers_seen[label] = {"jobs": seen["jobs"] + 1, "busy_s": round(seen["busy_s"] + result.seconds, 3),
                                    "last_seen": now_iso()}
        for bar, event in (("models", "trained"), ("fingerprints", "fingerprinted"), ("queries", "queried")):
            self.progress.advance(self._bars[bar], result.events.get(event, 0))
        self._node_line(result.node)
        self._update()
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
        self._update()

    # ------------------------------------------------------------------ state
    def _done(self) -> dict[str, int]:
        made = {"models": "trained", "fingerprints": "fingerprinted", "queries": "queried"}
        return {kind: min(self.counts.done[kind] + self.events.get(event, 0), self.counts.total[kind])
                for kind, event in made.items()}

    def _update(self, force: bool = False) -> None:
        """A new snapshot; the ETA is recomputed when due; a plain line and a heartbeat at each step of jobs."""
        sched, now = self._sched, time.monotonic()
        left = sched.jobs_left() if sched else 0
        eta, eta_at = self.snapshot.eta, self.snapshot.eta_at
        share = self.jobs_done / (self.jobs_done + left) if self.jobs_done + left else 1.0
        step = int(share / self.every_share) if self.every_share else 0
        stepped = step > self._last_step
        due = force or stepped or self.estimator.due(share) or now >= self._eta_next
        if sched and due:
            if not self._fixed_workers:
                self._workers = max(self._workers, len(sched.running) + 1, len(self.workers_seen))
            eta, eta_at = self.estimator.eta(sched, self._workers), now
            self._eta_next = now + max(ETA_EVERY_S, (time.monotonic() - now) / ETA_SHARE)
            self.estimator.checkpoint(share, now - self.started, eta)
            self.progress.update(self._bars["models"], note=f"run ETA {duration(eta)}")
        failures = tuple(self._failures(sched)) if sched and len(sched.failed) != len(self.snapshot.failures) else \
            self.snapshot.failures
        self.snapshot = replace(self.snapshot, done=self._done(), failed=self.events.get("failed", 0),
                                jobs_done=self.jobs_done, jobs_left=left, eta=eta, eta_at=eta_at,
                                workers=dict(self.workers_seen), failures=failures)
        if stepped:
            self._last_step = step
            if self.plain:
                self._print_line()
            if self._beat:
                self._beat(self.record(finished=False))

    def _failures(self, sched: Scheduler):
        labels = {f.fingerprint_id: f"fingerprint {f.label}" for f in sched.plan.fingerprints}
        for key, reason in sched.failed.items():
            yield {"what": labels.get(key, key), "reason": reason}

    def line(self) -> str:
        """The plain progress line of the latest snapshot."""
        snap, total = self.snapshot, self.counts.total
        parts = [f"{kind} {snap.done[kind]}/{total[kind]}" for kind in ("models", "fingerprints", "queries")]
        return (f"[{now_iso()}] progress: {', '.join(parts)}, failed {snap.failed}, "
                f"elapsed {duration(self.elapsed())}, ETA {duration(snap.eta_now())}")

    def _print_line(self) -> None:
        with self._lines_lock:
            self._last_line = time.monotonic()
            self.out.write(self.line() + "\n")
            self.out.flush()

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            now = time.monotonic()
            if self.plain and now - self._last_line >= self.every_s:
                self._print_line()
            if self._beat and now - self._last_beat >= self._beat_every:
                self._last_beat = now
                self._beat(self.record(finished=False))

    def record(self, finished: bool) -> dict:
        """The heartbeat: what `fpbench status` shows, as of now."""
        snap = self.snapshot
        return {
            "started_at": self.started_at, "updated_at": now_iso(), "finished": finished,
            "elapsed_s": round(self.elapsed(), 1),
            "driver": {"host": socket.gethostname(), "pid": os.getpid()},
            "total": dict(self.counts.total), "done": dict(snap.done),
            "jobs_done": snap.jobs_done, "jobs_left": 0 if finished else snap.jobs_left,
            "eta_s": 0.0 if finished else (None if snap.eta is None else round(snap.eta_now(), 1)),
            "failed": snap.failed, "failures": list(snap.failures[:MAX_LISTED_FAILURES]),
            "workers": snap.workers,
        }

    def _node_line(self, node: str) -> None:
        counts = self.per_node[node]
        text = f"  {node[:20]}: trained {counts['trained']} · queried {counts['queried']} · failed {counts['failed']}"
        if node not in self._node_tasks:
            self._node_tasks[node] = self.progress.add_task(text, total=None, start=False)
        self.progress.update(self._node_tasks[node], description=text)
