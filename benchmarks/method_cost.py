"""What each registered method costs on the `quick` digits source, with its default parameters.

Per method: (a) training its owner-side models (and, for a watermark method, its
marked source), (b) `fingerprint`, (c) `query` + `score` of one suspect (an
independent cnn of the quick preset's negatives). Models are built in-process the
way the worker derives them; owner models several methods share are trained once,
and (a) counts each model a method needs at its own training time, so shared ones
appear in every row that uses them. Single-threaded torch, to match a busy
2-core machine. Usage:

    .venv/bin/python benchmarks/method_cost.py [--methods a,b] [--models DIR] [--json FILE]

`--models DIR` keeps trained models (and their training times) in an artifact
store, so repeated runs measure only fingerprinting and querying; (a) then reports
the recorded times. `--json FILE` writes the table's rows.
"""
from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path

import torch

from engine.config import build_spec, load_toml
from engine.store import ArtifactStore
from methods import get_method, list_methods
from methods.base import OwnerContext
from zoo.archs import ARCHS
from zoo.data import DataBundle
from zoo.spec import canonical, derive_seed
from zoo.steps import StepContext, get_step

QUICK = build_spec(load_toml("quick"))
SOURCE = QUICK.source_id
SUSPECT = QUICK.independent_root(*QUICK.independent[0])  # the preset's first independent negative
SEED = 12345  # the fingerprint seed (the engine derives one per fingerprint id)


def arch_of(model: torch.nn.Module) -> str:
    """The registered architecture name of a model (the store rebuilds it from that)."""
    return next(name for name in ARCHS.names() if type(model) is ARCHS.get(name))


class ModelBuilder:
    """Derives models step by step as engine.worker does, memoised in memory and in a store."""

    def __init__(self, data: DataBundle, store: ArtifactStore):
        self.data, self.store = data, store
        self.models: dict[str, torch.nn.Module] = {}

    def build(self, text: str) -> torch.nn.Module:
        model = None
        for prefix in canonical(text).prefixes():
            key = str(prefix)
            if key not in self.models:
                self.models[key] = self._load_or_train(prefix, model)
            model = self.models[key]
        return model

    def seconds(self, text: str) -> float:
        """Training time of every step of `text` (parents included)."""
        return sum(self.store.model_info(str(p))["train_seconds"] for p in canonical(text).prefixes())

    def _load_or_train(self, derivation, parent) -> torch.nn.Module:
        key = str(derivation)
        if self.store.has_model(key):
            return self.store.load_model(key).eval()
        step = derivation.last
        started = time.perf_counter()
        ctx = StepContext(self.data, "cpu", derive_seed(derivation))
        model = get_step(step.name)().apply(copy.deepcopy(parent), step.as_dict(), ctx).eval()
        info = {"arch": arch_of(model), "input_shape": list(self.data.input_shape),
                "num_classes": int(model.head.out_features), "train_seconds": time.perf_counter() - started}
        self.store.save_model(key, model, info)
        return model


def measure(name: str, builder: ModelBuilder, data: DataBundle, suspect) -> dict:
    method = get_method(name)()
    source_id = SOURCE
    recipe = method.source_recipe(source_id)
    if recipe is not None:
        source_id = str(canonical(recipe))
    owner_ids = [str(canonical(o)) for o in method.owner_models(source_id)]
    source = builder.build(source_id)
    owners = {mid: builder.build(mid) for mid in owner_ids}
    owner_seconds = sum(builder.seconds(mid) for mid in owner_ids)
    marked_seconds = builder.seconds(source_id) if recipe is not None else 0.0

    torch.manual_seed(SEED)
    started = time.perf_counter()
    fp = method.fingerprint(copy.deepcopy(source), OwnerContext(data, "cpu", SEED, owners))
    generation = time.perf_counter() - started

    started = time.perf_counter()
    method.score(fp, method.observe(method.query(fp, suspect)))
    query = time.perf_counter() - started
    return {"method": name, "owner_models": len(owner_ids), "owner_s": owner_seconds, "marked_source_s": marked_seconds,
            "fingerprint_s": generation, "query_score_s": query, "queries": len(fp.inputs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(list_methods()))
    parser.add_argument("--models", help="artifact store directory for trained models (kept between runs)")
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = DataBundle.load("digits")
    with tempfile.TemporaryDirectory() as tmp:
        builder = ModelBuilder(data, ArtifactStore(Path(args.models or tmp)))
        suspect = builder.build(SUSPECT)
        rows = []
        print(f"{'method':<18}{'owners':>7}{'owner s':>9}{'marked s':>9}{'fingerprint s':>15}{'query s':>9}{'n':>6}")
        for name in args.methods.split(","):
            row = measure(name, builder, data, suspect)
            rows.append(row)
            print(f"{name:<18}{row['owner_models']:>7}{row['owner_s']:>9.1f}{row['marked_source_s']:>9.1f}"
                  f"{row['fingerprint_s']:>15.2f}{row['query_score_s']:>9.3f}{row['queries']:>6}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
