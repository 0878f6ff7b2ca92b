"""What a run still has to make, before any ordering: the work a scheduler starts from.

Pending queries name the suspects to query and the fingerprints they need; a
fingerprint needs its source and its owner-side models; a model that is built needs
its ancestors and its source (the worker compares each model with it). What exists
already is left out; `rebuild` adds models and fingerprints that no pending query
needs but that must be made again (a resumed run found them damaged and cleared them).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from engine.plan import FingerprintJob, Plan, QueryJob


@dataclass
class WorkLeft:
    queries: dict[str, list[QueryJob]]  # suspect -> its pending queries
    fingerprints: dict[str, FingerprintJob]  # the fingerprints to make
    fp_needs: dict[str, set[str]]  # fingerprint -> the models it is made from
    fp_wants: dict[str, set[str]]  # fingerprint -> the models it still waits for, ancestors included
    required: set[str]  # models to train for their own sake, not only to be queried


def work_left(plan: Plan, models: set[str], fingerprints: set[str], pending: list[QueryJob],
         rebuild: set[str] = frozenset()) -> WorkLeft:
    queries: dict[str, list[QueryJob]] = defaultdict(list)
    for q in pending:
        queries[q.model_id].append(q)
    planned = {f.fingerprint_id for f in plan.fingerprints}
    needed = {q.fingerprint_id for q in pending} | (rebuild & planned)
    fp_jobs = {f.fingerprint_id: f for f in plan.fingerprints
               if f.fingerprint_id in needed and f.fingerprint_id not in fingerprints}
    fp_needs = {fid: {f.source_id, *f.owner_ids} for fid, f in fp_jobs.items()}
    required = {m for m in rebuild if m in plan.nodes and m not in queries}  # queried ones train themselves
    for model_id in list(required):
        required.update(plan.ancestors(model_id))
    fp_wants = {}
    for fid, needs in fp_needs.items():
        wanted = set()
        for model_id in needs:  # owner models may be several steps from their root
            required.update((model_id, *plan.ancestors(model_id)))
            if model_id not in models:
                wanted.update((model_id, *plan.ancestors(model_id)))
        fp_wants[fid] = wanted - models
    for model_id in queries:
        required.update(plan.ancestors(model_id))
    for model_id in {*required, *queries} - models:  # what is built needs its source
        source_id = plan.nodes[model_id].source_id
        if source_id != model_id:
            required.update({source_id, *plan.ancestors(source_id)})
    return WorkLeft(dict(queries), fp_jobs, fp_needs, fp_wants, required - models)
