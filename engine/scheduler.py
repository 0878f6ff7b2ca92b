"""Which job may run next: the plan's DAG as a ready queue, without any Ray.

Three kinds of job, each naming what it produces:
- `train`: a model needed by others (the source, owner-side models, intermediates)
  or a suspect trained early while fingerprints are still being made; or a pack of
  sibling models (the plan's packs) trained together, suspects included, whose
  queries then wait for the pack;
- `fingerprint`: needs its source and the method's owner-side models;
- `query`: a suspect, trained if needed and queried by every pending method while it
  is in memory; needs its parent and the fingerprints it is queried with.
A job is ready once what it needs exists. A failed job fails everything downstream
of it, which the run records instead of waiting forever.

Among ready jobs, fingerprints go first (every query waits for them), then the
models a fingerprint waits for (the source, owner-side models), then other models
others need, then suspects; within each, the longest expected job first, so that a
slow MobileNet distillation does not start last and leave the other workers idle
at the end. Expected seconds are learned as the run goes, per kind of job (an
unseen kind counts as long, so its first instance runs early and is measured).

The queue is kept up to date as outcomes arrive, so a dispatch costs O(log n) on a
plan of any size: each pending job knows what it still waits for, each output knows
the jobs that wait for it, and ready jobs sit in one `engine.ready.Tier` per tier.
A job whose tier or kind changed, or whose output another job is building, is moved
or set aside when it reaches the front.
"""
from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass

from engine.plan import Plan, QueryJob
from engine.ready import Pending, Tier
from engine.work_left import work_left

FINGERPRINTS, FOR_FINGERPRINTS, OTHER_MODELS, SUSPECTS, EARLY = range(5)  # tiers, the first goes first
PARKED = "parked"  # ready, but another job is building the same output
KINDS = ("fingerprint", "train", "query")


@dataclass(frozen=True)
class Job:
    kind: str  # train | fingerprint | query
    key: str  # model_id, fingerprint_id, or "pack:<id>"
    queries: tuple[QueryJob, ...] = ()
    members: tuple[str, ...] = ()  # a pack's models still to train

    def describe(self) -> str:
        if self.members:
            return f"train pack of {len(self.members)} ({self.members[0][:60]}, ...)"
        return f"{self.kind} {self.key[:80]}"

    @property
    def models(self) -> tuple[str, ...]:
        """The models this job builds or queries."""
        return self.members or (() if self.kind == "fingerprint" else (self.key,))


class Scheduler:
    def __init__(self, plan: Plan, stored_models: set[str], stored_fingerprints: set[str], pending: list[QueryJob],
                 rebuild: set[str] = frozenset()):
        """`rebuild`: models and fingerprints to make again although no pending query needs them
        (the ones a resumed run found damaged and cleared)."""
        self.plan = plan
        self.models = set(stored_models)
        self.fingerprints = set(stored_fingerprints)
        self.failed: dict[str, str] = {}  # output key -> reason
        self.running: set[Job] = set()
        self._seconds: dict[tuple, list] = {}  # kind of job -> [total seconds, count]
        work = work_left(plan, self.models, self.fingerprints, pending, rebuild)
        self.fp_jobs, self.fp_needs, self.required = work.fingerprints, work.fp_needs, work.required
        self.query_jobs = {m: Job("query", m, tuple(qs)) for m, qs in work.queries.items()}
        self._methods = {f.fingerprint_id: f.method for f in plan.fingerprints}
        self._wants = work.fp_wants  # fingerprint -> the models it waits for, ancestors included
        self._wanted = Counter(m for wanted in self._wants.values() for m in wanted)
        to_build = {*self.required, *self.query_jobs} - self.models

        self._tiers = [Tier(self._expected) for _ in range(EARLY + 1)]
        self._live: dict[tuple[str, str], Pending] = {}  # (kind, key) -> its pending entry
        self._dependents: dict[str, list[Pending]] = defaultdict(list)  # model -> entries that need it
        self._fp_dependents: dict[str, list[Pending]] = defaultdict(list)
        self._busy: Counter[str] = Counter()  # keys of running jobs
        self._shapes: dict[str, tuple[str, str]] = {}  # model -> (arch, last step)
        self._seq = itertools.count()
        self.packed: dict[str, str] = {}  # model id -> key of the pack job that trains it
        self.train_jobs: dict[str, Job] = {}
        entries = [self._register(Job("fingerprint", fid)) for fid in self.fp_jobs]
        for model_id in sorted(to_build):
            if model_id in self.packed:
                continue
            members = tuple(m for m in plan.packs.get(model_id, ()) if m in to_build)
            if len(members) > 1:  # a resumed pack trains only what is missing
                entries.append(self._add_pack(members))
        for model_id in plan.nodes:  # topological: the source first among equals
            if model_id in self.required and model_id not in self.packed:
                self.train_jobs[model_id] = Job("train", model_id)
                entries.append(self._register(self.train_jobs[model_id]))
        entries += [self._register(job) for job in self.query_jobs.values()]
        for entry in entries:
            self._reroute(entry)

    # ----------------------------------------------------------------- readiness
    def _inputs(self, model_id: str) -> set[str]:
        """The models that must exist before `model_id` is built: its parent, and its source,
        which the worker compares it with (without this, a worker would train the source a
        second time to measure an independent model's agreement)."""
        node = self.plan.nodes[model_id]
        return {node.parent_id, node.source_id} - {None, model_id}

    def _needs(self, job: Job) -> set[str]:
        """The models that must exist before `job` starts; a packed suspect's query waits for its pack."""
        if job.kind == "fingerprint":
            return self.fp_needs[job.key]
        if job.members:
            return set().union(*(self._inputs(m) for m in job.members)) - set(job.members)
        if job.kind == "query" and job.key in self.packed:
            return self._inputs(job.key) | {job.key}
        return self._inputs(job.key)

    def _kind_of_work(self, job: Job) -> tuple:
        """Jobs of one kind take about as long: same method, or same architecture and last step,
        and whether the model still has to be trained."""
        if job.kind == "fingerprint":
            return ("fingerprint", self._methods[job.key])
        model_id = job.models[0]
        shape = self._shapes.get(model_id)
        if shape is None:
            node = self.plan.nodes[model_id]
            shape = self._shapes[model_id] = (node.arch, node.derivation.last.name)
        return (job.kind, len(job.members), job.key in self.models, *shape)

    def _expected(self, kind: tuple) -> float:
        seen = self._seconds.get(kind)
        return seen[0] / seen[1] if seen else float("inf")

    def expected_seconds(self, job: Job) -> float:
        return self._expected(self._kind_of_work(job))

    def _route(self, entry: Pending):
        """Where `entry` belongs now: (tier, kind of work), PARKED, or None (not ready)."""
        job = entry.job
        if not entry.live or entry.running:
            return None
        if self._busy.get(job.key):  # one job builds a model
            return PARKED
        if not entry.missing and not entry.fps_missing:
            if job.kind == "fingerprint":
                return FINGERPRINTS, self._kind_of_work(job)
            if job.kind == "query":
                return SUSPECTS, self._kind_of_work(job)
            wanted = any(self._wanted[m] for m in job.models)
            return (FOR_FINGERPRINTS if wanted else OTHER_MODELS), self._kind_of_work(job)
        if (entry.inputs_missing == set() and self.fp_jobs and job.key not in self.models and job.key not in self.packed
                and job.key not in self.train_jobs and job.key not in self.failed):
            return EARLY, self._kind_of_work(Job("train", job.key))  # its suspect may train before its fingerprints
        return None

    def _reroute(self, entry: Pending) -> None:
        target = self._route(entry)
        if target == entry.slot:
            return
        entry.slot = target
        if target is not None and target != PARKED:
            self._tiers[target[0]].push(target[1], entry.seq, entry)

    def _front(self, tier: int) -> tuple[tuple, Pending] | None:
        """The first job of `tier` that is still ready there; the others are moved or dropped."""
        queue = self._tiers[tier]
        while (front := queue.peek()) is not None:
            kind, entry = front
            if entry.slot == (tier, kind) and self._route(entry) == entry.slot:
                return front
            queue.pop(kind)
            if entry.slot == (tier, kind):  # its tier or kind changed, or another job builds its output
                entry.slot = None
                self._reroute(entry)
        return None

    def ready(self) -> list[Job]:
        """Ready jobs in the order `next_job` hands them out; scans every pending job (for tests, not dispatch)."""
        listed, early = [], []
        for entry in self._live.values():
            target = self._route(entry)
            if target is not None and target != PARKED:
                (early if target[0] == EARLY else listed).append((target[0], -self._expected(target[1]), entry.seq,
                                                                 entry.job))
        if not listed and self.fp_jobs:  # a worker would idle while fingerprints are made: train suspects
            listed = [(tier, expected, seq, Job("train", job.key)) for tier, expected, seq, job in early]
        return [job for *_, job in sorted(listed, key=lambda item: item[:3])]

    def next_job(self) -> Job | None:
        for tier in (FINGERPRINTS, FOR_FINGERPRINTS, OTHER_MODELS, SUSPECTS):
            if (front := self._front(tier)) is not None:
                self._tiers[tier].pop(front[0])
                entry = front[1]
                entry.slot, entry.running = None, True
                return self._start(entry.job)
        if self.fp_jobs and (front := self._front(EARLY)) is not None:
            self._tiers[EARLY].pop(front[0])
            front[1].slot = None  # its query waits on; the key is busy until the training ends
            return self._start(Job("train", front[1].job.key))
        return None

    def _start(self, job: Job) -> Job:
        self.running.add(job)
        self._busy[job.key] += 1
        return job

    # ----------------------------------------------------------------- outcomes
    def complete(self, job: Job, trained: set[str] = frozenset(), seconds: float | None = None) -> None:
        if seconds is not None:  # its kind is still what it was at dispatch: nothing is marked done yet
            kind = self._kind_of_work(job)
            seen = self._seconds.setdefault(kind, [0.0, 0])
            seen[0] += seconds
            seen[1] += 1
            for tier in self._tiers:
                tier.touch(kind)
        if job.kind == "fingerprint":
            self.fp_jobs.pop(job.key, None)
            self.fp_needs.pop(job.key, None)
            self._unwant(job.key)
            self._finish(job.kind, job.key)
            self._add_fingerprint(job.key)
            built: tuple[str, ...] = ()
        elif job.kind == "train":
            self.train_jobs.pop(job.key, None)
            self._finish(job.kind, job.key)
            built = job.models
        else:
            self.query_jobs.pop(job.key, None)
            self._finish(job.kind, job.key)
            built = (job.key,)
        self._add_models([*trained, *built])
        self._release(job)

    def retry(self, job: Job) -> None:
        """Put a job whose worker died back in the queue."""
        self._release(job)

    def _release(self, job: Job) -> None:
        """`job` no longer runs: it, and jobs set aside because they build the same output, may go again."""
        if job not in self.running:
            return
        self.running.discard(job)
        entry = self._live.get((job.kind, job.key))
        if entry is not None and entry.job == job:
            entry.running = False
        self._busy[job.key] -= 1
        if not self._busy[job.key]:
            del self._busy[job.key]
            self._reroute_key(job.key)

    def _reroute_key(self, key: str) -> None:
        for kind in KINDS:
            if (entry := self._live.get((kind, key))) is not None:
                self._reroute(entry)

    def _add_models(self, model_ids) -> None:
        for model_id in model_ids:
            if model_id in self.models:
                continue
            self.models.add(model_id)
            for entry in self._dependents.get(model_id, ()):
                if entry.live:
                    entry.missing.discard(model_id)
                    if entry.inputs_missing is not None:
                        entry.inputs_missing.discard(model_id)
                    self._reroute(entry)
            self._reroute_key(model_id)  # its query's kind of work changed: the model exists now

    def _add_fingerprint(self, fid: str) -> None:
        self.fingerprints.add(fid)
        for entry in self._fp_dependents.get(fid, ()):
            if entry.live:
                entry.fps_missing.discard(fid)
                self._reroute(entry)

    def _unwant(self, fid: str) -> None:
        """A fingerprint no longer waits: its models drop to the tier of other models (when they reach the front)."""
        for model_id in self._wants.pop(fid, ()):
            self._wanted[model_id] -= 1

    def fail(self, job: Job, reason: str) -> list[Job]:
        """Drop a job for good, and every job that needed its output; returns all dropped.

        A pack that keeps failing is dissolved instead: the fault may be one member's,
        so each member tries again alone and only a member that fails alone is dropped.
        """
        self._release(job)
        if len(job.members) > 1:
            for entry in self._dissolve(job):
                self._reroute(entry)
            return []
        dropped, lost_models, lost_fps, waiting = [job], set(), set(), []

        def lose(lost: Job) -> None:
            for model_id in lost.models:
                if model_id not in lost_models:
                    lost_models.add(model_id)
                    waiting.append(self._dependents.get(model_id, ()))
            if lost.kind == "fingerprint":
                lost_fps.add(lost.key)
                waiting.append(self._fp_dependents.get(lost.key, ()))

        def check(entry: Pending) -> None:
            if not entry.live:
                return
            hit = {m for m in entry.job.members if self._inputs(m) & lost_models}
            if hit and len(hit) < len(entry.job.members):  # pack mates that lost nothing still train
                for changed in self._repack(entry.job, hit):
                    touched.append(changed)
                    check(changed)
            elif entry.needs & lost_models or lost_fps.intersection(entry.fps):
                dropped.append(entry.job)
                self._drop(entry.job)
                lose(entry.job)

        touched: list[Pending] = []
        self._drop(job)
        lose(job)
        while waiting:
            for entry in list(waiting.pop()):
                check(entry)
        own = {job.key, *job.members}  # a model's query job shares its key: the model keeps its own reason
        for lost in dropped:
            for key in (lost.key, *lost.members):
                if lost is job or key not in own:
                    self.failed[key] = reason if lost is job else f"needs {job.describe()}, which failed"
            if lost.kind == "train":  # its suspects may train themselves now
                touched += [e for m in lost.models if (e := self._live.get(("query", m))) is not None]
        for entry in touched:
            self._reroute(entry)
        return dropped

    def _repack(self, pack: Job, leaving: set[str]) -> list[Pending]:
        """Dissolve a waiting pack and pack again those members not `leaving` it; returns the changed entries."""
        rest = tuple(m for m in pack.members if m not in leaving)
        if len(rest) < 2:
            return self._dissolve(pack)
        self.train_jobs.pop(pack.key, None)
        self._finish("train", pack.key)
        return [self._add_pack(rest), *self._unpack(tuple(m for m in pack.members if m in leaving))]

    def _dissolve(self, pack: Job) -> list[Pending]:
        self.train_jobs.pop(pack.key, None)
        self._finish("train", pack.key)
        return self._unpack(pack.members)

    def _unpack(self, members: tuple[str, ...]) -> list[Pending]:
        """Members that leave their pack train alone; their queries no longer wait for the pack."""
        changed = []
        for model_id in members:
            del self.packed[model_id]
            if model_id in self.required:  # a suspect alone is trained by its query job
                self.train_jobs[model_id] = Job("train", model_id)
                changed.append(self._register(self.train_jobs[model_id]))
            if (query := self._live.get(("query", model_id))) is not None:
                changed.append(self._register(query.job, query.seq))
        return changed

    def _add_pack(self, members: tuple[str, ...]) -> Pending:
        job = Job("train", f"pack:{members[0]}", members=members)
        self.train_jobs[job.key] = job
        self.packed.update({model_id: job.key for model_id in members})
        return self._register(job)

    def _register(self, job: Job, seq: int | None = None) -> Pending:
        """A fresh entry for `job` (replacing any entry under its key), linked to what it needs."""
        fps = tuple(dict.fromkeys(q.fingerprint_id for q in job.queries))
        entry = Pending(job, next(self._seq) if seq is None else seq, self._needs(job), fps)
        entry.missing = entry.needs - self.models
        entry.fps_missing = set(fps) - self.fingerprints
        if job.kind == "query":
            entry.inputs_missing = self._inputs(job.key) - self.models
        old = self._live.get((job.kind, job.key))
        if old is not None:
            old.live = False
            entry.running = old.running and old.job == job
        self._live[(job.kind, job.key)] = entry
        for model_id in entry.needs:
            self._dependents[model_id].append(entry)
        for fid in fps:
            self._fp_dependents[fid].append(entry)
        return entry

    def _finish(self, kind: str, key: str) -> None:
        if (entry := self._live.pop((kind, key), None)) is not None:
            entry.live = False

    def _drop(self, job: Job) -> None:
        if job.kind == "fingerprint":
            self.fp_jobs.pop(job.key, None)
            self.fp_needs.pop(job.key, None)
            self._unwant(job.key)
        elif job.kind == "train":
            self.train_jobs.pop(job.key, None)
        else:
            self.query_jobs.pop(job.key, None)
        self._finish(job.kind, job.key)

    def jobs_left(self) -> int:
        return len(self.fp_jobs) + len(self.train_jobs) + len(self.query_jobs) + len(self.running)

    def finished(self) -> bool:
        return not (self.fp_jobs or self.train_jobs or self.query_jobs) and not self.running
