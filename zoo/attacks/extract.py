"""SAC's model-extraction attacks: Extract-L, Extract-P and Extract-Adv in one step.

SAC (Guan et al.) steals its source with a fresh student trained only on the
victim's answers to the attacker's own images, never their true labels:

- `kind=l` (Extract-L): cross-entropy on the victim's hard labels;
- `kind=p` (Extract-P): 0.9 * T^2 * KL(victim/T || student/T) + 0.1 * CE(victim label), T = 20;
- `kind=adv` (Extract-Adv): Extract-L, then 2 epochs of adversarial fine-tuning on
  CE(student(x), label) + CE(student(x_pgd), label), with PGD-L-inf against the
  student itself: eps 4/256, step 1/256, 30 iterations, in pixel space, starting at x.

SAC trains 200 epochs of SGD (lr 0.05, 0.1 for -P, cosine schedule, batch 512) and
the adversarial phase with SGD at lr 1e-3 on CIFAR. What differs here and why: the
defaults are the digits-scale setting, 60 epochs of Adam at lr 1e-3, batch 64, and
both phases share `lr`/`opt`; the attacker split of digits holds ~180 images, so
`augment=true` (default) adds their horizontal mirrors, also labelled by the victim,
as the engine's calibration did. PGD takes 10 iterations by default (SAC: 30), which
with step 1/256 still reaches the eps = 4/256 boundary. SAC's `nn.KLDivLoss()`
averages over classes as well as images, which shrinks its KL term by the class
count; this step uses the per-image KL of the formula (`zoo.fit.soft_label_loss`).
SAC re-initialises students that diverge; Adam at these sizes does not need it.
"""
from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F

from zoo.adversarial import pgd_linf
from zoo.archs import ARCHS, build_arch
from zoo.datasets import SPLITS
from zoo.fit import TrainTask, fit, fit_many, predict_logits, soft_label_loss
from zoo.spec import DerivationError
from zoo.steps import StepContext, StepKind, register_attack

SOFT_WEIGHT = 0.9  # Extract-P's weight of the distillation term; 1 - SOFT_WEIGHT goes to CE


def extract_p_loss(student_logits, victim_logits, temp: float) -> torch.Tensor:
    """SAC's Extract-P loss: 0.9 T^2 KL at temperature T plus 0.1 CE on the victim's argmax."""
    hard = F.cross_entropy(student_logits, victim_logits.argmax(1))
    return SOFT_WEIGHT * soft_label_loss(student_logits, victim_logits, temp) + (1 - SOFT_WEIGHT) * hard


@register_attack("extract")
class Extract(StepKind):
    name = "extract"
    required = ("arch",)
    defaults = {
        "kind": "l",
        "data": "attacker",
        "augment": True,
        "temp": 20.0,
        "epochs": 60,
        "lr": 0.001,
        "batch": 64,
        "opt": "adam",
        "adv_eps": 4 / 256,
        "adv_alpha": 1 / 256,
        "adv_steps": 10,
        "adv_epochs": 2,
    }
    choices = {"kind": ("l", "p", "adv"), "data": SPLITS, "opt": ("adam", "sgd")}
    summary = "SAC's model extraction from the model's hard labels (l), soft labels (p) or plus PGD fine-tuning (adv)"
    tiny = "extract(arch=mlp,kind=l,epochs=2)"

    @classmethod
    def check(cls, params):
        if params["arch"] not in ARCHS:
            raise DerivationError(
                f"extract(arch={params['arch']!r}): unknown; allowed: {', '.join(ARCHS.names())}"
            )
        for key in ("adv_eps", "adv_alpha"):  # temp, lr, epochs, batch: zoo.steps.SHARED_BOUNDS
            if params[key] <= 0:
                raise DerivationError(f"extract({key}={params[key]}) must be > 0")
        for key in ("adv_steps", "adv_epochs"):
            if params[key] < 1:
                raise DerivationError(f"extract({key}={params[key]}) must be >= 1")

    @classmethod
    def packable(cls, params) -> bool:
        """Extract-Adv's second phase differentiates through the student itself: it trains alone."""
        return params["kind"] != "adv"

    def prepare(self, parent, params, ctx: StepContext) -> TrainTask:
        """The student trained on the victim's answers (Extract-L / -P; the first phase of -Adv)."""
        x = ctx.data.x(params["data"])
        if params["augment"]:
            x = torch.cat([x, x.flip(-1)])
        answers = predict_logits(parent, x)
        torch.manual_seed(ctx.seed)
        student = build_arch(params["arch"], ctx.data.input_shape, ctx.data.num_classes).to(ctx.device)
        train = dict(epochs=params["epochs"], lr=params["lr"], batch=params["batch"], opt=params["opt"], seed=ctx.seed)
        if params["kind"] == "p":
            return TrainTask(student, x, answers, criterion=partial(extract_p_loss, temp=params["temp"]), **train)
        return TrainTask(student, x, answers.argmax(1), **train)

    def apply(self, parent, params, ctx: StepContext):
        task = self.prepare(parent, params, ctx)
        student = fit_many([task])[0]
        if params["kind"] != "adv":
            return student
        x, labels = task.x, task.targets
        eps, alpha, steps = params["adv_eps"], params["adv_alpha"], params["adv_steps"]

        def adversarial(model, index):
            clean, y = x[index], labels[index]
            x_adv = pgd_linf(model, clean, y, eps, alpha, steps)  # from x itself, as SAC
            return F.cross_entropy(model(clean), y) + F.cross_entropy(model(x_adv), y)

        return fit(student, x, labels, loss=adversarial, epochs=params["adv_epochs"], lr=params["lr"],
                   batch=params["batch"], opt=params["opt"], seed=ctx.seed)
