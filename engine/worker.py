"""The plain-Python worker that trains, fingerprints and queries.

Executors (local, Ray) only decide *which* jobs run *where*; all the work is here,
so it is unit-tested without any cluster. Models are built lazily from their
derivation: a model comes from the in-memory cache, else the store, else it is
derived from its parent (recursively) and saved.
"""
from __future__ import annotations

import copy
import time
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Callable

import torch

from engine.packs import pack_id
from engine.plan import FingerprintJob, ModelNode, Plan, QueryJob
from engine.sink import ShardSink
from engine.store import ArtifactStore
from methods import get_method
from methods.base import Fingerprint, OwnerContext
from zoo.attacks.transfer import task_data
from zoo.data import DataBundle
from zoo.fit import fit_many, predict_logits
from zoo.spec import derive_seed
from zoo.steps import StepContext, get_step

Event = Callable[[str, str], None]  # (kind, id): "trained" | "loaded" | "fingerprinted" | "queried"


class Worker:
    def __init__(self, plan: Plan, store: ArtifactStore, sink: ShardSink, data: DataBundle,
                 device: torch.device | str = "cpu", cache_size: int = 8, on_event: Event | None = None):
        self.plan, self.store, self.sink, self.data = plan, store, sink, data
        self.device = torch.device(device)
        self.cache_size = cache_size
        self._cache: OrderedDict[str, torch.nn.Module] = OrderedDict()
        self._fingerprints: dict[str, Fingerprint] = {}
        self._source_labels: dict[str, torch.Tensor] = {}
        self._fingerprint_jobs = {f.fingerprint_id: f for f in plan.fingerprints}  # a query looks its method up here
        self.on_event = on_event or (lambda kind, key: None)

    # ------------------------------------------------------------------ models
    def model(self, model_id: str) -> torch.nn.Module:
        if model_id in self._cache:
            self._cache.move_to_end(model_id)
            return self._cache[model_id]
        if self.store.has_model(model_id):
            model = self.store.load_model(model_id, self.device)
            self.on_event("loaded", model_id)
        else:
            model = self._derive(self.plan.nodes[model_id])
        self._remember(model_id, model)
        return model

    def _remember(self, model_id: str, model: torch.nn.Module) -> None:
        self._cache[model_id] = model
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def _derive(self, node: ModelNode) -> torch.nn.Module:
        step = node.derivation.last
        started = time.perf_counter()
        model = get_step(step.name)().apply(self._parent_copy(node), step.as_dict(), self._context(node)).eval()
        self._save(node, model, time.perf_counter() - started)
        return model

    def train_pack(self, model_ids: tuple[str, ...]) -> None:
        """Train a pack's members as one network and store each; members already stored are skipped."""
        nodes = [self.plan.nodes[m] for m in model_ids if not self.store.has_model(m)]
        if not nodes:
            return
        started = time.perf_counter()
        tasks = []
        for node in nodes:
            step = node.derivation.last
            tasks.append(get_step(step.name)().prepare(self._parent_copy(node), step.as_dict(), self._context(node)))
        models = fit_many(tasks)
        seconds = (time.perf_counter() - started) / len(nodes)
        pack = {"pack_id": pack_id(self.plan.packs.get(nodes[0].model_id, model_ids)), "pack_size": len(nodes)}
        for node, model in zip(nodes, models):
            self._save(node, model.eval(), seconds, pack)
            self._remember(node.model_id, model)

    def _parent_copy(self, node: ModelNode) -> torch.nn.Module | None:
        if node.parent_id is None:
            return None
        return copy.deepcopy(self.model(node.parent_id))  # attacks change their input

    def _context(self, node: ModelNode) -> StepContext:
        return StepContext(self.data, self.device, derive_seed(node.derivation), self.plan.files)

    def _save(self, node: ModelNode, model: torch.nn.Module, seconds: float, pack: dict | None = None) -> None:
        """Store a freshly built model with what the manifest reports about it."""
        kind = get_step(node.derivation.last.name)
        task = node.task
        x_test, y_test = (self.data.x("test"), self.data.y("test")) if task is None else \
            task_data(task, self.data, "test")[:2]
        if not len(x_test):
            raise ValueError(f"data set {self.data.name!r} has an empty test split: models cannot be evaluated")
        labels = predict_logits(model, x_test).argmax(1)  # one pass for accuracy and agreement
        info = {
            "arch": node.arch,
            "input_shape": list(self.data.input_shape),
            "num_classes": int(model.head.out_features),
            "task": task,
            "dataset": self.data.name,
            "test_acc": (labels == y_test).float().mean().item(),
            "agreement": None if task is not None else self._agreement(labels, node, model),
            "train_seconds": seconds,
            "step_version": kind.version,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **(pack or {"pack_id": None, "pack_size": 1}),
        }
        self.store.save_model(node.model_id, model, info)
        self.on_event("trained", node.model_id)

    def _agreement(self, labels: torch.Tensor, node: ModelNode, model: torch.nn.Module) -> float:
        """Share of test images on which a model (whose test `labels` are given) gives the source's label."""
        if node.source_id not in self._source_labels:
            source = model if node.model_id == node.source_id else self.model(node.source_id)
            self._source_labels[node.source_id] = predict_logits(source, self.data.x("test")).argmax(1)
        return (labels == self._source_labels[node.source_id]).float().mean().item()

    # ------------------------------------------------------------ fingerprints
    def fingerprint(self, job: FingerprintJob) -> Fingerprint:
        if job.fingerprint_id in self._fingerprints:
            return self._fingerprints[job.fingerprint_id]
        method = get_method(job.method)(**job.params)
        if self.store.has_fingerprint(job.fingerprint_id):
            tensors, meta = self.store.load_fingerprint(job.fingerprint_id)
            fp = Fingerprint.from_tensors(tensors, meta)
        else:
            owner_models = {mid: self.model(mid) for mid in job.owner_ids}
            owner = OwnerContext(self.data, self.device, job.seed, owner_models)
            torch.manual_seed(job.seed)
            source = copy.deepcopy(self.model(job.source_id))
            started = time.perf_counter()
            fp = method.fingerprint(source, owner)
            # what the report's cost table reads, whatever the method records itself
            fp.meta = {**fp.meta, "generation_seconds": time.perf_counter() - started,
                       "owner_models": list(job.owner_ids), "method": job.method, "label": job.label}
            self.store.save_fingerprint(job.fingerprint_id, fp.tensors(), fp.meta)
            self.on_event("fingerprinted", job.fingerprint_id)
        self._fingerprints[job.fingerprint_id] = fp
        return fp

    # ----------------------------------------------------------------- queries
    def query(self, job: QueryJob) -> float:
        """Run one suspect on one fingerprint, score it, and write the shard."""
        fp_job = self._fingerprint_jobs[job.fingerprint_id]
        fp = self.fingerprint(fp_job)
        method = get_method(fp_job.method)(**fp_job.params)
        logits = method.query(fp, self.model(job.model_id))
        observed = method.observe(logits)
        score = method.score(fp, observed)
        self.sink.write(job.method, job.fingerprint_id, job.model_id, logits, score, method.access,
                        method.test(fp, observed), method.outcomes(fp, observed))
        self.on_event("queried", f"{job.method}:{job.model_id}")
        return score
