"""Adversarial fine-tuning (FingerBench): fine-tune with PGD examples for a fraction r.

FingerBench "infuses adversarial examples during fine-tuning": PGD-L-inf examples at
eps = 8/255 for the fraction r = 0.1..1.0 of the fine-tune data, then fine-tuning as
its other modifications (10 epochs of SGD at lr 0.005). Steps and step size are
unspecified; the engine uses the common 10 steps of alpha = 2/255. eps and alpha are
in pixel units of images in [0, 1]; the defaults stay 8/255 and 2/255 on every data
set, 8x8 digits included, so ids mean the same everywhere (digits is only a
calibration stand-in for CIFAR).

Which images are adversarial is a fixed random subset of round(r*N) images drawn with
the step's seed. Their adversarial versions replace them and are regenerated in each
batch against the current weights (standard adversarial training: an example made
against stale weights stops being adversarial), untargeted, maximising cross-entropy
on the true label from a random start in the eps-ball.

The adversarial batches are built inside `fit`'s per-batch `loss` hook, since they
depend on the weights being trained.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.adversarial import pgd_linf
from zoo.datasets import SPLITS
from zoo.fit import fit
from zoo.spec import DerivationError
from zoo.steps import StepContext, StepKind, register_attack


def adversarial_subset(n: int, fraction: float, generator: torch.Generator) -> torch.Tensor:
    """A boolean mask over n images with round(fraction * n) of them set, chosen at random."""
    mask = torch.zeros(n, dtype=torch.bool)
    mask[torch.randperm(n, generator=generator)[: round(fraction * n)]] = True
    return mask


@register_attack("advtrain")
class AdvTrain(StepKind):
    name = "advtrain"
    defaults = {
        "fraction": 0.5,
        "eps": 8 / 255,
        "steps": 10,
        "alpha": 2 / 255,
        "epochs": 10,
        "lr": 0.005,
        "batch": 64,
        "opt": "sgd",
        "data": "finetune",
    }
    choices = {"opt": ("adam", "sgd"), "data": SPLITS}
    summary = "fine-tune with PGD-L-inf examples of the current model for a fraction of the images"
    tiny = "advtrain(fraction=0.5,epochs=1,steps=2)"

    @classmethod
    def check(cls, params):
        if not 0.0 < params["fraction"] <= 1.0:
            raise DerivationError(f"advtrain(fraction={params['fraction']}) must be in (0, 1]")
        for key in ("eps", "alpha"):  # lr, epochs, batch: zoo.steps.SHARED_BOUNDS
            if not params[key] > 0:
                raise DerivationError(f"advtrain({key}={params[key]}) must be > 0")
        if params["steps"] < 0:
            raise DerivationError(f"advtrain(steps={params['steps']}) must be >= 0")

    def apply(self, parent, params, ctx: StepContext):
        torch.manual_seed(ctx.seed)
        x, y = ctx.data.x(params["data"]), ctx.data.y(params["data"])
        generator = torch.Generator().manual_seed(ctx.seed)
        adversarial = adversarial_subset(len(x), params["fraction"], generator).to(x.device)
        attack = {k: params[k] for k in ("eps", "alpha", "steps")}

        def loss(model, index):
            images, labels, pick = x[index], y[index], adversarial[index]
            if pick.any():
                images = images.clone()
                images[pick] = pgd_linf(model, images[pick], labels[pick], generator=generator, **attack)
            return F.cross_entropy(model(images), labels)

        return fit(parent, x, y, epochs=params["epochs"], lr=params["lr"], batch=params["batch"],
                   opt=params["opt"], seed=ctx.seed, loss=loss)
