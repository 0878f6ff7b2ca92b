"""`train(arch,dataset,...)`: the root of every derivation, a model trained from scratch.

The source trains on the `defender` split, independent negatives on `independent`;
the split is a parameter so the id says which data a model has seen. The training
settings default to the data set's recipe (`zoo.recipes`), written out in the id.
"""
from __future__ import annotations

import torch

from zoo.archs import ARCHS, build_arch
from zoo.datasets import DATASETS, SPLITS
from zoo.fit import TrainTask, label_loss
from zoo.recipes import AUGMENTATIONS, NEUTRAL, SCHEDULES, recipe_params
from zoo.spec import DerivationError
from zoo.steps import StepContext, StepKind, register_step


def retrain_params(source_id: str) -> dict:
    """The `train` parameters of a root model's recipe: a `train` root's own, or the recipe a
    file source's `weights` root records. Owner-side models and mirror negatives train from it."""
    from zoo.spec import canonical
    from zoo.steps import REPLICATE

    keep = {*Train.defaults, *Train.required, REPLICATE}
    return {k: v for k, v in canonical(source_id).root.as_dict().items() if k in keep}


# The parameters every step that trains from scratch takes (the watermark steps add their own).
SCRATCH = {"split": "defender", "seed": 0, "epochs": 30, "lr": 0.001, "batch": 64, "opt": "adam", "wd": 0.0}


@register_step("train")
class Train(StepKind):
    name = "train"
    root = True
    positional = ("arch", "dataset")
    required = ("arch", "dataset")
    defaults = {**SCRATCH, **NEUTRAL}
    quiet = NEUTRAL
    choices = {"split": SPLITS, "opt": ("adam", "sgd"), "sched": SCHEDULES, "aug": tuple(AUGMENTATIONS)}
    summary = "train a model from scratch on one split (its data set's recipe unless the id says otherwise)"

    @classmethod
    def defaults_for(cls, params):
        """The data set's recipe (zoo.recipes) for the training fields this step has."""
        recipe = recipe_params(str(params.get("dataset")))
        return {**cls.defaults, **{k: v for k, v in recipe.items() if k in cls.defaults}}

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
        if not 0 <= params.get("warmup", 0) < params["epochs"]:
            raise DerivationError(f"{name}(warmup={params['warmup']!r}) must be >= 0 and below epochs")
        if not 0 <= params.get("smooth", 0.0) < 1:
            raise DerivationError(f"{name}(smooth={params['smooth']!r}) must be in [0, 1)")

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
            criterion=label_loss(params.get("smooth", 0.0)),
            sched=params.get("sched", "constant"),
            warmup=params.get("warmup", 0),
            augment=AUGMENTATIONS[params.get("aug", "none")],
        )
