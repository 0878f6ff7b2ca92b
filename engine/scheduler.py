"""Which job may run next: the plan's DAG as a ready queue, without any Ray.

Three kinds of job, each naming what it produces:
- `train`: a model needed by others (the source, owner-side models, intermediates)
  or a suspect trained early while fingerprints are still being made;
- `fingerprint`: needs its source and the method's owner-side models;
- `query`: a suspect, trained if needed and queried by every pending method while it
  is in memory; needs its parent and the fingerprints it is queried with.
A job is ready once what it needs exists. A failed job fails everything downstream
of it, which the run records instead of waiting forever.

Among ready jobs, fingerprints go first (every query waits for them), then models
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
    key: str  # model_id or fingerprint_id
    queries: tuple[QueryJob, ...] = ()

    def describe(self) -> str:
        return f"{self.kind} {self.key[:80]}"


class Scheduler:
    def __init__(self, plan: Plan, stored_models: set[str], stored_fingerprints: set[str], pending: list[QueryJob]):
        self.plan = plan
        self.models = set(stored_models)
        self.fingerprints = set(stored_fingerprints)
        self.failed: dict[str, str] = {}  # output key -> reason
        self.running: set[Job] = set()
        self._seconds: dict[tuple, list[float]] = defaultdict(list)  # kind of job -> measured seconds
        by_model: dict[str, list[QueryJob]] = defaultdict(list)
        for q in pending:
            by_model[q.model_id].append(q)
        needed_fps = {q.fingerprint_id for q in pending}
        self.fp_jobs = {f.fingerprint_id: f for f in plan.fingerprints
                        if f.fingerprint_id in needed_fps and f.fingerprint_id not in self.fingerprints}
        self.query_jobs = {m: Job("query", m, tuple(qs)) for m, qs in by_model.items()}
        self.fp_needs = {fid: {f.source_id, *f.owner_ids} for fid, f in self.fp_jobs.items()}
        required = set()
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
        self.train_jobs = {m: Job("train", m) for m in required if m not in self.models}

    # ----------------------------------------------------------------- readiness
    def _inputs(self, model_id: str) -> set[str]:
        """The models that must exist before `model_id` is built: its parent, and its source,
        which the worker compares it with (without this, a worker would train the source a
        second time to measure an independent model's agreement)."""
        node = self.plan.nodes[model_id]
        return {node.parent_id, node.source_id} - {None, model_id}

    def _inputs_ready(self, model_id: str) -> bool:
        return self._inputs(model_id) <= self.models

    def _kind_of_work(self, job: Job) -> tuple:
        """Jobs of one kind take about as long: same method, or same architecture and last step,
        and whether the model still has to be trained."""
        if job.kind == "fingerprint":
            return ("fingerprint", self.fp_jobs[job.key].method)
        node = self.plan.nodes[job.key]
        return (job.kind, job.key in self.models, node.arch, node.derivation.last.name)

    def expected_seconds(self, job: Job) -> float:
        seen = self._seconds.get(self._kind_of_work(job))
        return sum(seen) / len(seen) if seen else math.inf

    def ready(self) -> list[Job]:
        """Ready jobs in priority order (see the module docstring)."""
        tiers: list[list[Job]] = [[], [], []]
        for fid, needs in self.fp_needs.items():
            if needs <= self.models:
                tiers[0].append(Job("fingerprint", fid))
        for model_id, job in self.train_jobs.items():
            if self._inputs_ready(model_id):
                tiers[1].append(job)
        for model_id, job in self.query_jobs.items():
            fps = {q.fingerprint_id for q in job.queries}
            if self._inputs_ready(model_id) and fps <= self.fingerprints:
                tiers[2].append(job)
        busy = {r.key for r in self.running}
        tiers = [[job for job in tier if job.key not in busy] for tier in tiers]  # one job builds a model
        if not any(tiers) and self.fp_jobs:  # a worker would idle while fingerprints are made: train suspects
            tiers[2] = [Job("train", model_id) for model_id in self.query_jobs
                        if model_id not in self.models and model_id not in busy and self._inputs_ready(model_id)]
        return [job for tier in tiers for job in sorted(tier, key=self.expected_seconds, reverse=True)]

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
            self.models.add(job.key)
            self.train_jobs.pop(job.key, None)
        else:
            self.models.add(job.key)
            self.query_jobs.pop(job.key, None)

    def retry(self, job: Job) -> None:
        """Put a job whose worker died back in the queue."""
        self.running.discard(job)

    def fail(self, job: Job, reason: str) -> list[Job]:
        """Drop a job for good, and every job that needed its output; returns all dropped."""
        self.running.discard(job)
        dropped = [job]
        self._drop(job)
        lost_models = {job.key} if job.kind != "fingerprint" else set()
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
                fps = {q.fingerprint_id for q in waiting.queries}
                if self._inputs(waiting.key) & lost_models or fps & lost_fps:
                    lost_models.add(waiting.key)
                    dropped.append(waiting)
                    self._drop(waiting)
                    changed = True
        for lost in dropped:
            self.failed[lost.key] = reason if lost is job else f"needs {job.describe()}, which failed"
        return dropped

    def _drop(self, job: Job) -> None:
        if job.kind == "fingerprint":
            self.fp_jobs.pop(job.key, None)
            self.fp_needs.pop(job.key, None)
        elif job.kind == "train":
            self.train_jobs.pop(job.key, None)
        else:
            self.query_jobs.pop(job.key, None)

    def finished(self) -> bool:
        return not (self.fp_jobs or self.train_jobs or self.query_jobs) and not self.running
