"""One benchmark run: plan it, claim the run directory, execute what is left, record the outcome.

The same plan runs on the local executor or on Ray; both pull jobs from the same
scheduler and write the same shards, so a run started on one can be resumed on the
other. A resumed run first checks everything it would reuse (`engine.integrity`):
damaged files are cleared, listed in `RunResult.repaired`, and rebuilt. While jobs
run, `progress.json` (`engine.heartbeat`) follows them for `fpbench status`; a run
that had work ends by keeping where its time went in run.json (`engine.summary`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from engine.config import RunSpec
from engine.failures import Failure, write_failures
from engine.fs import Location
from engine.heartbeat import HEARTBEAT_S, write_heartbeat
from engine.integrity import Damage, check_run, repair
from engine.lock import RunLock
from engine.manifest import write_manifest
from engine.plan import Plan, build_plan
from engine.progress import Counts, RunProgress
from engine.provenance import check_run_dir, record_summary, write_provenance
from engine.scheduler import Scheduler
from engine.sink import ShardSink
from engine.store import ArtifactStore
from engine.summary import run_summary
from zoo.datasets import load_splits


@dataclass
class RunResult:
    run_dir: Path | str  # a local Path, or the URI of a run on another file system
    plan: Plan
    events: dict[str, int] = field(default_factory=dict)
    queries_run: int = 0
    failures: list[Failure] = field(default_factory=list)
    jobs_done: int = 0
    busy_seconds: float = 0.0
    repaired: list[Damage] = field(default_factory=list)  # damaged files found on resume, now rebuilt
    stale_lock: dict | None = None  # the lock of a dead driver this run took over
    summary: dict | None = None  # where the time went (engine.summary); None when there was nothing to do


def pick_device(choice: str) -> str:
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("executor.device = 'cuda' but torch sees no GPU on this machine")
    return choice


MANIFEST_EVERY_S = 30.0  # models.parquet and fingerprints.parquet follow a running run at this pace
CPU_PACK, GPU_PACK = 4, 64  # models per pack when the spec leaves it to the device (executor.pack = 0)


def pack_size(spec: RunSpec, device: str) -> int:
    """How many sibling models train as one network: what the spec says, else what suits the device.

    On a CPU a handful of models fills the cores' vector units; a GPU needs dozens of
    small models before it stops idling between kernels.
    """
    chosen = spec.executor_options["pack"]
    return chosen or (GPU_PACK if device == "cuda" else CPU_PACK)


def check_pools(spec: RunSpec) -> None:
    """Every other data set an attack queries with has a readable local copy, before anything is written."""
    from zoo.datasets import HOW_TO_GET, DatasetError, list_datasets

    chains = (*spec.attacks, *spec.negative_derived)
    wanted = {str(step.get("data")) for chain in chains for step in chain if step.name == "knockoff"}
    wanted |= {str(step.get("task")) for chain in chains for step in chain if step.name == "transfer"}
    for name in sorted(wanted & set(list_datasets())):
        if name not in spec.pools:
            hint = f"; {HOW_TO_GET[name]}" if name in HOW_TO_GET else ""
            raise DatasetError(f"an attack uses {name}'s images (knockoff data or transfer task): set [dataset] pools = "
                               f"{{ {name} = \"/path/to/{name}\" }}{hint}")
        load_splits(name, spec.pools[name])


def stored_artefacts(plan: Plan, store: ArtifactStore) -> tuple[set[str], set[str]]:
    models = {model_id for model_id in plan.nodes if store.has_model(model_id)}
    return models, {f.fingerprint_id for f in plan.fingerprints if store.has_fingerprint(f.fingerprint_id)}


def scheduler_for(plan: Plan, store: ArtifactStore, sink: ShardSink) -> Scheduler:
    """What is left to do: queries without a shard, and every model and fingerprint not stored,
    so a run always ends with a complete store (one cleared as damaged is made again)."""
    pending = [q for q in plan.queries if not sink.is_done(q.method, q.model_id)]
    models, fingerprints = stored_artefacts(plan, store)
    missing = {*plan.nodes, *(f.fingerprint_id for f in plan.fingerprints)} - models - fingerprints
    return Scheduler(plan, models, fingerprints, pending, missing)


def run_spec(spec: RunSpec, out: str | Path | None = None, show_progress: bool = True,
             executor: str | None = None, address: str | None = None) -> RunResult:
    kind = executor or spec.executor
    options = {**spec.executor_options, **({"address": address} if address else {})}
    if kind == "ray":
        from engine.ray_executor import cluster_device

        device = spec.device  # each actor resolves "auto" on its own node
        planned_for = cluster_device(options) if device == "auto" else device
    else:
        device = planned_for = pick_device(spec.device)
    plan = build_plan(spec, pack=pack_size(spec, planned_for))
    run_dir = Location(out or spec.output)
    with RunLock(run_dir) as lock:  # checked under the lock: a driver that just finished may have claimed it
        resuming = check_run_dir(run_dir, plan.run_id)
        result = _run_locked(spec, plan, run_dir, resuming, kind, device, options, show_progress)
        result.stale_lock = lock.took_over
        return result


def _run_locked(spec: RunSpec, plan: Plan, run_dir: Location, resuming: bool, kind: str, device: str,
                options: dict, show_progress: bool) -> RunResult:
    result = RunResult(run_dir.local_path or str(run_dir), plan)
    store = ArtifactStore(run_dir / "store")
    sink = ShardSink(run_dir, plan.run_id)
    if resuming:
        result.repaired = [d for d in check_run(run_dir) if d.clear]
        repair(run_dir, result.repaired)
    else:
        if kind != "ray":  # on Ray the data lives on the workers' nodes
            load_splits(spec.dataset, spec.dataset_root)  # a missing or corrupt copy fails before anything is written
            check_pools(spec)
        write_provenance(run_dir, spec, plan.run_id, device)
    write_manifest(run_dir, plan, store)  # a run killed from here on can still be reported
    sched = scheduler_for(plan, store, sink)
    working = not sched.finished()  # a finished run is left exactly as it is
    workers = None  # on Ray: as many as are seen busy
    if kind != "ray":
        from engine.local import default_workers

        workers = min(spec.executor_options["workers"] or default_workers(device), sched.jobs_left())
    with RunProgress(counts_of(plan, sched), enabled=show_progress) as progress:
        progress.track(sched, workers or None)
        progress.refresh_every(MANIFEST_EVERY_S, lambda: write_manifest(run_dir, plan, store))
        if working:
            progress.heartbeat(HEARTBEAT_S, lambda record: write_heartbeat(run_dir, plan.run_id, record))
        if kind == "ray":
            from engine.ray_executor import run_ray

            result.failures = run_ray(sched, spec, run_dir, options, progress)
        else:
            from engine.local import WorkerSetup, run_local

            setup = WorkerSetup(plan, run_dir, spec.dataset, spec.dataset_root, device, tuple(spec.pools.items()))
            result.failures = run_local(sched, setup, progress, spec.executor_options["max_attempts"], workers)
        write_failures(run_dir, result.failures)  # first: a full disk must not lose the failure record
        write_manifest(run_dir, plan, store)
        if working:
            progress.finish()
    result.events = dict(progress.events)
    result.queries_run = result.events.get("queried", 0)
    result.jobs_done, result.busy_seconds = progress.jobs_done, progress.busy_seconds
    if working:
        result.summary = run_summary(progress.results, plan, progress.elapsed(), workers or len(progress.workers_seen),
                                     progress.estimator.checks)
        record_summary(run_dir, result.summary)
    return result


def counts_of(plan: Plan, sched: Scheduler) -> Counts:
    """The plan's models, fingerprints and queries, and how many of each a fresh scheduler found done."""
    pending_queries = sum(len(job.queries) for job in sched.query_jobs.values())
    return Counts(total={"models": len(plan.nodes), "fingerprints": len(plan.fingerprints),
                         "queries": len(plan.queries)},
                  done={"models": len(sched.models), "fingerprints": len(sched.fingerprints),
                        "queries": len(plan.queries) - pending_queries})
