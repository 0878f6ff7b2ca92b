"""What MetaV, MetaFinger and NaturalFinger share: the owner's model sets, frozen
models, a seeded RNG scope, the input transformations, the CW loss, majority labels.

Owner model sets. All three papers optimise against models the owner trains itself:
positives (copies of the source, "pirated" or "stolen" models) and negatives
(independent models). NaturalFinger used 8 + 8 and gave every compared method the
same sets; we do the same, so with equal `owner_*` parameters the engine trains one
set for all three (a smaller set is a prefix of a larger one). The default is the
paper's 8 + 8: with 4 + 4 on digits, MetaV's verifier called some independent cnns
pirated. Positives cycle through fine-tuning all layers on the owner's data, the
same after re-initialising the head, and distillation into the source's
architecture and into another (mlp; cnn for an mlp source); negatives are trained
from scratch on the owner's data, alternating those two architectures, seeds
1000 + i. Every derived owner step carries rep = 100 + i and uses `defender` data,
so an owner model never coincides with an evaluation suspect (the plan checks it).
Each is one step from the source or a root: the engine's scheduler does not yet
train the intermediate model of a two-step owner derivation (e.g. prune -> finetune).
The source itself is always one more positive: the owner has it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from methods.base import MODELS, STEPS, OwnerContext, owner_derived, owner_train
from zoo.spec import canonical

POSITIVE_RECIPES = (
    "finetune(mode=ftal,data=defender,rep={rep})",
    "finetune(mode=rtal,data=defender,rep={rep})",
    "distill(arch={arch},epochs={epochs},rep={rep})",
    "distill(arch={other},epochs={epochs},rep={rep})",
)
OWNER_DEFAULTS = {"owner_pos": 8, "owner_neg": 8, "owner_epochs": 0}
# At least one owner positive and one negative (`split_owner_models`); owner_epochs 0 = the source's.
OWNER_BOUNDS = {"owner_pos": MODELS, "owner_neg": MODELS, "owner_epochs": (0, STEPS[1])}


def owner_set(source_id: str, params: dict) -> list[str]:
    """Derivation strings of the owner's positives (derived, with '->') and negatives (roots).

    Students and negatives train for `owner_epochs` epochs, 0 meaning the source's own
    count: a verifier or fingerprint fitted to negatives trained longer than the source
    learns "less confident = pirated", which independent models then satisfy.
    """
    root = canonical(source_id).root.as_dict()
    epochs = params["owner_epochs"] or root["epochs"]
    archs = (root["arch"], "mlp" if root["arch"] != "mlp" else "cnn")
    positives = [
        owner_derived(source_id, POSITIVE_RECIPES[i % len(POSITIVE_RECIPES)].format(
            rep=100 + i, epochs=epochs, arch=archs[0], other=archs[1]))
        for i in range(params["owner_pos"])
    ]
    negatives = [owner_train(source_id, archs[i % 2], 1000 + i, epochs=epochs) for i in range(params["owner_neg"])]
    return positives + negatives


def split_owner_models(source: nn.Module, owner: OwnerContext) -> tuple[list[nn.Module], list[nn.Module]]:
    """(positives with the source first, negatives), in a fixed order.

    A derived model (its id has a '->' step) descends from the source; a root is an
    independent model the owner trained from scratch.
    """
    ids = sorted(owner.owner_models)
    positives = [source] + [owner.owner_models[i] for i in ids if "->" in i]
    negatives = [owner.owner_models[i] for i in ids if "->" not in i]
    if len(positives) < 2 or not negatives:
        raise ValueError("meta-trained fingerprints need at least one owner positive and one owner negative")
    return positives, negatives


@contextmanager
def frozen(models: Iterable[nn.Module]):
    """Eval mode, no parameter gradients; both restored afterwards (owner models are shared)."""
    models = list(models)
    state = [(m.training, [p.requires_grad for p in m.parameters()]) for m in models]
    for m in models:
        m.eval()
        for p in m.parameters():
            p.requires_grad_(False)
    try:
        yield models
    finally:
        for m, (training, flags) in zip(models, state):
            m.train(training)
            for p, flag in zip(m.parameters(), flags):
                p.requires_grad_(flag)


@contextmanager
def seeded(seed: int):
    """Seed the global RNG (module initialisation uses it) without leaking the state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield torch.Generator().manual_seed(seed)


def cw_loss(logits: torch.Tensor, target: torch.Tensor, kappa: float) -> torch.Tensor:
    """Targeted Carlini-Wagner loss max(max_{i != t} z_i - z_t, -kappa), averaged."""
    z_t = logits.gather(1, target[:, None]).squeeze(1)
    others = logits.scatter(1, target[:, None], float("-inf")).max(dim=1).values
    return torch.clamp(others - z_t, min=-kappa).mean()


def majority(preds: torch.Tensor) -> torch.Tensor:
    """Per-column most frequent label of a models x samples matrix (ties: the smallest)."""
    return torch.mode(preds, dim=0).values


@torch.no_grad()
def predictions(models: list[nn.Module], x: torch.Tensor) -> torch.Tensor:
    """models x samples argmax labels."""
    return torch.stack([m(x).argmax(1) for m in models])


# ---------------------------------------------------------------- input transformations
# Differentiable, torch-only versions of the transformations the official MetaFinger and
# NaturalFinger code apply to a whole batch at a time. Sizes the code gives in pixels of
# 32 x 32 images are fractions of the side here.
Transform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * torch.rand((), generator=generator).item()


def _affine(x: torch.Tensor, theta: list[list[float]]) -> torch.Tensor:
    matrix = torch.tensor(theta, dtype=x.dtype, device=x.device).expand(len(x), 2, 3)
    grid = F.affine_grid(matrix, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)


def translate(x, g, max_fraction=1 / 16):
    """Shift right and down by up to `max_fraction` of the side, bilinear.

    The code shifts by up to 5 px of 32; on 8 x 8 digits that 1-px shift changed the
    label of every optimised image, so the default is 1/16 of the side.
    """
    shift = [2 * _uniform(g, 0, max_fraction) for _ in range(2)]
    return _affine(x, [[1, 0, shift[0]], [0, 1, shift[1]]])


def shear(x, g, limit=0.1):
    return _affine(x, [[1, _uniform(g, 0, limit), 0], [_uniform(g, 0, limit), 1, 0]])


def rescale(x, g, low=24 / 32, high=40 / 32):
    """Resize-and-pad (MetaFinger's RP2 draws a size in 24..40 for 32 px images)."""
    s = 1 / _uniform(g, low, high)
    return _affine(x, [[s, 0, 0], [0, s, 0]])


def _box(x, kernel):
    c = x.shape[1]
    weight = kernel.to(x)[None, None].expand(c, 1, *kernel.shape)
    return F.conv2d(F.pad(x, [kernel.shape[-1] // 2] * 4, mode="replicate"), weight, groups=c)


def average_blur(x, g):
    return _box(x, torch.full((3, 3), 1 / 9))


def gaussian_blur(x, g, sigma=0.8):
    r = torch.arange(-1.0, 2.0)
    k = torch.exp(-(r[:, None] ** 2 + r[None] ** 2) / (2 * sigma**2))
    return _box(x, k / k.sum())


def median_blur(x, g):
    b, c, h, w = x.shape
    patches = F.unfold(F.pad(x, [1] * 4, mode="replicate"), 3).view(b, c, 9, h * w)
    return patches.median(dim=2).values.view(b, c, h, w)


def gaussian_noise(std):
    def apply(x, g):
        return x + std * torch.randn(x.shape, generator=g).to(x)
    return apply


def uniform_noise(width):
    def apply(x, g):
        return x + width * (2 * torch.rand(x.shape, generator=g).to(x) - 1)
    return apply


TRANSFORMS: dict[str, Transform] = {
    "identity": lambda x, g: x,
    "hflip": lambda x, g: x.flip(-1),
    "translate": translate,
    "shear": shear,
    "rescale": rescale,
    "average_blur": average_blur,
    "gaussian_blur": gaussian_blur,
    "median_blur": median_blur,
    "noise_0.02": gaussian_noise(0.02),
    "noise_0.05": gaussian_noise(0.05),
    "uniform_0.05": uniform_noise(0.05),
}


def random_transform(names: list[str], generator: torch.Generator) -> Transform:
    """One transformation for the whole batch, as the official loops draw it."""
    return TRANSFORMS[names[int(torch.randint(len(names), (), generator=generator))]]


def keep_order(passed: torch.Tensor, quality: torch.Tensor, n: int) -> torch.Tensor:
    """Indices of the candidates that passed screening, in generation order, at most n.

    As in the official code, a fingerprint holds only what passed, so it can be
    shorter than n. If fewer than max(1, n // 10) passed, the best of the rest (by
    `quality`) fill up to that floor, so a fingerprint is never empty.
    """
    kept = torch.nonzero(passed).squeeze(1)[:n]
    floor = max(1, n // 10)
    if len(kept) >= floor:
        return kept
    return torch.argsort(-quality, stable=True)[:floor]
