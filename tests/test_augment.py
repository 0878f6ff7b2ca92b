"""Device-side augmentation: crops and flips are exact, seeded, and off by default."""
from __future__ import annotations

import pytest
import torch

from zoo.augment import Augment


def batch(n: int = 64, dtype=torch.float32) -> torch.Tensor:
    """Nonzero pixels, all distinct in float, so an augmented image matches one crop and flip only."""
    x = 1 + torch.randperm(n * 3 * 8 * 8, generator=torch.Generator().manual_seed(0)).view(n, 3, 8, 8)
    return x.to(dtype) if dtype.is_floating_point else (x % 255 + 1).to(dtype)


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def crops(image: torch.Tensor, pad: int) -> list[torch.Tensor]:
    """Every window of the image's size in the zero-padded image, by plain slicing."""
    _, h, w = image.shape
    padded = torch.zeros(image.shape[0], h + 2 * pad, w + 2 * pad, dtype=image.dtype)
    padded[:, pad:pad + h, pad:pad + w] = image
    return [padded[:, i:i + h, j:j + w] for i in range(2 * pad + 1) for j in range(2 * pad + 1)]


def test_default_is_the_identity():
    x = batch()
    assert Augment().identity and Augment().apply(x, seeded(0)) is x


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32], ids=str)
def test_same_seed_same_batch_and_seeds_differ(dtype):
    x, augment = batch(dtype=dtype), Augment(crop_pad=4, flip=True)
    out = augment.apply(x, seeded(1))
    assert out.shape == x.shape and out.dtype == dtype
    assert torch.equal(out, augment.apply(x, seeded(1)))
    assert not torch.equal(out, augment.apply(x, seeded(2)))


def test_every_crop_is_a_shifted_window_of_the_padded_image():
    x, pad = batch(n=16), 2
    out = Augment(crop_pad=pad).apply(x, seeded(3))
    matches = [[k for k, crop in enumerate(crops(image, pad)) if torch.equal(o, crop)]
               for image, o in zip(x, out)]
    assert all(len(m) == 1 for m in matches)
    assert len({m[0] for m in matches}) > 1  # the offsets vary across the batch


def test_flip_mirrors_about_half_the_images():
    x = batch()
    out = Augment(flip=True).apply(x, seeded(4))
    mirrored = [torch.equal(o, image.flip(-1)) for image, o in zip(x, out)]
    kept = [torch.equal(o, image) for image, o in zip(x, out)]
    assert all(m != k for m, k in zip(mirrored, kept))
    assert 16 < sum(mirrored) < 48


def test_crop_and_flip_together_give_a_mirrored_window():
    x, pad = batch(n=16), 4
    out = Augment(crop_pad=pad, flip=True).apply(x, seeded(5))
    for image, o in zip(x, out):
        assert any(torch.equal(o, crop) or torch.equal(o, crop.flip(-1)) for crop in crops(image, pad))


def test_refuses_a_negative_pad_and_a_single_image():
    with pytest.raises(ValueError, match="crop_pad"):
        Augment(crop_pad=-1)
    with pytest.raises(ValueError, match="N x C x H x W"):
        Augment(flip=True).apply(torch.zeros(3, 8, 8), seeded(0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_cpu_generator_gives_the_same_batch_on_the_gpu():
    x, augment = batch(dtype=torch.uint8), Augment(crop_pad=4, flip=True)
    on_gpu = augment.apply(x.cuda(), seeded(6))
    assert on_gpu.is_cuda and torch.equal(on_gpu.cpu(), augment.apply(x, seeded(6)))
