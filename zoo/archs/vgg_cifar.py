"""VGG-13-BN and VGG-16-BN in the CIFAR layout (Simonyan & Zisserman, ICLR 2015; kuangliu/pytorch-cifar).

Five stages of 3x3 conv (with bias), batch norm and ReLU at 64, 128, 256, 512 and
512 channels, each followed by a 2x2 max-pool, then a single Linear(512, classes)
in place of ImageNet's FC stack: 9,416,010 (VGG-13) and 14,728,266 (VGG-16)
parameters at 32x32 with 10 classes. The five pools take 32x32 to 1x1; a global
average pool after them keeps the head at 512 inputs at 64x64 (Tiny-ImageNet),
where the last map is 2x2. Pools that would empty the map are dropped, and digits
shrink per cifar_sizing.
"""
from __future__ import annotations

from torch import nn

from zoo.archs import register_arch
from zoo.archs.base import Classifier
from zoo.archs.cifar_sizing import stage_count
from zoo.archs.sizing import halvings, repeats, width

WIDTHS = (64, 128, 256, 512, 512)


class CifarVGG(Classifier):
    """The shared layout; subclasses set CONVS, the convolutions per stage."""

    CONVS: tuple[int, ...] = ()

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        stages = stage_count(len(WIDTHS), input_shape)
        pools = halvings(input_shape, limit=stages, min_side=1)  # the first `pools` stages end in one
        layers: list[nn.Module] = []
        cin = input_shape[0]
        for i in range(stages):
            cout = width(WIDTHS[i], input_shape)
            for _ in range(repeats(self.CONVS[i], input_shape)):
                layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
                cin = cout
            if i < pools:
                layers.append(nn.MaxPool2d(2))
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(cin, num_classes)


@register_arch("vgg13_bn")
class VGG13BN(CifarVGG):
    CONVS = (2, 2, 2, 2, 2)


@register_arch("vgg16_bn")
class VGG16BN(CifarVGG):
    CONVS = (2, 2, 3, 3, 3)
