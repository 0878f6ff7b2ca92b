"""`wm_features(arch,dataset,...)`: embedded external features (Li, Zhu, Jia, Jiang, Xia, Cao, AAAI 2022).

The defender style-transfers a small share (10% in the paper) of its training
images, keeps their labels, and trains the victim normally on the modified set.
The style is an *external* feature: natural data does not have it, so a model only
knows it if it learned from the victim's training set, directly or through the
victim (a stolen copy). Nothing else about training changes. Verification
(`methods.external_features`) trains a meta-classifier on how the owner's marked
and benign models respond to the styled images and tests the suspect with it.

At digits scale the transfer is the CPU stand-in of `zoo.watermark.style` (pixel
AdaIN plus a pointillist texture blended at `alpha`); `fraction` of the owner's
`defender` split is styled, the images picked with `pick_seed` and the style drawn
with `style_seed`, so the method's fingerprint regenerates exactly these images.
The step only trains on the `defender` split: the styled images are the owner's.
"""
from __future__ import annotations

import torch

from zoo.archs import build_arch
from zoo.fit import fit
from zoo.spec import DerivationError
from zoo.steps import StepContext, register_step
from zoo.train import SCRATCH, Train
from zoo.watermark import KEY_SPLIT
from zoo.watermark.style import style_image, stylize

FEATURE_DEFAULTS = {"fraction": 0.1, "alpha": 0.4, "style_seed": 0, "pick_seed": 0}


def styled_subset(data, fraction: float, alpha: float, style_seed: int, pick_seed: int):
    """The embedded images: (index into the defender split, styled images, their true labels)."""
    x, y = data.x(KEY_SPLIT), data.y(KEY_SPLIT)
    count = max(1, round(fraction * len(x)))
    pick = torch.randperm(len(x), generator=torch.Generator().manual_seed(pick_seed))[:count].to(x.device)
    styled = stylize(x[pick], style_image(data.input_shape, style_seed), alpha)
    return pick, styled, y[pick]


@register_step("wm_features")
class ExternalFeatures(Train):
    """A `train` step that also embeds a mark: same recipe parameters, same checks."""

    name = "wm_features"
    defaults = {**SCRATCH, **FEATURE_DEFAULTS}  # no schedule, smoothing or augmentation
    choices = {**Train.choices, "split": (KEY_SPLIT,)}
    summary = "train from scratch with a styled share of the training set (Li et al., AAAI 2022)"

    @classmethod
    def check(cls, params):
        super().check(params)
        if not 0 < params["fraction"] <= 1 or not 0 <= params["alpha"] <= 1:
            raise DerivationError("wm_features(): 0 < fraction <= 1 and 0 <= alpha <= 1 are required")

    def apply(self, parent, params, ctx: StepContext):
        data = ctx.data
        self.check_data(params, data)
        pick, styled, _ = styled_subset(data, params["fraction"], params["alpha"], params["style_seed"],
                                        params["pick_seed"])
        x = data.x(KEY_SPLIT).clone()
        x[pick] = styled
        torch.manual_seed(ctx.seed)
        model = build_arch(params["arch"], data.input_shape, data.num_classes).to(ctx.device)
        return fit(model, x, data.y(KEY_SPLIT), epochs=params["epochs"], lr=params["lr"], batch=params["batch"],
                   opt=params["opt"], seed=ctx.seed, weight_decay=params["wd"])
