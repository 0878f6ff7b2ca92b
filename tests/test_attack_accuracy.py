"""Stolen copies keep the source's accuracy, except where the attack is meant to cost it."""
import pytest

from zoo.fit import accuracy
from zoo.testing import build

SOURCE = "train(cnn,digits)"
KEEPS_ACCURACY = [
    "finetune(mode=ftll)",
    "finetune(mode=ftal)",
    "finetune(mode=rtll)",
    "finetune(mode=rtal)",
    "prune(rate=0.5)->finetune(mode=ftal)",
    "noise(level=3.0)->finetune(mode=ftal)",
    "advtrain(fraction=0.5)",
    "distill(arch=cnn)",
    "extract(arch=cnn,kind=p)",
]


@pytest.fixture(scope="module")
def source_acc(digits):
    return accuracy(build(SOURCE, digits), digits.x("test"), digits.y("test"))


@pytest.mark.parametrize("attack", KEEPS_ACCURACY)
def test_positive_keeps_accuracy(attack, digits, source_acc):
    acc = accuracy(build(f"{SOURCE}->{attack}", digits), digits.x("test"), digits.y("test"))
    assert acc > source_acc - 0.06, (attack, acc, source_acc)  # "a few points" on 185 test digits


def test_heavy_damage_costs_accuracy_before_recovery(digits, source_acc):
    pruned = accuracy(build(f"{SOURCE}->prune(rate=0.9)", digits), digits.x("test"), digits.y("test"))
    noised = accuracy(build(f"{SOURCE}->noise(level=1.0)", digits), digits.x("test"), digits.y("test"))
    assert pruned < source_acc - 0.1 and noised < source_acc - 0.1
