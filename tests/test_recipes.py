"""Training recipes per data set: in the id, in the loop (schedule, smoothing, augmentation), exact in packs."""
from __future__ import annotations

import pytest
import torch
from test_local_loaders import write_cifar10

from engine.config import build_spec
from zoo.archs import build_arch
from zoo.augment import Augment
from zoo.data import DataBundle
from zoo.datasets import Splits
from zoo.datasets.cifar import load_cifar10
from zoo.datasets.splits import split_loaded
from zoo.fit import TrainTask, fit_many, lr_factor, steps_per_epoch
from zoo.recipes import RECIPES
from zoo.spec import canonical
from zoo.steps import StepContext
from zoo.train import Train

PAPER_ARCHS = ("resnet18", "resnet34", "vgg13_bn", "vgg16_bn", "mobilenetv2", "densenet121")


def test_digits_ids_are_the_ones_fpbench_always_wrote():
    assert str(canonical("train(cnn,digits)")) == (
        "train(cnn,digits,batch=64,epochs=30,lr=0.001,opt=adam,seed=0,split=defender,wd=0.0)")


def test_a_cifar_id_spells_out_its_recipe_and_a_spec_overrides_it():
    cifar = str(canonical("train(resnet18,cifar10)"))
    assert cifar == ("train(resnet18,cifar10,aug=crop4flip,batch=128,epochs=200,lr=0.1,opt=sgd,sched=cosine,"
                     "seed=0,split=defender,wd=0.0005)")
    plain = str(canonical("train(resnet18,cifar10,sched=constant,aug=none)"))
    assert "sched" not in plain and "aug" not in plain  # neutral values are left out of the id
    spec = build_spec({"dataset": {"name": "cifar10"}, "source": {"arch": "resnet18", "epochs": 30, "smooth": 0.1},
                       "methods": [{"name": "ipguard"}]})
    assert "epochs=30" in spec.source_id and "smooth=0.1" in spec.source_id and "sched=cosine" in spec.source_id
    with pytest.raises(Exception, match="warmup"):
        canonical("train(resnet18,cifar10,epochs=5,warmup=5)")


def test_every_data_set_has_a_recipe_with_known_settings():
    from zoo.datasets import list_datasets

    for name in list_datasets():
        recipe = RECIPES[name]
        assert str(canonical(f"train(cnn,{name})")).count(f"epochs={recipe.epochs}") == 1


def test_lr_schedules():
    cosine = lr_factor("cosine", 0, 100)
    assert cosine(0) == 1.0 and cosine(50) == pytest.approx(0.5) and cosine(99) < 0.01
    warm = lr_factor("cosine", 10, 110)
    assert [warm(t) for t in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0]) and warm(60) == pytest.approx(0.5)
    step = lr_factor("step", 0, 100)
    assert (step(49), step(50), step(75)) == pytest.approx((1.0, 0.1, 0.01))
    cycle = lr_factor("onecycle", 0, 100)
    peak = max(range(100), key=cycle)
    assert 25 <= peak <= 30 and cycle(0) == pytest.approx(0.04) and cycle(99) < 0.01
    assert lr_factor("constant", 0, 100)(77) == 1.0
    assert steps_per_epoch(129, 64) == 2 and steps_per_epoch(130, 64) == 3  # a lone last sample is skipped


def images(n=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


def task(seed, augment=Augment(), sched="constant", model_seed=0):
    torch.manual_seed(model_seed)
    x, y = images()
    return TrainTask(build_arch("cnn", (3, 32, 32), 10), x, y, epochs=2, lr=0.05, batch=16, opt="sgd", seed=seed,
                     sched=sched, augment=augment)


def weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_augmented_cosine_training_is_seeded_and_exact_in_a_pack():
    crop = Augment(crop_pad=4, flip=True)
    alone = weights(fit_many([task(3, crop, "cosine")])[0])
    again = weights(fit_many([task(3, crop, "cosine")])[0])
    assert torch.equal(alone, again)
    assert not torch.equal(alone, weights(fit_many([task(4, crop, "cosine")])[0]))  # another seed crops otherwise
    assert not torch.equal(alone, weights(fit_many([task(3, Augment(), "cosine")])[0]))
    packed = fit_many([task(7, crop, "cosine", model_seed=1), task(3, crop, "cosine")])
    assert torch.equal(weights(packed[1]), alone)  # a pack neighbour changes nothing, crops included
    with pytest.raises(ValueError, match="augment"):
        fit_many([task(3, crop), task(4, Augment())])


@pytest.fixture(scope="module")
def cifar_bundle(tmp_path_factory):
    """Synthetic CIFAR-10 in the real on-disk layout, read by the real loader."""
    root = tmp_path_factory.mktemp("cifar")
    write_cifar10(root / "cifar-10-batches-py", n_train=24, n_test=40)
    loaded = load_cifar10(root, verify_md5=False)
    return DataBundle(Splits("cifar10", loaded.input_shape, loaded.num_classes, split_loaded(loaded)))


@pytest.mark.parametrize("arch", PAPER_ARCHS)
def test_each_paper_architecture_trains_an_epoch_with_the_cifar_recipe(arch, cifar_bundle):
    params = canonical(f"train({arch},cifar10,epochs=1,batch=16)").last.as_dict()
    assert params["sched"] == "cosine" and params["aug"] == "crop4flip" and params["opt"] == "sgd"
    prepared = Train().prepare(None, params, StepContext(cifar_bundle, "cpu", 0))
    assert prepared.augment == Augment(crop_pad=4, flip=True) and prepared.sched == "cosine"
    before = weights(prepared.model).clone()
    model = fit_many([prepared])[0]
    after = weights(model)
    assert torch.isfinite(after).all() and not torch.equal(before, after)
    with torch.no_grad():
        logits = model(cifar_bundle.x("test")[:4])
    assert logits.shape == (4, 10) and torch.isfinite(logits).all()
