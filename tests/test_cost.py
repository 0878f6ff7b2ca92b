"""The training-cost estimate `fpbench plan` prints: FLOPs per model x images seen."""
from __future__ import annotations

import pytest

from engine.config import build_spec, load_spec
from engine.plan import build_plan
from zoo.cost import DATASET_SHAPES, forward_flops, images_seen, plan_cost
from zoo.datasets import list_datasets
from zoo.spec import canonical


@pytest.mark.parametrize("arch, gmacs", [("resnet18", 0.556), ("vgg16_bn", 0.313), ("mobilenetv2", 0.091),
                                         ("densenet121", 0.888)])
def test_forward_flops_match_the_published_multiply_adds(arch, gmacs):
    # the commonly quoted CIFAR-10 multiply-adds (e.g. ResNet-18: 0.56 G); FLOPs count two per multiply-add
    assert forward_flops(arch, (3, 32, 32), 10) / 2e9 == pytest.approx(gmacs, rel=0.02)


def test_images_seen_follow_epochs_splits_and_budgets():
    train = canonical("train(resnet18,cifar10,epochs=10)").last
    assert images_seen(train, "cifar10") == pytest.approx(10 * 60000 * 0.35)
    assert images_seen(canonical("train(cnn,digits)->prune(rate=0.5)").last, "digits") == 0
    knockoff = canonical("train(cnn,digits)->knockoff(arch=cnn,queries=500,epochs=4)").last
    assert images_seen(knockoff, "digits") == 2000
    adv = canonical("train(cnn,digits)->advtrain(fraction=0.5,steps=10,epochs=1)").last
    plain = canonical("train(cnn,digits)->finetune(epochs=1)").last
    assert images_seen(adv, "digits") == pytest.approx(6 * images_seen(plain, "digits"))


def test_plan_cost_grows_with_the_recipe_and_every_data_set_is_sized():
    assert set(list_datasets()) <= set(DATASET_SHAPES)
    raw = {"dataset": {"name": "cifar10"}, "source": {"arch": "resnet18"}, "methods": [{"name": "ipguard"}]}
    short = build_spec({**raw, "source": {"arch": "resnet18", "epochs": 50}})
    long = build_spec({**raw, "source": {"arch": "resnet18", "epochs": 100}})
    cost = [plan_cost(build_plan(s).nodes.values(), "cifar10") for s in (short, long)]
    assert cost[1].flops == pytest.approx(2 * cost[0].flops) and cost[0].models == 1
    fingerbench = load_spec("fingerbench-cifar10")
    big = plan_cost(build_plan(fingerbench).nodes.values(), "cifar10")
    assert big.models > 150 and 0.1 < big.gpu_hours < 100


@pytest.mark.parametrize("name", ["fingerbench-cifar10", "sac-cifar10", "marginfinger-cifar10",
                                  "marginfinger-tinyimagenet"])
def test_fpbench_plan_prints_each_paper_presets_size_and_cost(name, capsys):
    from engine.cli import main

    assert main(["plan", name]) == 0
    printed = dict(line.split(":", 1) for line in capsys.readouterr().out.splitlines())
    spec = load_spec(name)
    assert int(printed["models"]) == len(build_plan(spec).nodes)
    hours = float(printed["GPU-hours (est.)"].split()[0])
    assert hours == pytest.approx(plan_cost(build_plan(spec).nodes.values(), spec.dataset).gpu_hours, rel=1e-2)
    assert 0.05 < hours < 50
