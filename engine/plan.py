"""The plan: a spec turned into a DAG of jobs with content-derived ids.

Model nodes are every prefix of every suspect's derivation (a pruned-then-fine-tuned
copy needs the pruned model first), deduplicated by id. Fingerprint jobs are one per
method; query jobs one per (suspect, method); packs group sibling models that train
together. Ids are derivation strings and hashes, so the same spec always gives the
same plan and a finished job is recognised on re-run.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from engine.config import RunSpec
from engine.packs import group_packs
from zoo.spec import Derivation, Step, canonical


@dataclass(frozen=True)
class ModelNode:
    model_id: str
    derivation: Derivation
    parent_id: str | None
    role: str  # source | positive | negative | unknown (an external suspect, scored but not counted) | owner | intermediate
    attack: str
    attack_params: str  # JSON of the first attack step's parameters
    lineage: str  # source | independent | mirror: which root the model descends from
    source_id: str

    @property
    def is_suspect(self) -> bool:
        return self.role in ("source", "positive", "negative", "unknown")

    @property
    def replicate(self) -> int:
        """Which source replicate's benchmark the model belongs to: its root's rep tag (none: the first)."""
        return int(self.derivation.root.get("rep") or 0)

    @property
    def task(self) -> str | None:
        """The label task it answers in, if a transfer step moved it off the data set's labels."""
        tasks = [step.get("task") for step in self.derivation.steps if step.name == "transfer"]
        return str(tasks[-1]) if tasks else None

    @property
    def arch(self) -> str:
        """The architecture: set by the last step that builds a fresh network."""
        for step in reversed(self.derivation.steps):
            if step.get("arch") is not None:
                return str(step.get("arch"))
        raise ValueError(f"no architecture in {self.model_id}")


@dataclass(frozen=True)
class FingerprintJob:
    fingerprint_id: str
    method: str
    label: str
    params: dict
    source_id: str
    seed: int
    owner_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)  # a plan holds one per (suspect, method): millions in a large zoo
class QueryJob:
    model_id: str
    method: str
    fingerprint_id: str


@dataclass
class Plan:
    run_id: str
    nodes: dict[str, ModelNode] = field(default_factory=dict)  # insertion order is topological
    fingerprints: list[FingerprintJob] = field(default_factory=list)
    queries: list[QueryJob] = field(default_factory=list)
    packs: dict[str, tuple[str, ...]] = field(default_factory=dict)  # model id -> the pack it trains in
    files: dict[str, str] = field(default_factory=dict)  # sha256 -> path of a model file the spec names

    def suspects(self) -> list[ModelNode]:
        return [n for n in self.nodes.values() if n.is_suspect]

    def recorded(self) -> list[ModelNode]:
        """The models the manifest lists: suspects and owner-side models."""
        return [n for n in self.nodes.values() if n.role != "intermediate"]

    def ancestors(self, model_id: str) -> list[str]:
        """Ids from the root down to (excluding) `model_id`."""
        chain, node = [], self.nodes[model_id]
        while node.parent_id is not None:
            chain.append(node.parent_id)
            node = self.nodes[node.parent_id]
        return chain[::-1]


def run_id_of(spec: RunSpec) -> str:
    """A hash of everything that changes results (not where they go or what runs them)."""
    keep = {k: v for k, v in spec.resolved.items() if k not in ("output", "executor", "name")}
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:12]


ROOT_ATTACK = {"independent": "independent", "external": "external"}  # a root model's attack column, by lineage


def _add(plan: Plan, derivation: Derivation, role: str, lineage: str, source_id: str) -> None:
    steps, parent_id = derivation.steps, None
    for depth, step in enumerate(steps):
        model_id = str(step) if parent_id is None else f"{parent_id}->{step}"  # str(prefix), grown step by step
        final = depth == len(steps) - 1
        existing = plan.nodes.get(model_id)
        if existing is not None and (existing.role != "intermediate" or not final):
            parent_id = model_id
            continue  # first role wins: a model is one suspect however often it is listed
        attack_step = steps[1] if depth > 0 else None
        attack = attack_step.name if attack_step else ROOT_ATTACK.get(lineage, "source")
        plan.nodes[model_id] = ModelNode(
            model_id=model_id,
            derivation=derivation if final else Derivation(steps[: depth + 1]),
            parent_id=parent_id,
            role=role if final else "intermediate",
            attack=attack,
            attack_params=json.dumps(attack_step.as_dict(), sort_keys=True) if attack_step else "{}",
            lineage=lineage,
            source_id=source_id,
        )
        parent_id = model_id


def owned_by_independent(steps: tuple[Step, ...]) -> tuple[Step, ...]:
    """The same attacks against a model whose owner's data is the `independent` split.

    A step that uses its victim's training data (distillation on `data=defender`)
    uses the independent split instead, as FingerBench's mirror negatives do; the
    attacker's own data (fine-tune, extraction queries) stays the same.
    """
    return tuple(
        Step.of(s.name, {**s.as_dict(), "data": "independent"}) if s.get("data") == "defender" else s
        for s in steps
    )


def build_plan(spec: RunSpec, pack: int = 1) -> Plan:
    """The run's DAG; `pack` > 1 lets sibling models train together (see engine.packs).

    With source replicates, each replicate is a whole benchmark of its own: its source,
    attacked copies, negatives and every method's fingerprint; replicate k's roots carry
    rep=k, so two replicates never share a model.
    """
    from methods import get_method

    plan = Plan(run_id=run_id_of(spec), files=dict(spec.files))
    methods = [(index, m, get_method(m.name)(**m.params)) for index, m in enumerate(spec.methods)]
    for replicate, clean in enumerate(spec.sources):
        _add_zoo(plan, spec, replicate, clean)
        sources = {m.label: _marked_source(plan, spec, clean, m.label, method) for _, m, method in methods}
        suspects = [n for n in plan.suspects() if n.replicate == replicate]
        for index, m, method in methods:
            source_id = sources[m.label]
            owner_ids = tuple(str(canonical(o)) for o in method.owner_models(source_id))
            for owner_id in owner_ids:
                if owner_id in plan.nodes and plan.nodes[owner_id].is_suspect:
                    raise ValueError(f"{m.label}: owner-side model {owner_id} is also an evaluation suspect")
                _add(plan, canonical(owner_id), "owner", "owner", source_id)
            identity = json.dumps([method.identity(), source_id, spec.seed, index], sort_keys=True)
            fp_id = hashlib.sha256(identity.encode()).hexdigest()[:16]
            seed = int(fp_id[:8], 16)
            plan.fingerprints.append(
                FingerprintJob(fp_id, m.name, m.label, dict(method.params), source_id, seed, owner_ids)
            )
            plan.queries += [QueryJob(n.model_id, m.label, fp_id) for n in suspects
                             if n.role == "negative" or n.source_id == source_id]
    plan.packs = group_packs(plan.nodes.values(), pack)
    return plan


def _add_zoo(plan: Plan, spec: RunSpec, replicate: int, clean: str) -> None:
    """One replicate's clean source, its attacked copies and its negatives (and, in the first,
    the spec's external suspects: models fpbench did not train, judged against that source)."""
    source = canonical(clean)
    _add(plan, source, "source", "source", clean)
    for model_id, role in spec.external if replicate == 0 else ():
        _add(plan, canonical(model_id), role, "external", clean)
    for steps in spec.attacks:
        _add(plan, source.then(*steps), "positive", "source", clean)
    for arch, seed in spec.independent:
        independent = spec.independent_derivation(arch, seed, replicate)
        _add(plan, independent, "negative", "independent", clean)
        for steps in spec.negative_derived:
            _add(plan, independent.then(*owned_by_independent(steps)), "negative", "independent", clean)
    if spec.mirror:
        mirror = canonical(spec.mirror_root(replicate))
        _add(plan, mirror, "negative", "mirror", clean)
        for steps in spec.attacks:
            _add(plan, mirror.then(*owned_by_independent(steps)), "negative", "mirror", clean)


def _marked_source(plan: Plan, spec: RunSpec, clean: str, label: str, method) -> str:
    """A watermark method's own source and its own copy of the attack suite; returns the source id.

    Fingerprinting methods share the clean source. Negatives are shared by all
    methods: an innocent model carries no watermark.
    """
    recipe = method.source_recipe(clean)
    if recipe is None:
        return clean
    marked = canonical(recipe)
    if str(marked) == clean:
        raise ValueError(f"{label}: source_recipe must differ from the clean source")
    source_id = str(marked)
    _add(plan, marked, "source", "source", source_id)
    for steps in spec.attacks:
        _add(plan, marked.then(*steps), "positive", "source", source_id)
    return source_id
