"""An offline pool of natural-image patches: out-of-distribution queries for Knockoff.

Knockoff Nets steal a model by querying it with images from a *different*
distribution than its training data; FingerBench queries its CIFAR-10 source with
CIFAR-100. A small data set such as 8x8 digits has no such sibling that ships with
the library, and the benchmark never downloads, so this pool cuts random patches out
of real photographs available offline: the two sample photos scikit-learn ships
(china.jpg and flower.jpg, 427x640 RGB). Only those, so the pool, and every Knockoff
student built from it, is the same on every machine.

Each patch is a square crop of random side (16 to max(96, 2*max(H, W)) pixels) at a
random place in a random photo, resized to H x W with area averaging (bilinear when
enlarging), converted to luminance (ITU-R BT.601 weights) when the data has one
channel, and flipped horizontally with probability 1/2. Pixels stay in [0, 1] with
no other normalisation, as the benchmark's images are. The result depends only on
`seed` and the shape.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from zoo.datasets.base import sklearn_file

MIN_SIDE = 16
LUMA = (0.299, 0.587, 0.114)


PHOTOS = ("china.jpg", "flower.jpg")  # scikit-learn's sample images, in load_sample_images' order


@lru_cache(maxsize=1)
def photos() -> tuple[torch.Tensor, ...]:
    """The source photos as float32 3 x H x W tensors in [0, 1], decoded straight from the JPEGs."""
    from PIL import Image

    images = [np.asarray(Image.open(sklearn_file(f"datasets/images/{name}")).convert("RGB")) for name in PHOTOS]
    return tuple(torch.tensor(im, dtype=torch.float32).permute(2, 0, 1) / 255.0 for im in images)


def natural_patches(input_shape: tuple[int, int, int], n: int, seed: int) -> np.ndarray:
    """`n` random photo patches shaped like the data (N x C x H x W float32 in [0, 1])."""
    c, h, w = input_shape
    if c not in (1, 3):
        raise ValueError(f"natural patches need 1 or 3 channels, got {c}")
    pool = photos()
    rng = np.random.default_rng(seed)
    patches = torch.empty(n, 3, h, w)
    for i in range(n):
        photo = pool[rng.integers(len(pool))]
        largest = min(photo.shape[1], photo.shape[2])
        side = int(rng.integers(MIN_SIDE, min(largest, max(96, 2 * max(h, w))) + 1))
        top = int(rng.integers(photo.shape[1] - side + 1))
        left = int(rng.integers(photo.shape[2] - side + 1))
        crop = photo[None, :, top : top + side, left : left + side]
        patches[i] = F.interpolate(crop, size=(h, w), mode="area" if side >= max(h, w) else "bilinear")[0]
    flip = torch.from_numpy(rng.random(n) < 0.5)
    patches[flip] = patches[flip].flip(-1)
    if c == 1:
        patches = torch.einsum("c,nchw->nhw", torch.tensor(LUMA), patches)[:, None]
    return patches.clamp(0.0, 1.0).numpy()
