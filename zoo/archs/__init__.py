"""Architecture registry: `build_arch(name, input_shape, num_classes)`.

Each family lives in its own module, listed here as "module:Class" and imported when
its name is first built; third-party families come through the `fpbench.archs`
entry-point group. Every entry is a `Classifier` subclass taking
(input_shape, num_classes).
"""
from __future__ import annotations

from zoo.archs.base import Classifier
from zoo.registry import Registry, subclass_of

ARCHS = Registry("architecture", group="fpbench.archs", check=subclass_of("zoo.archs.base:Classifier", named=False),
                 builtins={
                     "cnn": "zoo.archs.cnn:CNN",
                     "mlp": "zoo.archs.mlp:MLP",
                     "mobilenet": "zoo.archs.mobilenet:MobileNet",
                     "resnet": "zoo.archs.resnet:ResNet",
                     "vgg": "zoo.archs.vgg:VGG",
                     # the papers' CIFAR nets
                     "resnet18": "zoo.archs.resnet_cifar:ResNet18",
                     "resnet34": "zoo.archs.resnet_cifar:ResNet34",
                     "vgg13_bn": "zoo.archs.vgg_cifar:VGG13BN",
                     "vgg16_bn": "zoo.archs.vgg_cifar:VGG16BN",
                     "mobilenetv2": "zoo.archs.mobilenetv2:MobileNetV2",
                     "densenet121": "zoo.archs.densenet:DenseNet121",
                 })
register_arch = ARCHS.register


def build_arch(name: str, input_shape: tuple[int, int, int], num_classes: int) -> Classifier:
    """A freshly initialised model; seed torch before calling for a reproducible init."""
    return ARCHS.get(name)(tuple(input_shape), int(num_classes))


def list_archs() -> list[str]:
    return ARCHS.names()
