"""Packs: sibling models the plan has trained together, as one network, in one job.

Models pack when their last step trains one task (`StepKind.packable`) and they
share everything that shapes that training: the step kind, its parameters apart
from the replicate index and the root seed, the architecture, and the depth of the
derivation (so a model never shares a pack with its own ancestor). Each keeps its
own initial weights, data order and data. Packs are a function of the plan alone:
members sorted by id, cut into balanced chunks of at most `size`, so the same spec
gives the same packs on every run and every executor.
"""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from typing import Iterable

from zoo.steps import REPLICATE, get_step

PER_MODEL = (REPLICATE, "seed")  # parameters that only change which model it is, not how it trains


def pack_key(node) -> tuple | None:
    """What a model's training shares with its pack mates; None if it trains alone."""
    step = node.derivation.last
    params = step.as_dict()
    if not get_step(step.name).packable(params):
        return None
    shared = {k: v for k, v in params.items() if k not in PER_MODEL}
    return step.name, len(node.derivation.steps), node.arch, json.dumps(shared, sort_keys=True)


def balanced_chunks(ids: list[str], size: int) -> list[tuple[str, ...]]:
    """`ids` cut into the fewest chunks of at most `size`, their lengths differing by at most one."""
    count = -(-len(ids) // size)
    base, extra = divmod(len(ids), count)
    chunks, start = [], 0
    for i in range(count):
        end = start + base + (i < extra)
        chunks.append(tuple(ids[start:end]))
        start = end
    return chunks


def group_packs(nodes: Iterable, size: int) -> dict[str, tuple[str, ...]]:
    """Member id -> its pack (sorted member ids), for every pack of two or more models."""
    if size < 1:
        raise ValueError(f"pack size must be >= 1, got {size}")
    groups: dict[tuple, list[str]] = defaultdict(list)
    for node in nodes:
        key = pack_key(node)
        if key is not None:
            groups[key].append(node.model_id)
    packs: dict[str, tuple[str, ...]] = {}
    for members in groups.values():
        for chunk in balanced_chunks(sorted(members), size):
            if len(chunk) > 1:
                packs.update({model_id: chunk for model_id in chunk})
    return packs


def pack_id(members: Iterable[str]) -> str:
    """A short name for a pack, recorded with each model it trained."""
    return hashlib.sha256("\n".join(sorted(members)).encode()).hexdigest()[:12]
