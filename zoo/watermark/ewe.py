"""`wm_ewe(arch,dataset,...)`: Entangled Watermark Embeddings (Jia, Choquette-Choo, Chandrasekaran, Papernot, USENIX Security 2021).

EWE plants a trigger set labelled with a target class `t` and *entangles* it with
real class-`t` data, so that a model extracted from the victim's answers cannot
learn the task without also learning the watermark. After a clean phase (plain
cross-entropy), each watermark step trains on a batch of half triggers and half
class-`t` images, all labelled `t`, with the loss

    CE - sum_l kappa * SNNL(h_l, w; T_l)

over the last three hidden layers h_l, w marking trigger (1) vs real (0) rows. The
soft nearest-neighbour loss (SNNL) is large when the two groups are mixed, so
subtracting it pulls triggers and class-`t` data onto the same features; each
temperature T_l follows its own gradient down the SNNL. In the official code
(TensorFlow) distances are cosine distances scaled by T/100, the CE is summed over
the batch (so kappa = 32 on MNIST, 1e5 on CIFAR balances a *sum*), and clean and
watermark batches alternate (`ratio` clean batches per watermark batch).

What we do and why:
- In-distribution triggers (the paper's alternative to out-of-distribution ones,
  which need a second data set offline): the owner's `source`-class images with a
  `patch` x `patch` square set to 1. The repo puts the patch where the pre-watermark
  model's SNNL gradient is smallest and then refines the triggers against that
  model (down the target logit, up the SNNL). The clean-phase model is not kept
  with the marked weights, so a fingerprint could not rebuild those triggers; we
  place the patch where the owner's `source` and `target` images are darkest
  (a spot neither class uses) and skip the refinement. The clean-model trigger
  rate the refinement keeps below 10% is measured by `methods.ewe` instead.
- The CE is a batch mean, so the SNNL weight is kappa / batch (the repo's balance).
- One optimizer step per clean batch; every `ratio`-th step also carries the
  watermark batch's loss (the same number of clean and watermark batches as the
  repo's alternation, with fewer optimizer steps).
Digits defaults: MNIST's (kappa 32, T 1, temperature lr 0.1, ratio 1, 1 -> 7),
the clean phase as long as the source's training, plus 10 watermark epochs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.archs import build_arch
from zoo.fit import fit
from zoo.spec import DerivationError
from zoo.steps import StepContext, register_step
from zoo.train import SCRATCH, Train
from zoo.watermark import KEY_SPLIT

EWE_DEFAULTS = {
    "w_epochs": 10,
    "source": 1,
    "target": 7,
    "patch": 2,
    "kappa": 32.0,
    "temp": 1.0,
    "t_lr": 0.1,
    "ratio": 1,
    "layers": 3,
}


def patch_position(images: torch.Tensor, patch: int) -> tuple[int, int]:
    """Top-left corner of the `patch` square with the least mean intensity over `images`."""
    mean = images.mean(dim=(0, 1))[None, None]
    window = F.avg_pool2d(mean, patch, stride=1)[0, 0]
    flat = int(window.argmin())
    return flat // window.shape[1], flat % window.shape[1]


def ewe_triggers(data, source: int, target: int, patch: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """The trigger set: every owner image of class `source` with a white square at a fixed spot."""
    x, y = data.x(KEY_SPLIT), data.y(KEY_SPLIT)
    if not (0 <= source < data.num_classes and 0 <= target < data.num_classes) or source == target:
        raise ValueError(f"wm_ewe: source and target must be distinct classes of 0..{data.num_classes - 1}")
    row, col = patch_position(x[(y == source) | (y == target)], patch)
    triggers = x[y == source].clone()
    triggers[:, :, row : row + patch, col : col + patch] = 1.0
    return triggers, (row, col)


def snnl(features: torch.Tensor, groups: torch.Tensor, temp: torch.Tensor) -> torch.Tensor:
    """Soft nearest-neighbour loss of ReLU'd features, EWE's form (cosine distance x temp / 100).

    For each row: minus the log of the share of its similarity mass (self excluded)
    that falls on rows of its own group; averaged over rows.
    """
    z = F.normalize(F.relu(features).flatten(1), dim=1)
    distance = 1.0 - z @ z.T
    eye = torch.eye(len(z), device=z.device)
    similarity = (torch.exp(-distance * temp / 100.0) - eye).clamp(0.0, 1.0)
    share = similarity / (1e-5 + similarity.sum(1, keepdim=True))
    same = (groups[:, None] == groups[None, :]).to(share.dtype)
    return -torch.log(1e-5 + (share * same).sum(1)).mean()


def hidden_and_logits(model: nn.Module, x: torch.Tensor, layers: int):
    """The outputs of the last `layers` ReLU modules the forward pass runs, and the logits."""
    seen: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: seen.append(out.clone()))
             for m in model.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
    try:
        logits = model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return seen[-layers:], logits


@register_step("wm_ewe")
class EntangledWatermark(Train):
    """A `train` step that also embeds a mark: same recipe parameters, same checks."""

    name = "wm_ewe"
    defaults = {**SCRATCH, **EWE_DEFAULTS}  # no schedule, smoothing or augmentation
    summary = "train from scratch with an SNNL-entangled trigger watermark (Jia et al., USENIX Security 2021)"

    @classmethod
    def check(cls, params):
        super().check(params)
        if params["w_epochs"] < 0 or params["patch"] < 1 or params["ratio"] < 1 or params["layers"] < 1:
            raise DerivationError("wm_ewe(): w_epochs >= 0, patch >= 1, ratio >= 1 and layers >= 1 are required")
        if params["temp"] <= 0 or params["kappa"] < 0 or params["t_lr"] < 0:
            raise DerivationError("wm_ewe(): temp > 0, kappa >= 0 and t_lr >= 0 are required")

    def apply(self, parent, params, ctx: StepContext):
        data = ctx.data
        self.check_data(params, data)
        triggers, _ = ewe_triggers(data, params["source"], params["target"], params["patch"])
        x, y = data.x(params["split"]), data.y(params["split"])
        real = x[y == params["target"]]
        torch.manual_seed(ctx.seed)
        model = build_arch(params["arch"], data.input_shape, data.num_classes).to(ctx.device)
        train = {"lr": params["lr"], "batch": params["batch"], "opt": params["opt"], "weight_decay": params["wd"]}
        fit(model, x, y, epochs=params["epochs"], seed=ctx.seed, **train)

        half = max(1, params["batch"] // 2)
        draw = torch.Generator().manual_seed(ctx.seed + 1)
        temps = torch.full((params["layers"],), params["temp"], device=x.device)
        groups = torch.cat([torch.ones(half), torch.zeros(half)]).to(x.device)
        labels = torch.full((2 * half,), params["target"], device=y.device)
        weight = params["kappa"] / params["batch"]
        count = [0]

        def loss(net, batch):
            value = F.cross_entropy(net(x[batch]), y[batch])
            count[0] += 1
            if count[0] % params["ratio"]:
                return value
            pick_t = torch.randint(0, len(triggers), (half,), generator=draw).to(x.device)
            pick_r = torch.randint(0, len(real), (half,), generator=draw).to(x.device)
            hidden, logits = hidden_and_logits(net, torch.cat([triggers[pick_t], real[pick_r]]), params["layers"])
            current = temps.clone().requires_grad_(True)  # a fresh leaf: temps can move in place
            entangled = sum(snnl(h, groups, t) for h, t in zip(hidden, current))
            (grad,) = torch.autograd.grad(entangled, current, retain_graph=True)
            temps.sub_(params["t_lr"] * grad)
            return value + F.cross_entropy(logits, labels) - weight * entangled

        return fit(model, x, y, epochs=params["w_epochs"], seed=ctx.seed + 2, loss=loss, **train)
