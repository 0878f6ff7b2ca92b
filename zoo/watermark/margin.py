"""`wm_margin(arch,dataset,...)`: margin-based watermarking (Kim, Lee, Lee, Son, Hwang, ICML 2023).

The paper marks a model with a key set of natural images, each given a random
*wrong* label, and keeps the keys' predictions stable under functionality stealing
by maximising their margin: every training batch draws some keys, pushes each one
to its worst case nearby (projected gradient *ascent* on its watermark-label loss,
the projection being the clamp to [0, 1]), and trains on those perturbed keys with
their watermark labels alongside the clean batch. A stolen copy (distilled or
extracted student) then tends to inherit the keys' labels; verification is the
matching rate on the keys (`methods.margin_wm`).

The official code (CIFAR-10, ResNet-34): 100 keys from a held-out validation split,
8-bit quantised; per batch of 128, 25 keys drawn with replacement, 5 ascent steps of
1/255 started from the stored key (in train mode), and the loss is the mean over the
128 clean and the 25 key cross-entropy terms, the latter weighted by 0.1.

At digits scale (8x8, ~600 training images) the defaults follow the engine's
calibration: 20 keys, 10 per batch of 64, 5 ascent steps of 0.02, weight 0.5 (0.1
did not memorise the keys on digits). The keys are drawn from the owner's
`defender` split with `key_seed` and held out of training (the paper's keys are
validation images the model never saw with their true labels); `eps > 0` adds an
L-inf ball around each key, which the paper does not use (`eps = 0`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.archs import build_arch
from zoo.fit import fit
from zoo.spec import DerivationError
from zoo.steps import StepContext, register_step
from zoo.train import SCRATCH, Train
from zoo.watermark import KEY_SPLIT

MARGIN_DEFAULTS = {
    "keys": 20,
    "key_seed": 0,
    "key_batch": 10,
    "steps": 5,
    "step": 0.02,
    "weight": 0.5,
    "eps": 0.0,
}


def margin_keys(data, n: int, seed: int):
    """The key set: `n` owner images with 8-bit pixels, random wrong labels, true labels, pool index.

    Drawn from the owner's `defender` split with a generator seeded by `seed` alone,
    so the marking step and the method's fingerprint get the same keys.
    """
    pool_x, pool_y = data.x(KEY_SPLIT), data.y(KEY_SPLIT)
    if not 0 < n <= len(pool_x):
        raise ValueError(f"wm_margin: keys must be in 1..{len(pool_x)}, got {n}")
    generator = torch.Generator().manual_seed(seed)
    index = torch.randperm(len(pool_x), generator=generator)[:n]
    offset = torch.randint(1, data.num_classes, (n,), generator=generator)
    index = index.to(pool_x.device)
    true = pool_y[index]
    wrong = (true + offset.to(true.device)) % data.num_classes  # uniform over the other labels
    keys = torch.round(pool_x[index] * 255) / 255
    return keys, wrong, true, index


def ascend(model, keys: torch.Tensor, labels: torch.Tensor, steps: int, size: float, eps: float = 0.0):
    """Each key's worst case nearby: sign-gradient ascent on its watermark-label loss.

    Starts from the stored keys every time and only moves the inputs (the model's
    gradients are untouched); the result is clamped to [0, 1], and to the L-inf
    ball of radius `eps` around the key when `eps > 0`.
    """
    query = keys.detach()
    for _ in range(steps):
        query.requires_grad_(True)
        with torch.enable_grad():  # callers may evaluate under no_grad
            (grad,) = torch.autograd.grad(F.cross_entropy(model(query), labels), query)
        query = query.detach() + size * grad.sign()
        if eps > 0:
            query = torch.min(torch.max(query, keys - eps), keys + eps)
        query = query.clamp(0.0, 1.0)
    return query.detach()


def key_margin(model, keys: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per key: the watermark label's logit minus the best other logit (> 0 means it is kept)."""
    logits = model(keys)
    chosen = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.scatter(1, labels[:, None], float("-inf")).amax(1)
    return chosen - others


@register_step("wm_margin")
class MarginWatermark(Train):
    """A `train` step that also embeds a mark: same recipe parameters, same checks."""

    name = "wm_margin"
    defaults = {**SCRATCH, **MARGIN_DEFAULTS}  # no schedule, smoothing or augmentation
    summary = "train from scratch with margin-maximised watermark keys (Kim et al., ICML 2023)"

    @classmethod
    def check(cls, params):
        super().check(params)
        if params["keys"] < 1 or params["key_batch"] < 1 or params["steps"] < 0:
            raise DerivationError("wm_margin(): keys >= 1, key_batch >= 1 and steps >= 0 are required")
        if params["step"] < 0 or params["weight"] < 0 or params["eps"] < 0:
            raise DerivationError("wm_margin(): step, weight and eps must be >= 0")

    def apply(self, parent, params, ctx: StepContext):
        data = ctx.data
        self.check_data(params, data)
        keys, wrong, _, index = margin_keys(data, params["keys"], params["key_seed"])
        x, y = data.x(params["split"]), data.y(params["split"])
        if params["split"] == KEY_SPLIT:  # keys are held out, never seen with their true label
            keep = torch.ones(len(x), dtype=torch.bool, device=x.device)
            keep[index] = False
            x, y = x[keep], y[keep]
        torch.manual_seed(ctx.seed)
        model = build_arch(params["arch"], data.input_shape, data.num_classes).to(ctx.device)
        draw = torch.Generator().manual_seed(ctx.seed + 1)

        def loss(net, batch):
            pick = torch.randint(0, len(keys), (params["key_batch"],), generator=draw).to(keys.device)
            query = ascend(net, keys[pick], wrong[pick], params["steps"], params["step"], params["eps"])
            clean = F.cross_entropy(net(x[batch]), y[batch], reduction="none")
            marked = params["weight"] * F.cross_entropy(net(query), wrong[pick], reduction="none")
            return torch.cat([clean, marked]).mean()

        return fit(model, x, y, epochs=params["epochs"], lr=params["lr"], batch=params["batch"],
                   opt=params["opt"], seed=ctx.seed, weight_decay=params["wd"], loss=loss)
