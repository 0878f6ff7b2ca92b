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
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from engine.plan import Plan, QueryJob


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
        self._seconds: dict[tuple, list[float]] = defaultdict(list)  # kind of job -> measured seconds
        by_model: dict[str, list[QueryJob]] = defaultdict(list)
        for q in pending:
            by_model[q.model_id].append(q)
        needed_fps = {q.fingerprint_id for q in pending} | (rebuild & {f.fingerprint_id for f in plan.fingerprints})
        self.fp_jobs = {f.fingerprint_id: f for f in plan.fingerprints
                        if f.fingerprint_id in needed_fps and f.fingerprint_id not in self.fingerprints}
        self.query_jobs = {m: Job("query", m, tuple(qs)) for m, qs in by_model.items()}
        self.fp_needs = {fid: {f.source_id, *f.owner_ids} for fid, f in self.fp_jobs.items()}
        required = {m for m in rebuild if m in plan.nodes and m not in self.query_jobs}  # those train themselves
        for model_id in list(required):
            required.update(plan.ancestors(model_id))
        for fid in self.fp_jobs:
            for model_id in self.fp_needs[fid]:  # owner models may be several steps from their root
                required.add(model_id)
                required.update(plan.ancestors(model_id))
        for model_id in self.query_jobs:
            required.update(plan.ancestors(model_id))
        for model_id in {*required, *self.query_jobs} - self.models:  # what is built needs its source
            source_id = plan.nodes[model_id].source_id
            if source_id != model_id:
                required.update({source_id, *plan.ancestors(source_id)})
        self.required = required - self.models
        to_build = {*self.required, *self.query_jobs} - self.models
        self.packed: dict[str, str] = {}  # model id -> key of the pack job that trains it
        self.train_jobs: dict[str, Job] = {}
        for model_id in sorted(to_build):
            members = tuple(m for m in plan.packs.get(model_id, ()) if m in to_build)
            if len(members) > 1 and model_id not in self.packed:  # a resumed pack trains only what is missing
                self._add_pack(members)
        self.train_jobs.update({m: Job("train", m) for m in self.required if m not in self.packed})

    # ----------------------------------------------------------------- readiness
    def _inputs(self, model_id: str) -> set[str]:
        """The models that must exist before `model_id` is built: its parent, and its source,
        which the worker compares it with (without this, a worker would train the source a
        second time to measure an independent model's agreement)."""
        node = self.plan.nodes[model_id]
        return {node.parent_id, node.source_id} - {None, model_id}

    def _needs(self, job: Job) -> set[str]:
        """The models that must exist before `job` starts; a packed suspect's query waits for its pack."""
        if job.members:
            return set().union(*(self._inputs(m) for m in job.members)) - set(job.members)
        if job.kind == "query" and job.key in self.packed:
            return self._inputs(job.key) | {job.key}
        return self._inputs(job.key)

    def _ready(self, job: Job) -> bool:
        return self._needs(job) <= self.models

    def _kind_of_work(self, job: Job) -> tuple:
        """Jobs of one kind take about as long: same method, or same architecture and last step,
        and whether the model still has to be trained."""
        if job.kind == "fingerprint":
            return ("fingerprint", self.fp_jobs[job.key].method)
        node = self.plan.nodes[job.models[0]]
        return (job.kind, len(job.members), job.key in self.models, node.arch, node.derivation.last.name)

    def expected_seconds(self, job: Job) -> float:
        seen = self._seconds.get(self._kind_of_work(job))
        return sum(seen) / len(seen) if seen else math.inf

    def ready(self) -> list[Job]:
        """Ready jobs in priority order (see the module docstring)."""
        tiers: list[list[Job]] = [[], [], [], []]
        for fid, needs in self.fp_needs.items():
            if needs <= self.models:
                tiers[0].append(Job("fingerprint", fid))
        for_fingerprints = self._fingerprint_inputs()
        for job in self.train_jobs.values():
            if self._ready(job):
                tiers[1 if for_fingerprints.intersection(job.models) else 2].append(job)
        for job in self.query_jobs.values():
            fps = {q.fingerprint_id for q in job.queries}
            if self._ready(job) and fps <= self.fingerprints:
                tiers[3].append(job)
        busy = {r.key for r in self.running}
        tiers = [[job for job in tier if job.key not in busy] for tier in tiers]  # one job builds a model
        if not any(tiers) and self.fp_jobs:  # a worker would idle while fingerprints are made: train suspects
            early = [Job("train", m) for m in self.query_jobs if m not in self.models and m not in self.packed]
            tiers[3] = [job for job in early if job.key not in busy and self._ready(job)]
        return [job for tier in tiers for job in sorted(tier, key=self.expected_seconds, reverse=True)]

    def _fingerprint_inputs(self) -> set[str]:
        """Models a pending fingerprint still waits for, with their ancestors: every query waits on them."""
        wanted = set()
        for needs in self.fp_needs.values():
            for model_id in needs - self.models:
                wanted.add(model_id)
                wanted.update(self.plan.ancestors(model_id))
        return wanted - self.models

    def next_job(self) -> Job | None:
        ready = self.ready()
        if not ready:
            return None
        self.running.add(ready[0])
        return ready[0]

    # ----------------------------------------------------------------- outcomes
    def complete(self, job: Job, trained: set[str] = frozenset(), seconds: float | None = None) -> None:
        self.running.discard(job)
        if seconds is not None:  # its kind is still what it was at dispatch: nothing is marked done yet
            self._seconds[self._kind_of_work(job)].append(seconds)
        self.models |= set(trained)
        if job.kind == "fingerprint":
            self.fingerprints.add(job.key)
            self.fp_jobs.pop(job.key, None)
            self.fp_needs.pop(job.key, None)
        elif job.kind == "train":
            self.models.update(job.models)
            self.train_jobs.pop(job.key, None)
        else:
            self.models.add(job.key)
            self.query_jobs.pop(job.key, None)

    def retry(self, job: Job) -> None:
        """Put a job whose worker died back in the queue."""
        self.running.discard(job)

    def fail(self, job: Job, reason: str) -> list[Job]:
        """Drop a job for good, and every job that needed its output; returns all dropped.

        A pack that keeps failing is dissolved instead: the fault may be one member's,
        so each member tries again alone and only a member that fails alone is dropped.
        """
        self.running.discard(job)
        if len(job.members) > 1:
            self._dissolve(job)
            return []
        dropped = [job]
        self._drop(job)
        lost_models = set(job.models)
        lost_fps = {job.key} if job.kind == "fingerprint" else set()
        changed = True
        while changed:
            changed = False
            for fid, needs in list(self.fp_needs.items()):
                if needs & lost_models:
                    lost_fps.add(fid)
                    dropped.append(Job("fingerprint", fid))
                    self._drop(dropped[-1])
                    changed = True
            for waiting in [*self.train_jobs.values(), *self.query_jobs.values()]:
                hit = {m for m in waiting.members if self._inputs(m) & lost_models}
                if hit and len(hit) < len(waiting.members):  # pack mates that lost nothing still train
                    self._repack(waiting, hit)
                    changed = True
                    continue
                fps = {q.fingerprint_id for q in waiting.queries}
                if self._needs(waiting) & lost_models or fps & lost_fps:
                    lost_models.update(waiting.models)
                    dropped.append(waiting)
                    self._drop(waiting)
                    changed = True
        for lost in dropped:
            for key in (lost.key, *lost.members):
                self.failed[key] = reason if lost is job else f"needs {job.describe()}, which failed"
        return dropped

    def _repack(self, pack: Job, leaving: set[str]) -> None:
        """Dissolve a waiting pack and pack again those members not `leaving` it."""
        self._dissolve(pack)
        rest = tuple(m for m in pack.members if m not in leaving)
        if len(rest) > 1:
            for model_id in rest:
                self.train_jobs.pop(model_id, None)
            self._add_pack(rest)

    def _dissolve(self, pack: Job) -> None:
        self.train_jobs.pop(pack.key, None)
        for model_id in pack.members:
            del self.packed[model_id]
            if model_id in self.required:  # a suspect alone is trained by its query job
                self.train_jobs[model_id] = Job("train", model_id)

    def _add_pack(self, members: tuple[str, ...]) -> None:
        job = Job("train", f"pack:{members[0]}", members=members)
        self.train_jobs[job.key] = job
        self.packed.update({model_id: job.key for model_id in members})

    def _drop(self, job: Job) -> None:
        if job.kind == "fingerprint":
            self.fp_jobs.pop(job.key, None)
            self.fp_needs.pop(job.key, None)
        elif job.kind == "train":
            self.train_jobs.pop(job.key, None)
        else:
            self.query_jobs.pop(job.key, None)

    def jobs_left(self) -> int:
        return len(self.fp_jobs) + len(self.train_jobs) + len(self.query_jobs) + len(self.running)

    def finished(self) -> bool:
        return not (self.fp_jobs or self.train_jobs or self.query_jobs) and not self.running
