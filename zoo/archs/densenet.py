"""DenseNet-121 in the CIFAR layout of kuangliu/pytorch-cifar (Huang et al., CVPR 2017).

A 3x3 stem conv to 2k channels (growth k = 32), four dense blocks of [6, 12, 24,
16] bottleneck layers (BN-ReLU-1x1 conv to 4k, BN-ReLU-3x3 conv to k, the k new
maps concatenated to the input), transitions (BN-ReLU-1x1 conv halving the
channels, 2x2 average pool) between them, then BN-ReLU, a global average pool and
the linear head: 6,956,298 parameters at 32x32 with 10 classes. At 64x64
(Tiny-ImageNet) the pool stays global. Digits shrink per cifar_sizing, with
transition widths rounded up to multiples of 8 (see `reduced`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.archs import register_arch
from zoo.archs.base import Classifier
from zoo.archs.cifar_sizing import stage_count
from zoo.archs.sizing import halvings, repeats, width

BLOCKS, GROWTH, REDUCTION = (6, 12, 24, 16), 32, 0.5
MULTIPLE = 8


def reduced(channels: int) -> int:
    """A transition's output: the paper's reduction, rounded up to a multiple of 8.

    The published layout's counts are multiples of 32 already; the digits-size net's
    would not be, and CPU batch norm in channels-last gives a packed member
    (zoo.pack) bit-identical gradients only when its channel count is a multiple of 4.
    """
    return -(-int(channels * REDUCTION) // MULTIPLE) * MULTIPLE


def concat_members(new: torch.Tensor, old: torch.Tensor, old_channels: int) -> torch.Tensor:
    """Channel concatenation that keeps each packed member's channels together.

    zoo.pack runs K models as one with (B, K*C, H, W) activations; a plain
    torch.cat would append all members' new maps after all old ones and mix them.
    """
    members = old.shape[1] // old_channels
    pairs = zip(new.chunk(members, dim=1), old.chunk(members, dim=1))
    return torch.cat([part for pair in pairs for part in pair], dim=1)


def norm_relu_conv(cin: int, cout: int, kernel: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
            nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False)]


class Bottleneck(nn.Module):
    """BN-ReLU-1x1 conv to 4k maps, BN-ReLU-3x3 conv to k, the k new maps joined to the input."""

    def __init__(self, cin: int, growth: int):
        super().__init__()
        self.cin = cin
        self.layers = nn.Sequential(*norm_relu_conv(cin, 4 * growth, 1), *norm_relu_conv(4 * growth, growth, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return concat_members(self.layers(x), x, self.cin)


class Transition(nn.Module):
    """A 1x1 conv to fewer channels, then (while the map allows) a 2x2 average pool."""

    def __init__(self, cin: int, cout: int, pool: bool):
        super().__init__()
        self.layers = nn.Sequential(*norm_relu_conv(cin, cout, 1))
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(x)
        return F.avg_pool2d(out, 2) if self.pool else out


@register_arch("densenet121")
class DenseNet121(Classifier):
    def __init__(self, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        stages = stage_count(len(BLOCKS), input_shape)
        pools = halvings(input_shape, limit=stages - 1)  # the first `pools` transitions pool
        growth = width(GROWTH, input_shape)
        cin = 2 * growth
        layers: list[nn.Module] = [nn.Conv2d(input_shape[0], cin, 3, padding=1, bias=False)]
        for i in range(stages):
            for _ in range(repeats(BLOCKS[i], input_shape)):
                layers.append(Bottleneck(cin, growth))
                cin += growth
            if i < stages - 1:
                layers.append(Transition(cin, reduced(cin), pool=i < pools))
                cin = reduced(cin)
        layers += [nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(cin, num_classes)
