"""How a model is trained from scratch on each data set: one table, every number with its source.

A `train(arch,dataset,...)` step takes its dataset's recipe as its defaults, so the
id of every root model says exactly how it was trained (a spec's `[source]` table
overrides any field). Fields at their neutral value (no schedule, no warm-up, no
label smoothing, no augmentation) are left out of the id, so the digits ids and
results are the ones fpbench has always had.

Attack steps keep their own optimiser settings (the papers give them: fine-tune 10
epochs of SGD at lr 0.005, ...); a fine-tune on true labels also takes the data
set's augmentation (`augment_for`), as does a transfer: an attacker retraining on CIFAR crops and
flips like the owner did. Steps whose targets are a teacher's outputs on fixed
inputs (distillation, extraction) do not augment: the teacher's answers would no
longer match the images.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

from zoo.augment import Augment

SCHEDULES = ("constant", "cosine", "step", "onecycle")
AUGMENTATIONS = {"none": Augment(), "flip": Augment(flip=True), "crop4flip": Augment(crop_pad=4, flip=True),
                 "crop8flip": Augment(crop_pad=8, flip=True)}
# Left out of a derivation string when at these values (ids from before recipes stay valid).
NEUTRAL = {"sched": "constant", "warmup": 0, "smooth": 0.0, "aug": "none"}


@dataclass(frozen=True)
class Recipe:
    """Training from scratch: optimiser (SGD has momentum 0.9), lr, epochs, batch, weight decay,
    lr schedule over all steps (warm-up epochs first), label smoothing and augmentation."""

    opt: str
    lr: float
    epochs: int
    batch: int
    wd: float
    sched: str = "constant"
    warmup: int = 0
    smooth: float = 0.0
    aug: str = "none"

    def params(self) -> dict:
        return asdict(self)


# fpbench's CPU-scale recipe: 97-98 % test accuracy on the 8x8 sets in seconds (README, "Which data set").
SMALL = Recipe(opt="adam", lr=0.001, epochs=30, batch=64, wd=0.0)

# kuangliu/pytorch-cifar @ 49b7aa9 (main.py): SGD lr 0.1, momentum 0.9, weight decay 5e-4,
# batch 128, cosine annealing over 200 epochs, random crop (pad 4) and horizontal flip; its
# README reports VGG16 92.64, ResNet18 93.02, MobileNetV2 94.43, DenseNet121 95.04 % on CIFAR-10
# (which schedule produced that table is not stated). The fingerprinting papers do not publish
# their source recipes (shared paper-settings.md, section 6).
CIFAR = Recipe(opt="sgd", lr=0.1, epochs=200, batch=128, wd=5e-4, sched="cosine", aug="crop4flip")

RECIPES: dict[str, Recipe] = {
    "digits": SMALL,
    "hard_digits": SMALL,
    "shapes": SMALL,
    # 28x28 grey: the small recipe with a larger batch (SAC's Fashion-MNIST recipe is unpublished).
    "fashion_mnist": Recipe(opt="adam", lr=0.001, epochs=30, batch=128, wd=0.0),
    "cifar10": CIFAR,
    "cifar100": CIFAR,  # the same recipe; the papers' CIFAR-100 recipes are unpublished
    # 64x64: the CIFAR recipe with the crop scaled to the input (pad 8) and half the epochs.
    # MarginFinger's Tiny-ImageNet models start from ImageNet weights (SGD lr 0.01, batch 32,
    # <= 40 epochs, rotation + flip), which fpbench cannot download; training from scratch
    # needs the longer schedule.
    "tiny_imagenet": Recipe(opt="sgd", lr=0.1, epochs=100, batch=128, wd=5e-4, sched="cosine", aug="crop8flip"),
}


@lru_cache(maxsize=None)
def recipe_params(dataset: str) -> dict:
    """`recipe_for(dataset).params()`, computed once: every root id of a plan asks for it. Do not mutate."""
    return recipe_for(dataset).params()


def recipe_for(dataset: str) -> Recipe:
    """The dataset's recipe; a data set without its own (a plugin) trains with the small one."""
    return RECIPES.get(dataset, SMALL)


def augment_for(dataset: str) -> Augment:
    return AUGMENTATIONS[recipe_for(dataset).aug]
