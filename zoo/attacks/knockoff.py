"""Knockoff Nets (Orekondy et al.), random selection: steal a model from its answers alone.

The attacker owns no labelled data of the victim's task. It draws `queries` images
from a different distribution, asks the victim (the parent) about each one, and
trains a fresh student of `arch` only on those answers: `labels=soft` matches the
victim's probabilities (KL at temperature 1, as FingerBench's default), `labels=hard`
its top-1 labels (cross-entropy). FingerBench queries its CIFAR-10 source with
CIFAR-100 and leaves the budget and the label kind open.

What differs here and why: the default query pool is `data=patches`, random patches
of real photographs (`zoo.datasets.natural_patches`), because small data sets such
as digits have no offline sibling distribution; the pool is cut at the victim's
input shape with the step's seed. `data` may instead name a split of the run's own
data set (in-distribution queries, the weaker-attacker ablation); then `queries`
images are drawn from it without replacement, or all of them if the split is
smaller. Or `data` names another registered data set whose local copy the spec
gives in `[dataset] pools` (CIFAR-100 for a CIFAR-10 source, as FingerBench): the
queries are drawn from all its images. The budget defaults to 2,000
queries instead of 50k, digits scale.
"""
from __future__ import annotations

from functools import partial

import torch

from zoo.archs import ARCHS, build_arch
from zoo.datasets import SPLITS, list_datasets
from zoo.datasets.natural_patches import natural_patches
from zoo.fit import TrainTask, predict_logits, soft_label_loss
from zoo.spec import DerivationError
from zoo.steps import StepContext, StepKind, register_attack


def query_pool(data: str, n: int, ctx: StepContext) -> torch.Tensor:
    """The attacker's `n` unlabelled query images, drawn with the step's seed."""
    if data == "patches":
        return torch.from_numpy(natural_patches(ctx.data.input_shape, n, ctx.seed)).to(ctx.device)
    x = ctx.data.x(data) if data in SPLITS else ctx.data.pool(data)
    pick = torch.randperm(len(x), generator=torch.Generator().manual_seed(ctx.seed))[:n]
    return x[pick.to(x.device)]


@register_attack("knockoff")
class Knockoff(StepKind):
    name = "knockoff"
    required = ("arch",)
    defaults = {
        "queries": 2000,
        "data": "patches",
        "labels": "soft",
        "epochs": 30,
        "lr": 0.001,
        "batch": 64,
        "opt": "adam",
    }
    choices = {"labels": ("soft", "hard"), "opt": ("adam", "sgd")}
    summary = "Knockoff Nets: train a fresh student on the model's answers to out-of-distribution queries"
    tiny = "knockoff(arch=mlp,queries=200,epochs=2)"

    @classmethod
    def check(cls, params):
        if params["arch"] not in ARCHS:
            raise DerivationError(
                f"knockoff(arch={params['arch']!r}): unknown; allowed: {', '.join(ARCHS.names())}"
            )
        pools = ("patches", *SPLITS, *list_datasets())
        if params["data"] not in pools:
            raise DerivationError(f"knockoff(data={params['data']!r}) is not allowed; allowed: {', '.join(pools)}")
        if params["queries"] < 1:  # epochs, batch, lr: zoo.steps.SHARED_BOUNDS
            raise DerivationError(f"knockoff(queries={params['queries']}) must be >= 1")

    def prepare(self, parent, params, ctx: StepContext) -> TrainTask:
        x = query_pool(params["data"], params["queries"], ctx)
        answers = predict_logits(parent, x)
        soft = params["labels"] == "soft"
        torch.manual_seed(ctx.seed)
        student = build_arch(params["arch"], ctx.data.input_shape, ctx.data.num_classes).to(ctx.device)
        return TrainTask(
            student,
            x,
            answers if soft else answers.argmax(1),
            epochs=params["epochs"],
            lr=params["lr"],
            batch=params["batch"],
            opt=params["opt"],
            seed=ctx.seed,
            **({"criterion": partial(soft_label_loss, temp=1.0)} if soft else {}),
        )
