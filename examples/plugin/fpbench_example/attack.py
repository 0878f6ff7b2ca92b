"""`quantize(bits=k)`: post-training quantisation, a cheap way to pass a model off as one's own.

Every Conv2d/Linear weight tensor W is rounded to 2^(k-1) - 1 levels each side of 0
with one scale per tensor, s = max|W| / (2^(k-1) - 1): W <- s * round(W / s).
Biases and normalisation layers are left as they are. Nothing is trained, so the
step is deterministic and takes milliseconds; chain `->finetune` to recover accuracy.
"""
from __future__ import annotations

import torch
from torch import nn

from zoo.spec import DerivationError
from zoo.steps import StepContext, StepKind


@torch.no_grad()
def quantize_weights(model: nn.Module, bits: int) -> nn.Module:
    """Round each Conv2d/Linear weight to `bits`-bit symmetric levels, in place."""
    levels = 2 ** (bits - 1) - 1
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            w = module.weight
            scale = w.abs().max() / levels
            if scale > 0:
                w.copy_(torch.round(w / scale) * scale)
    return model


class Quantize(StepKind):
    defaults = {"bits": 8}
    positional = ("bits",)
    summary = "round every layer's weights to k-bit symmetric levels, one scale per tensor (chain ->finetune)"
    tiny = "quantize(bits=4)"

    @classmethod
    def check(cls, params):
        if not 2 <= params["bits"] <= 16:
            raise DerivationError(f"quantize(bits={params['bits']}) must be in [2, 16]")

    def apply(self, parent, params, ctx: StepContext):
        return quantize_weights(parent, params["bits"])
