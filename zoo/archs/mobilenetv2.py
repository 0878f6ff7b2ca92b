"""MobileNetV2 in the CIFAR layout of kuangliu/pytorch-cifar (Sandler et al., CVPR 2018).

The paper's block table with the stem and the second row at stride 1, so a 32x32
image is halved three times (to 4x4) before the 1x1 conv to 1280 channels, a global
average pool and the linear head: 2,296,922 parameters with 10 classes. Unlike the
paper (and the built-in `mobilenet` family) the pytorch-cifar code uses ReLU,
always has the 1x1 expansion (even at t=1), and gives stride-1 blocks that change
the channel count a 1x1 conv-BN shortcut. That code's layout is kept because the
CIFAR model counts quoted for these benchmarks are its. At 64x64 (Tiny-ImageNet)
the pool stays global. Digits shrink per cifar_sizing.
"""
from __future__ import annotations

import torch
from torch import nn

from zoo.archs import register_arch
from zoo.archs.base import Classifier
from zoo.archs.mobilenet import LAST, MULTIPLE, STEM, block_rows
from zoo.archs.sizing import width


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout)]


class Block(nn.Module):
    """1x1 expansion, depthwise 3x3, linear 1x1 projection; stride-1 blocks add a shortcut."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int):
        super().__init__()
        hidden = cin * expansion
        self.block = nn.Sequential(
            *conv_bn(cin, hidden, 1), nn.ReLU(inplace=True),
            *conv_bn(hidden, hidden, 3, stride, groups=hidden), nn.ReLU(inplace=True),
            *conv_bn(hidden, cout, 1),
        )
        self.shortcut: nn.Module | None = None
        if stride == 1:
            self.shortcut = nn.Identity() if cin == cout else nn.Sequential(*conv_bn(cin, cout, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return out if self.shortcut is None else out + self.shortcut(x)


@register_arch("mobilenetv2")
class MobileNetV2(Classifier):
    def __init__(self, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        cin = width(STEM, input_shape, MULTIPLE)
        layers = [*conv_bn(input_shape[0], cin, 3), nn.ReLU(inplace=True)]
        blocks, cin = block_rows(input_shape, cin, Block)
        layers += blocks
        last = width(LAST, input_shape, MULTIPLE)
        layers += [*conv_bn(cin, last, 1), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(last, num_classes)
