"""The papers' CIFAR architectures: published parameter counts, and they run at every paper size.

Counts are those of kuangliu/pytorch-cifar's models at 3x32x32 with 10 classes,
the layout the fingerprinting papers' CIFAR code uses.
"""
from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from zoo.archs import build_arch, list_archs

PUBLISHED = {
    "resnet18": 11_173_962,
    "resnet34": 21_282_122,
    "vgg16_bn": 14_728_266,
    "vgg13_bn": 9_416_010,
    "mobilenetv2": 2_296_922,
    "densenet121": 6_956_298,
}
# The built-in families at digits size, as they were before the paper archs came.
DIGITS_SIZES = {"cnn": 38_282, "mlp": 26_122, "resnet": 77_754, "vgg": 24_058, "mobilenet": 82_714}
CIFAR, TINY_IMAGENET = (3, 32, 32), (3, 64, 64)


def build(name: str, shape=CIFAR, num_classes: int = 10, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_arch(name, shape, num_classes)


@functools.lru_cache(maxsize=None)
def cifar_model(name: str) -> nn.Module:
    """One CIFAR-10 model per arch, shared by the tests that only read it."""
    return build(name).eval()


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_registered_beside_the_builtin_families():
    assert set(PUBLISHED) | set(DIGITS_SIZES) <= set(list_archs())


@pytest.mark.parametrize("name", DIGITS_SIZES)
def test_builtin_families_keep_their_digits_size(name):
    assert count(build(name, (1, 8, 8))) == DIGITS_SIZES[name]


@pytest.mark.parametrize("name", PUBLISHED)
def test_parameter_count_matches_the_published_figure(name):
    assert count(cifar_model(name)) == PUBLISHED[name]


@pytest.mark.parametrize("name", PUBLISHED)
def test_forward_gives_finite_logits_and_features(name):
    model = cifar_model(name)
    with torch.no_grad():
        x = torch.rand(2, *CIFAR)
        logits, features = model(x), model.features(x)
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()
    assert features.shape == (2, model.head.in_features)


@pytest.mark.parametrize("name", PUBLISHED)
def test_one_training_step_changes_every_layer(name):
    model = build(name).train()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    before = [p.detach().clone() for p in model.parameters()]
    loss = nn.functional.cross_entropy(model(torch.rand(2, *CIFAR)), torch.tensor([3, 7]))
    loss.backward()
    optimiser.step()
    assert torch.isfinite(loss)
    assert all(not torch.equal(a, p) for a, p in zip(before, model.parameters()))


@pytest.mark.parametrize("name", PUBLISHED)
def test_tiny_imagenet_size_keeps_the_layout_with_100_classes(name):
    """At 64x64 the final pool is global, so only the head grows with the label count."""
    model = build(name, TINY_IMAGENET, num_classes=100).eval()
    features = model.head.in_features
    assert count(model) == PUBLISHED[name] + 90 * (features + 1)
    with torch.no_grad():
        out = model(torch.rand(2, *TINY_IMAGENET))
    assert out.shape == (2, 100) and torch.isfinite(out).all()
