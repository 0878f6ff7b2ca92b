"""Data augmentation on the training device: random crop with zero padding, horizontal flip.

The papers train their CIFAR sources with a random 32x32 crop of the image padded
by 4 and a random horizontal flip. Doing this per batch on the tensor already on
the device (uint8 or float, N x C x H x W) needs no DataLoader workers and costs one
gather: each output pixel is read from the padded batch at a per-image offset, and
a flip just reverses the column order. The draws come from the generator passed in,
so a seed fixes every crop and flip; a CPU generator gives the same ones whatever
device the batch is on. The default `Augment()` does nothing, which keeps the
digits results as they are.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augment:
    """`crop_pad`: zero padding on each side before the random crop (0: no crop);
    `flip`: mirror each image left-right with probability 1/2."""

    crop_pad: int = 0
    flip: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.crop_pad, int) or self.crop_pad < 0:
            raise ValueError(f"crop_pad must be a whole number >= 0, got {self.crop_pad!r}")

    @property
    def identity(self) -> bool:
        return self.crop_pad == 0 and not self.flip

    def apply(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A new batch of x's shape, dtype and device (x itself when nothing is on)."""
        if self.identity:
            return x
        if x.ndim != 4:
            raise ValueError(f"expected an N x C x H x W batch, got shape {tuple(x.shape)}")
        n, c, h, w = x.shape
        pad = self.crop_pad
        draw = generator.device if generator is not None else x.device
        offsets = torch.randint(0, 2 * pad + 1, (2, n), generator=generator, device=draw).to(x.device)
        rows = offsets[0, :, None] + torch.arange(h, device=x.device)  # (n, h) in padded coordinates
        cols = offsets[1, :, None] + torch.arange(w, device=x.device)  # (n, w)
        if self.flip:
            flipped = torch.rand(n, generator=generator, device=draw).to(x.device) < 0.5
            cols = torch.where(flipped[:, None], cols.flip(1), cols)
        padded = F.pad(x, (pad, pad, pad, pad)) if pad else x
        index = (rows[:, :, None] * (w + 2 * pad) + cols[:, None, :]).view(n, 1, h * w).expand(n, c, h * w)
        return padded.flatten(2).gather(2, index).view(n, c, h, w)
