"""How the papers' CIFAR architectures shrink, so every registered name trains on digits.

At 16 px and above these networks keep the published layout (every stage, full
widths), so their parameter counts match the papers'. Under 16 px (the 8x8 digits
every CPU test trains on) they follow the built-in families' rule in sizing.py:
quarter widths, one block per stage, and only as many stages as halvings allow.
"""
from __future__ import annotations

from zoo.archs.sizing import halvings, is_small


def stage_count(stages: int, input_shape: tuple[int, int, int]) -> int:
    """All `stages` of the layout, or for small inputs one more than halvings allow."""
    if not is_small(input_shape):
        return stages
    return min(stages, 1 + halvings(input_shape, limit=stages - 1))
