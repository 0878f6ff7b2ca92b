"""Which job may run next: the plan's DAG as a ready queue, without any Ray.

Three kinds of job, each naming what it produces:
- `train`: a model needed by others (the source, owner-side models, intermediates)
  or a suspect trained early while fingerprints are still being made;
- `fingerprint`: needs its source and the method's owner-side models;
- `query`: a suspect, trained if needed and queried by every pending method while it
  is in memory; needs its parent and the fingerprints it is queried with.
A job is ready once what it needs exists. A failed job fails everything downstream
of it, which the run records instead of waiting forever.
"""
from __future__ import annotations

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

    def ready(self) -> list[Job]:
        """Ready jobs in priority order: what unblocks the most work comes first."""
        out = []
        for fid, needs in self.fp_needs.items():
            if needs <= self.models:
                out.append(Job("fingerprint", fid))
        for model_id, job in self.train_jobs.items():
            if self._inputs_ready(model_id):
                out.append(job)
        for model_id, job in self.query_jobs.items():
            fps = {q.fingerprint_id for q in job.queries}
            if self._inputs_ready(model_id) and fps <= self.fingerprints:
                out.append(job)
        busy = {r.key for r in self.running}
        out = [job for job in out if job.key not in busy]  # one job at a time builds a given model
        if not out and self.fp_jobs:  # a worker would idle while fingerprints are made: train suspects early
            out = [Job("train", model_id) for model_id in self.query_jobs
                   if model_id not in self.models and model_id not in busy and self._inputs_ready(model_id)]
        return out

    def next_job(self) -> Job | None:
        ready = self.ready()
        if not ready:
            return None
        self.running.add(ready[0])
        return ready[0]

    # ----------------------------------------------------------------- outcomes
    def complete(self, job: Job, trained: set[str] = frozenset()) -> None:
        self.running.discard(job)
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
