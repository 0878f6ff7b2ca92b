"""Architecture registry: `build_arch(name, input_shape, num_classes)`.

Each family lives in its own module and registers itself with `@register_arch`;
importing this package imports them all (they are small and import only torch).
"""
from __future__ import annotations

from zoo.archs.base import Classifier
from zoo.registry import Registry

ARCHS: Registry = Registry("architecture")
register_arch = ARCHS.register


def build_arch(name: str, input_shape: tuple[int, int, int], num_classes: int) -> Classifier:
    """A freshly initialised model; seed torch before calling for a reproducible init."""
    return ARCHS.get(name)(tuple(input_shape), int(num_classes))


def list_archs() -> list[str]:
    return ARCHS.names()


from zoo.archs import cnn, mlp, mobilenet, resnet, vgg  # noqa: E402,F401  (registers the built-in families)
from zoo.archs import densenet, mobilenetv2, resnet_cifar, vgg_cifar  # noqa: E402,F401  (the papers' archs)
