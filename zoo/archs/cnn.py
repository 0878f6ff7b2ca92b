"""CNN family: the plain few-layer conv net (no batch norm, no skips).

On 8x8 digits it is conv16 3x3, conv32 3x3, 2x2 max-pool, FC 64, head. Each further
conv (double width) comes with a max-pool, one per halving that keeps the map at
least 4x4, up to two, so 28x28 and larger inputs get three convs. An adaptive
average pool to 4x4 before the FC layer makes the FC size independent of H x W
(an identity where the map is already 4x4, as on digits: same numbers, less time).
"""
from __future__ import annotations

from torch import nn

from zoo.archs import register_arch
from zoo.archs.base import Classifier
from zoo.archs.sizing import halvings, width

WIDTHS = (64, 128, 256)
FC = 256
GRID = 4


@register_arch("cnn")
class CNN(Classifier):
    def __init__(self, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        pools = halvings(input_shape, limit=2, min_side=GRID)
        layers: list[nn.Module] = []
        cin = input_shape[0]
        for i in range(1 + pools):
            cout = width(WIDTHS[i], input_shape)
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True)]
            if i > 0:
                layers.append(nn.MaxPool2d(2))
            cin = cout
        fc = width(FC, input_shape)
        side = [n // 2**pools for n in input_shape[1:]]
        layers += [
            nn.Identity() if side == [GRID, GRID] else nn.AdaptiveAvgPool2d(GRID),  # a no-op pool costs ~20%
            nn.Flatten(),
            nn.Linear(cin * GRID * GRID, fc),
            nn.ReLU(inplace=True),
        ]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(fc, num_classes)
