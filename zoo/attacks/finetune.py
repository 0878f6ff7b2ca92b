"""Fine-tuning in the four modes of Adi et al. / FingerBench, on the attacker's data.

FTLL: train only the last layer. FTAL: train all layers. RTLL / RTAL: first
re-initialise the last layer, then train it alone / everything. Defaults follow
FingerBench: 10 epochs of SGD at lr 0.005 on the `finetune` split, augmented as the
data set's recipe augments (crop and flip on CIFAR; nothing on digits).
"""
from __future__ import annotations

import torch

from zoo.datasets import SPLITS
from zoo.fit import TrainTask
from zoo.recipes import augment_for
from zoo.steps import StepContext, StepKind, register_attack


@register_attack("finetune")
class FineTune(StepKind):
    name = "finetune"
    defaults = {"mode": "ftal", "epochs": 10, "lr": 0.005, "batch": 64, "opt": "sgd", "data": "finetune"}
    choices = {"mode": ("ftll", "ftal", "rtll", "rtal"), "opt": ("adam", "sgd"), "data": SPLITS}
    summary = "fine-tune last layer / all layers, optionally re-initialising the last layer"
    tiny = "finetune(epochs=2)"

    def prepare(self, parent, params, ctx: StepContext) -> TrainTask:
        torch.manual_seed(ctx.seed)
        mode = params["mode"]
        if mode.startswith("rt"):
            parent.reset_head()
            parent.head.to(ctx.device)
        split = params["data"]
        return TrainTask(
            parent,
            ctx.data.x(split),
            ctx.data.y(split),
            epochs=params["epochs"],
            lr=params["lr"],
            batch=params["batch"],
            opt=params["opt"],
            seed=ctx.seed,
            trainable="head" if mode.endswith("ll") else None,
            augment=augment_for(ctx.data.name),
        )
