"""The end-of-run summary: where the time went, to size the next run.

Made from the finished jobs' own timings (`JobResult.marks`): a job's time up to
its last trained model is training, shared by the models it trained and counted
per attack family; each later query is counted for its method; a fingerprint job
is its method's generation time. Printed by `fpbench run` and kept in run.json
(`summary`, the latest attempt's), together with how good the ETA was.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone

from engine.eta import duration
from engine.jobs import JobResult
from engine.plan import Plan
from engine.progress import worker_label

SLOWEST = 10


def _family(plan: Plan, model_id: str) -> str:
    node = plan.nodes[model_id]
    return "owner" if node.role == "owner" else node.attack


def run_summary(results: list[JobResult], plan: Plan, wall_s: float, workers: int, eta_checks: list[dict]) -> dict:
    busy: dict[str, float] = defaultdict(float)
    training: dict[str, float] = defaultdict(float)
    methods: dict[str, dict[str, float]] = defaultdict(lambda: {"generation_s": 0.0, "queries_s": 0.0, "queries": 0})
    labels = {f.fingerprint_id: f.label for f in plan.fingerprints}
    for result in results:
        busy[worker_label(result)] += result.seconds
        if result.job.kind == "fingerprint":
            methods[labels[result.job.key]]["generation_s"] += result.seconds
            continue
        trained = [(key, t) for event, key, t in result.marks if event == "trained"]
        train_end = trained[-1][1] if trained else 0.0
        for key, _ in trained:
            training[_family(plan, key)] += train_end / len(trained)
        asked = {f"{q.method}:{q.model_id}": q.method for q in result.job.queries}
        previous = train_end
        for event, key, t in result.marks:
            if event == "queried" and t >= train_end and key in asked:
                methods[asked[key]]["queries_s"] += t - previous
                methods[asked[key]]["queries"] += 1
                previous = t
    slowest = sorted(results, key=lambda r: r.seconds, reverse=True)[:SLOWEST]
    return {
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_s": round(wall_s, 2),
        "workers": workers,
        "jobs": len(results),
        "busy_s": round(sum(busy.values()), 2),
        "busy_s_by_worker": _rounded(busy),
        "train_s_by_family": _rounded(training),
        "methods": {label: {k: round(v, 2) for k, v in m.items()} for label, m in sorted(methods.items())},
        "slowest_jobs": [{"job": describe(r, labels), "key": r.job.key, "seconds": round(r.seconds, 2),
                          "worker": worker_label(r)} for r in slowest],
        "eta": {"predicted": eta_checks, "actual_total_s": round(wall_s, 1)},
    }


def describe(result: JobResult, labels: dict[str, str]) -> str:
    """A job as a person tells it from others: its method, or its model's steps after the shared root."""
    job = result.job
    if job.kind == "fingerprint":
        return f"fingerprint {labels.get(job.key, job.key)}"
    model_id = job.models[0]
    steps = model_id.split("->", 1)[1] if "->" in model_id else model_id
    return f"train pack of {len(job.members)}: {steps}" if job.members else f"{job.kind} {steps}"


def _rounded(seconds: dict[str, float]) -> dict[str, float]:
    return {key: round(value, 2) for key, value in sorted(seconds.items(), key=lambda kv: -kv[1])}


def summary_lines(summary: dict) -> list[str]:
    """The summary as short plain lines (no markup: a job description may hold brackets)."""
    wall = summary["wall_s"]
    lines = [f"wall time {duration(wall)}: {summary['jobs']} jobs, {duration(summary['busy_s'])} busy "
             f"on {summary['workers']} worker(s)"]
    if summary["busy_s_by_worker"]:
        lines.append("  busy per worker: " + ", ".join(
            f"{name} {duration(s)} ({100 * s / wall:.0f} %)" if wall else f"{name} {duration(s)}"
            for name, s in summary["busy_s_by_worker"].items()))
    if summary["train_s_by_family"]:
        lines.append("  training per attack family: " + ", ".join(
            f"{family} {duration(s)}" for family, s in summary["train_s_by_family"].items()))
    for label, m in summary["methods"].items():
        lines.append(f"  {label}: generation {duration(m['generation_s'])}, "
                     f"queries {duration(m['queries_s'])} ({m['queries']} suspects)")
    if summary["slowest_jobs"]:
        lines.append("  slowest jobs:")
        lines += [f"    {duration(j['seconds']):>7}  {j['job']}  [{j['worker']}]" for j in summary["slowest_jobs"]]
    checks = summary["eta"]["predicted"]
    if checks:
        said = ", ".join(f"{duration(c['predicted_total_s'])} at {100 * c['at_share']:.0f} %" for c in checks)
        lines.append(f"  ETA check: predicted total {said} of the jobs; actual {duration(wall)}")
    return lines
