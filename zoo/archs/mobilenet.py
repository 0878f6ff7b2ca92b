"""MobileNet family: MobileNetV2 inverted residual blocks with depthwise 3x3 convs.

The block table is MobileNetV2's CIFAR variant (stride-1 stem, second row stride
1). Its three stride-2 rows keep their stride only while sizing.halvings allows,
so 8x8 digits are halved twice and 28x28 and larger inputs three times. 32x32
images get the full 1.0-width network (2.2M parameters); 8x8 digits get a quarter
width (channels rounded up to multiples of 8, as MobileNet does) and one block per
row (about 83k parameters).
"""
from __future__ import annotations

import torch
from torch import nn

from zoo.archs import register_arch
from zoo.archs.base import Classifier
from zoo.archs.sizing import halvings, repeats, width

# (expansion t, output channels c, blocks n, first block's stride s), as in the paper
ROWS = (
    (1, 16, 1, 1),
    (6, 24, 2, 1),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM, LAST, MULTIPLE = 32, 1280, 8


def conv_bn(
    cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, relu: bool = True
) -> list[nn.Module]:
    """Conv, batch norm and (unless it is the linear projection) ReLU6."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    return layers + [nn.ReLU6(inplace=True)] if relu else layers


class InvertedResidual(nn.Module):
    """1x1 expansion, depthwise 3x3, linear 1x1 projection; a skip when shapes match."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int):
        super().__init__()
        hidden = cin * expansion
        layers = conv_bn(cin, hidden, 1) if expansion != 1 else []
        layers += conv_bn(hidden, hidden, 3, stride, groups=hidden)
        layers += conv_bn(hidden, cout, 1, relu=False)
        self.block = nn.Sequential(*layers)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.skip else out


def block_rows(input_shape: tuple[int, int, int], cin: int, block) -> tuple[list[nn.Module], int]:
    """The blocks of ROWS sized for the input, each `block(cin, cout, stride, expansion)`: a
    stride-2 row halves only while sizing.halvings allows. Returns them and their output width."""
    left = halvings(input_shape, limit=sum(s == 2 for *_, s in ROWS))
    layers: list[nn.Module] = []
    for expansion, channels, blocks, stride in ROWS:
        if stride == 2:
            stride, left = (2, left - 1) if left else (1, 0)  # out of halvings: keep the size
        cout = width(channels, input_shape, MULTIPLE)
        for b in range(repeats(blocks, input_shape)):
            layers.append(block(cin, cout, stride if b == 0 else 1, expansion))
            cin = cout
    return layers, cin


@register_arch("mobilenet")
class MobileNet(Classifier):
    def __init__(self, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        cin = width(STEM, input_shape, MULTIPLE)
        layers = conv_bn(input_shape[0], cin, 3)
        blocks, cin = block_rows(input_shape, cin, InvertedResidual)
        layers += blocks
        last = width(LAST, input_shape, MULTIPLE)
        layers += conv_bn(cin, last, 1) + [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(last, num_classes)
