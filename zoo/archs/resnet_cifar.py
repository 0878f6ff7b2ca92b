"""ResNet-18 and ResNet-34 in the CIFAR layout (He et al., CVPR 2016; kuangliu/pytorch-cifar).

A 3x3 stride-1 stem without max-pool, four stages of BasicBlocks with 64, 128,
256 and 512 channels ([2, 2, 2, 2] blocks for ResNet-18, [3, 4, 6, 3] for
ResNet-34), stride 2 entering stages 2-4, a global average pool and one linear
head: 11,173,962 and 21,282,122 parameters at 32x32 with 10 classes. At 64x64
(Tiny-ImageNet) the layout is kept and the pool stays global (the last map is 8x8),
so the count is unchanged. Digits shrink per cifar_sizing.
"""
from __future__ import annotations

from torch import nn

from zoo.archs import register_arch
from zoo.archs.base import Classifier
from zoo.archs.cifar_sizing import stage_count
from zoo.archs.resnet import BasicBlock
from zoo.archs.sizing import halvings, repeats, width


class CifarResNet(Classifier):
    """The shared layout; subclasses set BLOCKS, the BasicBlocks per stage."""

    BLOCKS: tuple[int, ...] = ()

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        stages = stage_count(len(self.BLOCKS), input_shape)
        strided = halvings(input_shape, limit=stages - 1)  # stages 1..strided halve the map
        cin = width(64, input_shape)
        layers: list[nn.Module] = [
            nn.Conv2d(input_shape[0], cin, 3, padding=1, bias=False),
            nn.BatchNorm2d(cin),
            nn.ReLU(inplace=True),
        ]
        for i in range(stages):
            cout = width(64 * 2**i, input_shape)
            for b in range(repeats(self.BLOCKS[i], input_shape)):
                layers.append(BasicBlock(cin, cout, stride=2 if b == 0 and 0 < i <= strided else 1))
                cin = cout
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(cin, num_classes)


@register_arch("resnet18")
class ResNet18(CifarResNet):
    BLOCKS = (2, 2, 2, 2)


@register_arch("resnet34")
class ResNet34(CifarResNet):
    BLOCKS = (3, 4, 6, 3)
