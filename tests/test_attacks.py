"""Contract test generated from the attack registry, plus what each attack must do."""
import pytest
import torch

from zoo.attacks.prune import magnitude_prune, prunable_weights
from zoo.fit import accuracy
from zoo.spec import canonical, derive_seed
from zoo.steps import StepContext, get_step, list_attacks

SOURCE = "train(cnn,digits,epochs=8)"


def build(text, digits):
    model = None
    for prefix in canonical(text).prefixes():
        step = prefix.last
        model = get_step(step.name)().apply(model, step.as_dict(), StepContext(digits, "cpu", derive_seed(prefix)))
    return model


@pytest.fixture(scope="module")
def source(digits):
    return build(SOURCE, digits)


def test_every_registered_attack_has_a_tiny_setting():
    for name in list_attacks():
        assert get_step(name).tiny.startswith(f"{name}("), name


@pytest.mark.parametrize("attack", list_attacks())
def test_attack_contract(attack, digits):
    text = f"{SOURCE}->{get_step(attack).tiny}"
    a, b = build(text, digits), build(text, digits)
    x = digits.x("test")[:32]
    out = a(x)
    expected = a.head.out_features
    assert expected == digits.num_classes or attack == "transfer"  # only transfer changes the label set
    assert out.shape == (32, expected)
    assert torch.isfinite(out).all()
    assert torch.equal(out, b(x)), "same derivation string must give the same model"
    from zoo.archs import build_arch

    fresh = build_arch(arch_of_text(text), digits.input_shape, expected)
    fresh.load_state_dict(a.state_dict())  # loadable into a fresh model of the recorded arch


def arch_of_text(text):
    from engine.plan import ModelNode

    d = canonical(text)
    return ModelNode(str(d), d, None, "positive", "", "{}", "source", "").arch


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
