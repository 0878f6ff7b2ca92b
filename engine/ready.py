"""Ready jobs: one tier of them, the kind of job expected to take longest first, then the oldest job.

All jobs of one kind share their expected seconds (the scheduler learns one mean per
kind), so a tier keeps a heap of jobs per kind ordered by sequence number, and a heap
of kinds keyed by (-expected seconds, sequence number of the kind's first job). A
new measurement changes one kind's key: the kind is pushed again and the old key is
skipped when it surfaces. Pushing, peeking and popping cost O(log n).

Items are not checked here: the scheduler looks at the head and drops or moves an
item whose job is no longer ready in this tier.
"""
from __future__ import annotations

import heapq
import itertools
from typing import Any, Callable, Hashable

COMPACT_AT = 64  # stale kind keys tolerated, beyond 4 per kind, before the kind heap is rebuilt


class Tier:
    def __init__(self, expected: Callable[[Hashable], float]):
        self._expected = expected
        self._jobs: dict[Hashable, list] = {}  # kind -> heap of (seq, tick, item)
        self._kinds: list = []  # heap of (-expected seconds, seq of the kind's head, tick, kind)
        self._tick = itertools.count()  # breaks ties so items are never compared

    def __bool__(self) -> bool:
        return bool(self._jobs)

    def push(self, kind: Hashable, seq: int, item: Any) -> None:
        heap = self._jobs.setdefault(kind, [])
        new_front = not heap or seq < heap[0][0]
        heapq.heappush(heap, (seq, next(self._tick), item))
        if new_front:
            self._push_kind(kind, seq)

    def touch(self, kind: Hashable) -> None:
        """The expected seconds of `kind` changed."""
        heap = self._jobs.get(kind)
        if heap:
            self._push_kind(kind, heap[0][0])

    def peek(self) -> tuple[Hashable, Any] | None:
        """(kind, item) at the front, without removing it."""
        while self._kinds:
            neg, seq, _, kind = self._kinds[0]
            heap = self._jobs.get(kind)
            if heap and heap[0][0] == seq and -neg == self._expected(kind):
                return kind, heap[0][2]
            heapq.heappop(self._kinds)  # an old key of this kind
        return None

    def pop(self, kind: Hashable) -> None:
        """Remove the front item of `kind` (the one `peek` returned)."""
        heap = self._jobs[kind]
        heapq.heappop(heap)
        if heap:
            self._push_kind(kind, heap[0][0])
        else:
            del self._jobs[kind]

    def items(self) -> list[tuple[Hashable, int, Any]]:
        """Every (kind, seq, item) held, checked or not: for listing, not dispatch."""
        return [(kind, seq, item) for kind, heap in self._jobs.items() for seq, _, item in heap]

    def _push_kind(self, kind: Hashable, seq: int) -> None:
        heapq.heappush(self._kinds, (-self._expected(kind), seq, next(self._tick), kind))
        if len(self._kinds) > 4 * len(self._jobs) + COMPACT_AT:
            self._kinds = [(-self._expected(k), heap[0][0], next(self._tick), k) for k, heap in self._jobs.items()]
            heapq.heapify(self._kinds)


class Pending:
    """A job not done yet, what it still waits for, and where it is queued (the scheduler's entry)."""

    __slots__ = ("job", "seq", "needs", "fps", "missing", "fps_missing", "inputs_missing", "slot", "live", "running")

    def __init__(self, job, seq: int, needs: set[str], fps: tuple[str, ...]):
        self.job, self.seq, self.needs, self.fps = job, seq, needs, fps
        self.missing: set[str] = set()  # needed models not built yet
        self.fps_missing: set[str] = set()
        self.inputs_missing: set[str] | None = None  # a query's: what training its suspect early needs
        self.slot = None  # (tier, kind of work) it is queued under, the scheduler's PARKED, or None
        self.live, self.running = True, False
