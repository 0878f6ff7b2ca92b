"""`train(arch,dataset,...)`: the root of every derivation, a model trained from scratch.

The source trains on the `defender` split, independent negatives on `independent`;
the split is a parameter so the id says which data a model has seen.
"""
from __future__ import annotations

import torch

from zoo.archs import ARCHS, build_arch
from zoo.datasets import DATASETS, SPLITS
from zoo.fit import TrainTask
from zoo.spec import DerivationError
from zoo.steps import StepContext, StepKind, register_step


@register_step("train")
class Train(StepKind):
    name = "train"
    root = True
    positional = ("arch", "dataset")
    required = ("arch", "dataset")
    defaults = {
        "split": "defender",
        "seed": 0,
        "epochs": 30,
        "lr": 0.001,
        "batch": 64,
        "opt": "adam",
        "wd": 0.0,
    }
    choices = {"split": SPLITS, "opt": ("adam", "sgd")}
    summary = "train a model from scratch on one split"

    @classmethod
    def check(cls, params):
        """Shared by every root step that trains from scratch (the watermark steps subclass this)."""
        name = cls.name
        if params["arch"] not in ARCHS:
            raise DerivationError(f"{name}(arch={params['arch']!r}): unknown; allowed: {', '.join(ARCHS.names())}")
        if params["dataset"] not in DATASETS:
            raise DerivationError(
                f"{name}(dataset={params['dataset']!r}): unknown; allowed: {', '.join(DATASETS.names())}"
            )

    def check_data(self, params, data) -> None:
        """A root step trains on the run's data set only: the id must say which data it saw."""
        if params["dataset"] != data.name:
            raise DerivationError(f"{self.name}() on {params['dataset']!r} but the run's data set is {data.name!r}")

    def prepare(self, parent, params, ctx: StepContext) -> TrainTask:
        data = ctx.data
        self.check_data(params, data)
        torch.manual_seed(ctx.seed)
        model = build_arch(params["arch"], data.input_shape, data.num_classes).to(ctx.device)
        split = params["split"]
        return TrainTask(
            model,
            data.x(split),
            data.y(split),
            epochs=params["epochs"],
            lr=params["lr"],
            batch=params["batch"],
            opt=params["opt"],
            seed=ctx.seed,
            weight_decay=params["wd"],
        )
