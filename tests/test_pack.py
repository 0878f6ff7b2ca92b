"""Packed training: a pack computes what its members would alone, and trains each as if alone."""
from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from zoo.archs import build_arch, list_archs
from zoo.fit import Kernels, TrainTask, fit, fit_many, predict_logits, soft_label_loss
from zoo.pack import PackedNet, unpack_into

EXACT_NCHW = Kernels(per_member=True, channels_last=False, fused_adam=False)
BATCHED_NHWC = Kernels(per_member=False, channels_last=True, fused_adam=False)


def build(arch: str, seed: int, data) -> nn.Module:
    torch.manual_seed(seed)
    return build_arch(arch, data.input_shape, data.num_classes)


def task(arch: str, seed: int, data, split: str = "defender", **overrides) -> TrainTask:
    settings = dict(epochs=2, lr=1e-3, batch=64, opt="adam", seed=seed)
    return TrainTask(build(arch, seed, data), data.x(split), data.y(split), **{**settings, **overrides})


def state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_same_state(a: dict, b: dict) -> None:
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"{len(differ)} tensors differ, first {differ[0]}"


@pytest.mark.parametrize("arch", list_archs())
@pytest.mark.parametrize("kernels", [EXACT_NCHW, BATCHED_NHWC], ids=["per-member-nchw", "batched-nhwc"])
def test_packed_forward_equals_separate_forwards(arch, kernels, digits):
    models = [build(arch, seed, digits) for seed in range(3)]
    packed = PackedNet(models, kernels.per_member, kernels.channels_last)
    x = torch.stack([digits.x("test")[i * 20 : i * 20 + 16] for i in range(3)])
    for training in (True, False):
        packed.train(training)
        for model in models:
            model.train(training)
        expected = torch.stack([m(x[k]) for k, m in enumerate(models)])
        torch.testing.assert_close(packed(x), expected, rtol=1e-4, atol=1e-5)


def test_names_match_a_member_and_unpack_restores_every_tensor(digits):
    models = [build("resnet", seed, digits) for seed in range(2)]
    packed = PackedNet(models)
    names = dict(packed.named_parameters())
    assert set(names) == set(dict(models[0].named_parameters()))
    assert names["head.weight"].shape == (2, *models[0].head.weight.shape)
    copies = [build("resnet", 7, digits) for _ in range(2)]
    unpack_into(packed, copies)
    for model, copy in zip(models, copies):
        assert_same_state(state(model), state(copy))


def test_refuses_unknown_layers_and_different_structures(digits):
    with pytest.raises(TypeError, match="Dropout"):
        PackedNet([nn.Sequential(nn.Linear(4, 4), nn.Dropout()) for _ in range(2)])
    with pytest.raises(ValueError, match="model 1 differs"):
        PackedNet([build("cnn", 0, digits), build("mlp", 0, digits)])
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="model 1 differs"):
        PackedNet([build_arch("cnn", (1, 8, 8), 10), build_arch("cnn", (1, 8, 8), 5)])


@pytest.fixture(scope="module")
def trained(digits):
    """cnn and resnet seed 0 trained alone and in a pack of 4 (default kernels: exact on CPU)."""
    out = {}
    for arch in ("cnn", "resnet"):
        alone = fit_many([task(arch, 0, digits, epochs=4)])[0]
        pack = fit_many([task(arch, seed, digits, epochs=4) for seed in (0, 11, 12, 13)])
        out[arch] = alone, pack
    return out


@pytest.mark.parametrize("arch", ["cnn", "resnet"])
def test_member_of_a_pack_trains_exactly_as_alone(arch, trained, digits):
    alone, pack = trained[arch]
    x = digits.x("test")
    agree = (predict_logits(alone, x).argmax(1) == predict_logits(pack[0], x).argmax(1)).float().mean()
    assert agree >= 0.99
    assert_same_state(state(alone), state(pack[0]))  # on CPU: bit for bit
    assert not torch.equal(pack[0].head.weight, pack[1].head.weight)


@pytest.mark.parametrize("arch", list_archs())
def test_every_family_trains_exactly_as_alone_in_any_slot(arch, digits):
    alone = fit_many([task(arch, 0, digits, epochs=1, weight_decay=1e-3)])[0]
    packed = fit_many([task(arch, seed, digits, epochs=1, weight_decay=1e-3) for seed in (5, 6, 0)])[2]
    assert_same_state(state(alone), state(packed))


def test_packed_batchnorm_keeps_each_members_statistics(trained):
    alone, pack = trained["resnet"]
    bn = "body.1"
    means = [m.get_submodule(bn).running_mean for m in pack]
    assert torch.equal(means[0], alone.get_submodule(bn).running_mean)
    assert not torch.equal(means[0], means[1])
    steps = 4 * -(-624 // 64)  # 4 epochs of digits' defender split, batch 64
    assert int(pack[1].get_submodule(bn).num_batches_tracked) == steps


@pytest.mark.parametrize("kernels", [None, EXACT_NCHW], ids=["default", "exact-nchw"])
def test_pack_slot_and_own_data_do_not_change_a_member(kernels, digits):
    """Soft labels, per-member inputs and a later slot: still the model trained alone."""
    teacher = predict_logits(build("mlp", 5, digits), digits.x("attacker"))

    def student(seed, split):  # each builds its own partial: equal ones share a pack
        x = digits.x(split)[:180]
        return TrainTask(build("cnn", seed, digits), x, teacher, epochs=2, lr=1e-3, batch=32, opt="sgd",
                         seed=seed, criterion=functools.partial(soft_label_loss, temp=2.0))

    alone = fit_many([student(3, "attacker")], kernels)[0]
    other = student(4, "defender")
    packed = fit_many([other, student(3, "attacker")], kernels)[1]
    assert_same_state(state(alone), state(packed))


def test_mismatched_tasks_are_refused_naming_the_field(digits):
    base = task("cnn", 0, digits)
    variants = {
        "epochs": dict(epochs=3),
        "lr": dict(lr=0.01),
        "batch": dict(batch=32),
        "opt": dict(opt="sgd"),
        "weight_decay": dict(weight_decay=0.1),
        "criterion": dict(criterion=functools.partial(soft_label_loss, temp=1.0)),
        "trainable": dict(trainable="head"),
        "loss": dict(loss=lambda model, index: model(base.x[index]).sum()),
    }
    for field, change in variants.items():
        with pytest.raises(ValueError, match=f"^{field}:"):
            fit_many([base, task("cnn", 1, digits, **change)])
    with pytest.raises(ValueError, match=r"^len\(x\):"):
        fit_many([base, task("cnn", 1, digits, split="independent")])
    short = task("cnn", 1, digits)
    short.targets = F.one_hot(short.targets, 10).float()
    with pytest.raises(ValueError, match="^targets:"):
        fit_many([base, short])


def test_trainable_head_leaves_the_rest_unchanged(digits):
    tasks = [task("resnet", seed, digits, trainable="head", epochs=1) for seed in (0, 1)]
    before = [state(t.model) for t in tasks]
    fit_many(tasks)
    for t, old in zip(tasks, before):
        for name, param in t.model.named_parameters():
            assert torch.equal(param, old[name]) != name.startswith("head."), name
        assert all(p.requires_grad for p in t.model.parameters())


def test_fit_trains_only_the_named_submodule(digits):
    model = build("cnn", 0, digits)
    body = state(model.body)
    fit(model, digits.x("finetune"), digits.y("finetune"), epochs=1, lr=0.01, batch=64, opt="sgd", seed=0,
        trainable="head")
    assert_same_state(body, state(model.body))
    with pytest.raises(ValueError, match="names no parameters"):
        fit(model, digits.x("finetune"), digits.y("finetune"), epochs=1, lr=0.01, batch=64, opt="sgd", seed=0,
            trainable="neck")
