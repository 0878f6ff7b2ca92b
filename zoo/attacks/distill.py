"""Knowledge distillation into a (possibly different) architecture.

The student sees only the teacher's soft labels at temperature `temp` on the images
of split `data`; FingerBench distils on the defender's own training images, which is
the default. The student is a fresh model, so `arch` is required.
"""
from __future__ import annotations

from functools import partial

import torch

from zoo.archs import ARCHS, build_arch
from zoo.datasets import SPLITS
from zoo.fit import TrainTask, predict_logits, soft_label_loss
from zoo.spec import DerivationError
from zoo.steps import StepContext, StepKind, register_attack


@register_attack("distill")
class Distill(StepKind):
    name = "distill"
    required = ("arch",)
    defaults = {"data": "defender", "temp": 1.0, "epochs": 30, "lr": 0.001, "batch": 64, "opt": "adam"}
    choices = {"data": SPLITS, "opt": ("adam", "sgd")}
    summary = "train a student of another architecture on the model's soft labels"
    tiny = "distill(arch=mlp,epochs=3)"

    @classmethod
    def check(cls, params):
        if params["arch"] not in ARCHS:
            raise DerivationError(
                f"distill(arch={params['arch']!r}): unknown; allowed: {', '.join(ARCHS.names())}"
            )

    def prepare(self, parent, params, ctx: StepContext) -> TrainTask:
        x = ctx.data.x(params["data"])
        teacher_logits = predict_logits(parent, x)
        torch.manual_seed(ctx.seed)
        student = build_arch(params["arch"], ctx.data.input_shape, ctx.data.num_classes).to(ctx.device)
        return TrainTask(
            student,
            x,
            teacher_logits,
            epochs=params["epochs"],
            lr=params["lr"],
            batch=params["batch"],
            opt=params["opt"],
            seed=ctx.seed,
            criterion=partial(soft_label_loss, temp=params["temp"]),
        )
