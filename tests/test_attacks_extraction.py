"""Knockoff and SAC's extraction attacks: students learn the victim from its answers alone.

Independent models also agree with the victim wherever both are right, so agreement
on the test split alone cannot tell a stolen copy from an honest one. The telling
measure is agreement on held-out natural patches, where no one is "right" and only a
model that learned the victim's answers follows them.
"""
import math

import numpy as np
import pytest
import torch

from zoo.adversarial import pgd_linf
from zoo.attacks.extract import extract_p_loss
from zoo.datasets.natural_patches import LUMA, natural_patches
from zoo.spec import DerivationError, canonical
from zoo.steps import StepContext, get_step
from zoo.testing import SOURCE, build


def agreement(model, victim, x):
    with torch.no_grad():
        return (model(x).argmax(1) == victim(x).argmax(1)).float().mean().item()


@pytest.fixture(scope="module")
def victim(digits):
    return build(SOURCE, digits)


@pytest.fixture(scope="module")
def held_out(digits):
    return torch.from_numpy(natural_patches(digits.input_shape, 1000, seed=12345))


@pytest.fixture(scope="module")
def independent(digits):
    """An honest mlp trained on the independent split for as many epochs as the students."""
    return {epochs: build(f"train(mlp,digits,split=independent,epochs={epochs})", digits) for epochs in (30, 60)}


def test_patches_shape_range_and_determinism():
    a = natural_patches((3, 32, 32), 40, seed=7)
    assert a.shape == (40, 3, 32, 32) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0 and a.std() > 0.05
    assert np.array_equal(a, natural_patches((3, 32, 32), 40, seed=7))
    assert not np.array_equal(a, natural_patches((3, 32, 32), 40, seed=8))


def test_patches_are_grayscale_for_one_channel():
    gray = natural_patches((1, 8, 8), 50, seed=3)
    colour = natural_patches((3, 8, 8), 50, seed=3)  # same draws: crops depend on H x W only
    assert gray.shape == (50, 1, 8, 8)
    np.testing.assert_allclose(gray[:, 0], np.einsum("c,nchw->nhw", np.array(LUMA), colour), atol=1e-5)


def test_patches_are_a_different_distribution_than_digits(digits):
    x = digits.x("test").numpy()
    patches = natural_patches(digits.input_shape, 500, seed=0)
    dark_digits, dark_patches = (x < 0.05).mean(), (patches < 0.05).mean()
    assert dark_digits > 0.3 and dark_patches < 0.15, (dark_digits, dark_patches)


def test_knockoff_student_follows_the_victim_off_distribution(victim, held_out, independent, digits):
    student = build(f"{SOURCE}->knockoff(arch=mlp)", digits)
    stolen, honest = agreement(student, victim, held_out), agreement(independent[30], victim, held_out)
    assert stolen > honest + 0.3, (stolen, honest)
    assert agreement(student, victim, digits.x("test")) > 0.5  # learned digits without seeing one


def test_knockoff_can_query_a_split_smaller_than_its_budget(victim, digits):
    student = build(f"{SOURCE}->knockoff(arch=mlp,data=attacker,queries=5000,labels=hard,epochs=20)", digits)
    assert agreement(student, victim, digits.x("test")) > 0.6


@pytest.mark.parametrize("kind", ["l", "p", "adv"])
def test_extract_students_copy_the_victim(kind, victim, held_out, independent, digits):
    student = build(f"{SOURCE}->extract(arch=mlp,kind={kind})", digits)
    assert agreement(student, victim, digits.x("test")) >= 0.85
    stolen, honest = agreement(student, victim, held_out), agreement(independent[60], victim, held_out)
    assert stolen > honest + 0.1, (stolen, honest)


def test_extract_adv_is_more_robust_than_extract_l(victim, digits):
    def student(text):  # one seed for both: kind=adv fine-tunes exactly the kind=l student
        params = canonical(f"{SOURCE}->{text}").last.as_dict()
        return get_step("extract")().apply(victim, params, StepContext(digits, "cpu", 1))

    x, y = digits.x("test"), digits.y("test")

    def robust_accuracy(model):
        with torch.no_grad():
            return (model(pgd_linf(model, x, y, 0.1, 0.025, 10)).argmax(1) == y).float().mean().item()

    plain = student("extract(arch=mlp,kind=l)")
    hardened = student("extract(arch=mlp,kind=adv,adv_eps=0.1,adv_alpha=0.025,adv_epochs=10)")
    assert robust_accuracy(hardened) > robust_accuracy(plain) + 0.05


def test_extract_p_loss_weights():
    student = torch.tensor([[1.0, 0.0]])
    victim = torch.tensor([[0.0, 2.0]])
    temp = 2.0
    s = [math.exp(0.5) / (math.exp(0.5) + 1), 1 / (math.exp(0.5) + 1)]  # softmax(student / T)
    v = [1 / (1 + math.e), math.e / (1 + math.e)]  # softmax(victim / T)
    kl = sum(vi * math.log(vi / si) for vi, si in zip(v, s))
    ce = math.log(1 + math.e)  # -log softmax(student)[argmax victim = 1]
    expected = 0.9 * temp**2 * kl + 0.1 * ce
    assert extract_p_loss(student, victim, temp).item() == pytest.approx(expected, rel=1e-5)
    assert extract_p_loss(student, student, temp).item() == pytest.approx(0.1 * math.log(1 + 1 / math.e), rel=1e-5)


def test_pgd_stays_in_the_ball_and_the_image_range(victim, digits):
    x, y = digits.x("test")[:20], digits.y("test")[:20]
    adv = pgd_linf(victim, x, y, 0.1, 0.025, 5)
    assert (adv - x).abs().max() <= 0.1 + 1e-6 and adv.min() >= 0 and adv.max() <= 1


@pytest.mark.parametrize(
    "step, name",
    [
        ("knockoff(queries=10)", "arch"),
        ("knockoff(arch=nope)", "arch"),
        ("knockoff(arch=mlp,queries=0)", "queries"),
        ("knockoff(arch=mlp,labels=medium)", "labels"),
        ("knockoff(arch=mlp,data=imagenet)", "data"),
        ("knockoff(arch=mlp,lr=0)", "lr"),
        ("extract(kind=l)", "arch"),
        ("extract(arch=mlp,kind=x)", "kind"),
        ("extract(arch=mlp,temp=0)", "temp"),
        ("extract(arch=mlp,adv_eps=-0.1)", "adv_eps"),
        ("extract(arch=mlp,adv_steps=0)", "adv_steps"),
        ("extract(arch=mlp,epochs=0)", "epochs"),
        ("extract(arch=mlp,augment=1)", "augment"),
        ("extract(arch=mlp,data=patches)", "data"),
    ],
)
def test_bad_parameters_name_themselves(step, name):
    with pytest.raises(DerivationError, match=name):
        canonical(f"{SOURCE}->{step}")
