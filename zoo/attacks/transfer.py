"""Transfer learning to another label set (SAC's Transfer-A / Transfer-L).

The thief reuses the stolen network for a different task: the head is replaced by
one with the target task's label count and trained on the attacker's data with the
task's labels, either with every layer (`mode=all`, Transfer-A) or the new head only
(`mode=last`, Transfer-L). A transferred suspect answers in another label space, so
matching-rate methods cannot compare labels with the source; the manifest records
its `num_classes` and the report scores it against negatives of the same task.

Tasks are relabelings of the run's own images, since no second digit-like data set
ships offline: `coarse5` merges digit pairs (y // 2, 5 classes), `parity` is even vs
odd (2 classes). SAC transfers a CIFAR-10 source to CIFAR-100's first ten classes.
"""
from __future__ import annotations

import torch

from zoo.datasets import SPLITS
from zoo.fit import TrainTask
from zoo.recipes import augment_for
from zoo.steps import StepContext, StepKind, register_attack

TASKS = {
    "coarse5": (5, lambda y: y // 2),
    "parity": (2, lambda y: y % 2),
}


def task_labels(task: str, y: torch.Tensor) -> torch.Tensor:
    return TASKS[task][1](y)


@register_attack("transfer")
class Transfer(StepKind):
    name = "transfer"
    required = ("task",)
    defaults = {"mode": "all", "epochs": 10, "lr": 0.005, "batch": 64, "opt": "sgd", "data": "finetune"}
    choices = {"task": tuple(TASKS), "mode": ("all", "last"), "opt": ("adam", "sgd"), "data": SPLITS}
    summary = "replace the head for another label set and train on it (Transfer-A / Transfer-L)"
    tiny = "transfer(task=coarse5,epochs=2)"

    def prepare(self, parent, params, ctx: StepContext) -> TrainTask:
        torch.manual_seed(ctx.seed)
        classes = TASKS[params["task"]][0]
        parent.reset_head(classes)
        parent.head.to(ctx.device)
        split = params["data"]
        return TrainTask(
            parent,
            ctx.data.x(split),
            task_labels(params["task"], ctx.data.y(split)),
            epochs=params["epochs"],
            lr=params["lr"],
            batch=params["batch"],
            opt=params["opt"],
            seed=ctx.seed,
            trainable=None if params["mode"] == "all" else "head",
            augment=augment_for(ctx.data.name),  # true labels: augmented as the data set's recipe does
        )
