"""Contract test generated from the attack registry, plus what each attack must do.

The contract lives in zoo.testing so a plugin author runs the same checks; here it
runs on every registered attack, plugins included.
"""
import pytest
import torch

from zoo.attacks.prune import magnitude_prune, prunable_weights
from zoo.fit import accuracy
from zoo.steps import list_attacks
from zoo.testing import SOURCE, build, check_attack, check_tiny


@pytest.fixture(scope="module")
def source(digits):
    return build(SOURCE, digits)


@pytest.mark.parametrize("attack", list_attacks())
def test_every_registered_attack_has_a_tiny_setting(attack):
    check_tiny(attack)


@pytest.mark.parametrize("attack", list_attacks())
def test_attack_contract(attack, digits):
    check_attack(attack, digits)


def test_pruning_zeroes_the_requested_share(source):
    import copy

    for rate in (0.1, 0.5, 0.9):
        pruned = magnitude_prune(copy.deepcopy(source), rate)
        weights = torch.cat([w.flatten() for w in prunable_weights(pruned)])
        assert abs((weights == 0).float().mean().item() - rate) < 0.01


def test_layer_scope_prunes_each_layer(source):
    import copy

    pruned = magnitude_prune(copy.deepcopy(source), 0.7, scope="layer")
    for w in prunable_weights(pruned):
        assert abs((w == 0).float().mean().item() - 0.7) < 0.02


def test_finetune_keeps_accuracy_and_ftll_only_moves_the_head(source, digits):
    import copy

    base = accuracy(source, digits.x("test"), digits.y("test"))
    ftll = build(f"{SOURCE}->finetune(mode=ftll)", digits)
    body_before = copy.deepcopy(source).body.state_dict()
    for key, value in ftll.body.state_dict().items():
        assert torch.equal(value, body_before[key]), key  # cnn has no BatchNorm: the body is frozen
    assert not torch.equal(ftll.head.weight, source.head.weight)
    for mode in ("ftal", "rtal"):
        tuned = build(f"{SOURCE}->finetune(mode={mode})", digits)
        assert accuracy(tuned, digits.x("test"), digits.y("test")) > base - 0.05


def test_distilled_student_learns_the_teacher(source, digits):
    student = build(f"{SOURCE}->distill(arch=mlp,epochs=20)", digits)
    agree = (student(digits.x("test")).argmax(1) == source(digits.x("test")).argmax(1)).float().mean()
    assert agree > 0.85


@pytest.mark.parametrize("mode", ["all", "last"])
def test_transfer_learns_the_new_label_set(mode, source, digits):
    from zoo.attacks.transfer import task_labels

    model = build(f"{SOURCE}->transfer(task=coarse5,mode={mode},epochs=20)", digits)
    assert model.head.out_features == 5
    acc = accuracy(model, digits.x("test"), task_labels("coarse5", digits.y("test")))
    assert acc > 0.8
    if mode == "last":
        assert torch.equal(model.body[0].weight, source.body[0].weight)  # Transfer-L keeps the body
