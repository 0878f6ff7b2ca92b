"""A plan of 20,000 suspects (over 20,000 jobs) drained by eight simulated workers: the dispatch order keeps its invariants.

No job starts before its inputs exist, no two running jobs build one output, and at
sampled moments the job handed out is the first one a brute-force reading of the
module docstring of engine.scheduler would pick: the lowest tier, then the longest
expected job. No timing is asserted.
"""
import random
from dataclasses import replace

import pytest

from conftest import tiny_spec
from engine.config import build_spec
from engine.packs import group_packs
from engine.plan import build_plan
from engine.scheduler import Job, Scheduler

WORKERS = 8
CHECK_FIRST, CHECK_EVERY = 30, 2500  # brute-force checks (each scans every pending job): all early ones, then a few


def inputs(plan, model_id):
    node = plan.nodes[model_id]
    return {node.parent_id, node.source_id} - {None, model_id}


def brute_force_ready(sched):
    """(tier, -expected seconds, job) of every job that may start now, from the plan alone."""
    plan, models, busy = sched.plan, sched.models, {job.key for job in sched.running}
    wanted = set()
    for needs in sched.fp_needs.values():
        for model_id in needs - models:
            wanted.update((model_id, *plan.ancestors(model_id)))
    ready = []
    for fid, needs in sched.fp_needs.items():
        if needs <= models and fid not in busy:
            ready.append((0, Job("fingerprint", fid)))
    for job in sched.train_jobs.values():
        members = job.models
        needs = set().union(*(inputs(plan, m) for m in members)) - set(members)
        if needs <= models and job.key not in busy:
            ready.append((1 if wanted & set(members) else 2, job))
    for job in sched.query_jobs.values():
        needs = inputs(plan, job.key) | ({job.key} if job.key in sched.packed else set())
        fps = {q.fingerprint_id for q in job.queries}
        if needs <= models and fps <= sched.fingerprints and job.key not in busy:
            ready.append((3, job))
    if not ready and sched.fp_jobs:
        for job in sched.query_jobs.values():
            key = job.key
            if (key not in models and key not in sched.packed and key not in sched.train_jobs and key not in sched.failed
                    and inputs(plan, key) <= models and key not in busy):
                ready.append((4, Job("train", key)))
    return [(tier, -sched.expected_seconds(job), job) for tier, job in ready]


@pytest.fixture(scope="module")
def large_plan():
    raw = tiny_spec(negatives={"archs": ["cnn", "mlp"], "seeds": list(range(1, 10_001))},
                    methods=[{"name": "ipguard", "params": {"n": 50, "steps": 300}}, {"name": "cae"}])
    return build_plan(build_spec(raw))


@pytest.mark.parametrize("pack", [1, 4])  # alone, suspects also train early while fingerprints are made
def test_a_large_plan_drains_in_dependency_and_tier_order(large_plan, pack):
    plan = replace(large_plan, packs=group_packs(large_plan.nodes.values(), pack))
    sched = Scheduler(plan, set(), set(), list(plan.queries))
    rng = random.Random(0)
    cost = {"cnn": 2.0, "mlp": 1.0}
    running, dispatched, sampled = [], 0, 0
    while not sched.finished():
        while len(running) < WORKERS:
            check = dispatched < CHECK_FIRST or dispatched % CHECK_EVERY == 0
            expected = brute_force_ready(sched) if check else None
            job = sched.next_job()
            if job is None:
                assert not expected, "a ready job was not handed out"
                break
            if check:
                tiers = {j: tier for tier, _, j in expected}
                assert job in tiers, f"{job.describe()} was not ready"
                assert (tiers[job], -sched.expected_seconds(job)) == min((t, e) for t, e, _ in expected)
                sampled += 1
            for model_id in job.models:
                if model_id not in sched.models:
                    assert inputs(plan, model_id) <= sched.models | set(job.models), f"{job.describe()} before its inputs"
            if job.kind == "query":
                assert {q.fingerprint_id for q in job.queries} <= sched.fingerprints
                assert job.key not in sched.packed or job.key in sched.models
            if job.kind == "fingerprint":
                assert sched.fp_needs[job.key] <= sched.models
            assert [r.key for r in running].count(job.key) == 0, "two running jobs build one output"
            running.append(job)
            dispatched += 1
        assert running, "nothing ready but not finished: the DAG is stuck"
        job = running.pop(rng.randrange(len(running)))
        seconds = 5.0 if job.kind == "fingerprint" else cost[plan.nodes[job.models[0]].arch] * len(job.models)
        sched.complete(job, seconds=seconds)
    assert dispatched >= 20_000 and sampled >= CHECK_FIRST + 5
    assert not sched.failed
    assert {n.model_id for n in plan.suspects()} <= sched.models
    assert len(sched.fingerprints) == len(plan.fingerprints)
