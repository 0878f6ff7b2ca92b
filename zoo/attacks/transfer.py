"""Transfer learning to another label set (SAC's Transfer-A / Transfer-L).

The thief reuses the stolen network for a different task: the head is replaced by
one with the target task's label count and trained on the attacker's data with the
task's labels, either with every layer (`mode=all`, Transfer-A) or the new head only
(`mode=last`, Transfer-L). A transferred suspect answers in another label space, so
matching-rate methods cannot compare labels with the source; the manifest records
its `num_classes` and the report scores it against negatives of the same task.

A task is a relabeling of the run's own images — `coarse5` merges class pairs
(y // 2, 5 classes), `parity` is even vs odd (2 classes) — or another data set whose
local copy the spec gives in `[dataset] pools`: `task=cifar100` is its first ten
classes (SAC transfers its CIFAR-10 source to CIFAR-100's first ten), trained on that
data set's `data` split and tested on its test split.
"""
from __future__ import annotations

import torch

from zoo.datasets import SPLITS, list_datasets
from zoo.fit import TrainTask
from zoo.recipes import augment_for
from zoo.spec import DerivationError
from zoo.steps import StepContext, StepKind, register_attack

TASKS = {
    "coarse5": (5, lambda y: y // 2),
    "parity": (2, lambda y: y % 2),
}
POOL_CLASSES = 10  # a data-set task keeps that data set's first ten classes


def task_labels(task: str, y: torch.Tensor) -> torch.Tensor:
    return TASKS[task][1](y)


def task_data(task: str, data, split: str) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(x, y, classes) of a task's `split`: the run's images relabeled, or another data set's first classes."""
    if task in TASKS:
        return data.x(split), task_labels(task, data.y(split)), TASKS[task][0]
    x, y = data.pool_split(task, split)
    keep = y < POOL_CLASSES
    return x[keep], y[keep], POOL_CLASSES


@register_attack("transfer")
class Transfer(StepKind):
    name = "transfer"
    required = ("task",)
    defaults = {"mode": "all", "epochs": 10, "lr": 0.005, "batch": 64, "opt": "sgd", "data": "finetune"}
    choices = {"mode": ("all", "last"), "opt": ("adam", "sgd"), "data": SPLITS}
    summary = "replace the head for another label set and train on it (Transfer-A / Transfer-L)"
    tiny = "transfer(task=coarse5,epochs=2)"

    @classmethod
    def check(cls, params):
        tasks = (*TASKS, *list_datasets())
        if params["task"] not in tasks:
            raise DerivationError(f"transfer(task={params['task']!r}) is not allowed; allowed: {', '.join(tasks)}")

    def prepare(self, parent, params, ctx: StepContext) -> TrainTask:
        torch.manual_seed(ctx.seed)
        x, y, classes = task_data(params["task"], ctx.data, params["data"])
        parent.reset_head(classes)
        parent.head.to(ctx.device)
        return TrainTask(
            parent,
            x,
            y,
            epochs=params["epochs"],
            lr=params["lr"],
            batch=params["batch"],
            opt=params["opt"],
            seed=ctx.seed,
            trainable=None if params["mode"] == "all" else "head",
            augment=augment_for(ctx.data.name),  # true labels: augmented as the data set's recipe does
        )
