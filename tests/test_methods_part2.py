"""MetaV, MetaFinger, NaturalFinger, MarginFinger: their losses and switches, and one real
digits run in which each tells fine-tuned and pruned copies from independent models."""
import copy

import numpy as np
import polars as pl
import pytest
import torch
from conftest import tiny_spec

from engine.config import build_spec
from engine.run import run_spec
from methods import get_method
from methods.base import Fingerprint, OwnerContext
from methods.marginfinger import margin_loss
from methods.meta import TRANSFORMS, cw_loss, keep_order, owner_set
from reports.load import load_run
from reports.metrics import compute_metrics
from zoo.spec import canonical

SMALL = {
    "metav": {"n": 50, "steps": 150},
    "metafinger": {"n": 50, "batch": 50, "rounds": 3, "epochs": 6, "augment": 1},
    "naturalfinger": {"n": 40, "batch": 48, "max_batches": 2, "iterations": 100, "gan_steps": 400, "gan_lr": 4e-4},
    "marginfinger": {"n": 50, "gan_steps": 400, "gan_lr": 4e-4},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("part2") / "run"
    raw = tiny_spec(
        attacks={"list": ["finetune(mode=ftal)", "finetune(mode=ftll)", "prune(rate=0.5)->finetune(mode=ftal)"]},
        methods=[{"name": name, "params": params} for name, params in SMALL.items()],
    )
    run_spec(build_spec(raw), out=out, show_progress=False)
    return out


@pytest.fixture(scope="module")
def metrics(run):
    tables = load_run(run)
    table = compute_metrics(tables.scores, tables.models, tables.run_id, resamples=0)
    return table.filter(pl.col("param") == "all")


@pytest.mark.parametrize("name", list(SMALL))
def test_separates_copies_from_independent_models(metrics, name):
    rows = metrics.filter(pl.col("method") == name)
    auc = dict(zip(rows["attack"], rows["auc"]))
    assert auc["finetune"] >= 0.9 and auc["prune"] >= 0.9, rows


def test_owner_models_are_trained_but_never_suspects(run):
    models = pl.read_parquet(run / "models.parquet")
    owner = models.filter(pl.col("role") == "owner")
    assert owner.height == 16  # the 8 + 8 shared set; NaturalFinger's 4 + 4 is part of it
    suspects = set(models.filter(pl.col("role") != "owner")["model_id"])
    assert not suspects & set(owner["model_id"])


def test_owner_set_is_shared_and_uses_only_the_owners_data():
    source = str(canonical("train(cnn,digits,epochs=15)"))
    big = owner_set(source, {"owner_pos": 8, "owner_neg": 8, "owner_epochs": 0})
    small = owner_set(source, {"owner_pos": 4, "owner_neg": 4, "owner_epochs": 0})
    assert set(small) <= set(big) and len(set(big)) == 16
    for model_id in big:
        steps = canonical(model_id).steps
        assert all(s.get("data", "defender") == "defender" and s.get("split", "defender") == "defender" for s in steps)
        assert steps[0].get("epochs") == 15  # trained like the source
    negatives = [m for m in big if "->" not in m]
    assert all(canonical(m).steps[0].get("seed") >= 1000 for m in negatives)


def test_cw_loss_is_capped_at_minus_kappa():
    z = torch.tensor([[5.0, 1.0, 0.0], [0.0, 2.0, 1.0]])
    per = [cw_loss(z[i : i + 1], torch.tensor([0]), kappa=2.0).item() for i in range(2)]
    assert per == [-2.0, 2.0]  # margin 4 capped at kappa 2; target 0 trails by 2


def test_margin_loss_is_zero_at_distance_d():
    probs = torch.tensor([[0.5, 0.4, 0.1], [0.9, 0.05, 0.05]])
    y = torch.tensor([0, 0])
    assert margin_loss(probs[:1], y[:1], d=0.1).item() == pytest.approx(0.0, abs=1e-6)
    assert margin_loss(probs[1:], y[1:], d=0.1).item() == pytest.approx(0.75)  # too deep inside class 0


def test_keep_order_keeps_what_passed_and_never_returns_nothing():
    quality = torch.tensor([0.2, 1.0, 0.5, 1.0])
    assert keep_order(quality >= 1, quality, n=10).tolist() == [1, 3]
    assert keep_order(quality >= 0.5, quality, n=10).tolist() == [1, 2, 3]
    assert keep_order(quality >= 1, quality, n=1).tolist() == [1]
    assert keep_order(quality > 1, quality, n=20).tolist() == [1, 3]  # none passed: floor n // 10, best first


def test_transforms_keep_shape_and_gradient():
    x = torch.rand(4, 1, 8, 8, requires_grad=True)
    g = torch.Generator().manual_seed(0)
    for name, transform in TRANSFORMS.items():
        y = transform(x, g)
        assert y.shape == x.shape, name
        (grad,) = torch.autograd.grad(y.sum(), x)
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0, name


def test_metav_scores_a_different_output_width_as_not_pirated():
    method = get_method("metav")(n=2, hidden=[3])
    rng = np.random.default_rng(0)
    arrays = {"verifier.0.weight": rng.normal(size=(3, 20)), "verifier.0.bias": np.zeros(3),
              "verifier.2.weight": rng.normal(size=(1, 3)), "verifier.2.bias": np.ones(1)}
    fp = Fingerprint(np.zeros((2, 1, 8, 8), np.float32), arrays=arrays)
    assert 0.0 < method.score(fp, rng.normal(size=(2, 10))) < 1.0
    assert method.score(fp, rng.normal(size=(2, 5))) == 0.0


def natural_finger(digits, source, owner, **switches):
    cls = get_method("naturalfinger")
    method = cls(**{**cls.tiny, **switches})
    return method.fingerprint(copy.deepcopy(source), OwnerContext(digits, "cpu", 5, owner)).inputs


@pytest.fixture(scope="module")
def natural_full(digits):
    """NaturalFinger at its tiny setting with every trick on, and what it was built from."""
    from zoo.testing import SOURCE, build

    cache = {}
    source = build(SOURCE, digits, cache)
    method = get_method("naturalfinger")(**get_method("naturalfinger").tiny)
    owner = {mid: build(mid, digits, cache) for mid in method.owner_models(str(canonical(SOURCE)))}
    return source, owner, natural_finger(digits, source, owner)


@pytest.mark.parametrize("switch", ["adv_label", "input_trans", "disc_loss"])
def test_naturalfinger_ablation_switches_change_the_generated_set(natural_full, digits, switch):
    source, owner, full = natural_full
    ablated = natural_finger(digits, source, owner, **{switch: False})
    assert ablated.shape[1:] == full.shape[1:]
    assert ablated.shape != full.shape or not np.allclose(ablated, full)
