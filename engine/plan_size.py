"""`fpbench plan SPEC`: how big a spec's run is, before anything runs.

Builds the plan and the scheduler a fresh run would start with, and prints what they
hold: models by role, jobs by kind (packs counted as one job), queries, packs, the
estimated training cost (`zoo.cost`: FLOPs and GPU-hours at a stated throughput),
and how long planning took, so a person sizing a large zoo sees the cost up front.
"""
from __future__ import annotations

import time
from collections import Counter

from engine.config import load_spec
from engine.plan import build_plan
from engine.run import pack_size
from engine.scheduler import Scheduler
from zoo.cost import ASSUMED_TFLOPS, plan_cost


def plan_size(spec_path: str, pack: int | None = None) -> dict:
    started = time.perf_counter()
    spec = load_spec(spec_path)
    size = pack or pack_size(spec, "cpu")
    plan = build_plan(spec, pack=size)
    planned = time.perf_counter()
    everything = {*plan.nodes, *(f.fingerprint_id for f in plan.fingerprints)}
    sched = Scheduler(plan, set(), set(), list(plan.queries), everything)
    packs = set(plan.packs.values())
    cost = plan_cost(plan.nodes.values(), spec.dataset)
    return {
        "models": len(plan.nodes),
        "roles": dict(Counter(node.role for node in plan.nodes.values())),
        "fingerprint jobs": len(sched.fp_jobs),
        "train jobs": len(sched.train_jobs),
        "query jobs": len(sched.query_jobs),
        "queries": len(plan.queries),
        "packs": len(packs),
        "packed models": sum(len(p) for p in packs),
        "pack size": size,
        "models that train": cost.models,
        "training FLOPs": f"{cost.flops:.3g}",
        "GPU-hours (est.)": f"{cost.gpu_hours:.3g} at {ASSUMED_TFLOPS:g} TFLOP/s sustained",
        "plan seconds": round(planned - started, 2),
        "scheduler seconds": round(time.perf_counter() - planned, 2),
    }


def print_plan_size(spec_path: str, pack: int | None = None) -> int:
    for key, value in plan_size(spec_path, pack).items():
        if isinstance(value, dict):
            value = ", ".join(f"{role} {count}" for role, count in sorted(value.items()))
        print(f"{key + ':':<20} {value}")
    return 0
