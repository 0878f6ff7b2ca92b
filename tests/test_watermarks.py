"""Training-time watermarks: margin keys, EWE, external features (issue #7).

Unit tests of the pieces the marking steps and the methods share (key and trigger
sets, the margin ascent, the SNNL, the style transform, the tests), then one real
run on digits with the three methods, each on its own marked source and attack suite.
"""
import json
import math

import numpy as np
import polars as pl
import pytest
import torch
from conftest import tiny_spec

from engine.config import build_spec
from engine.run import run_spec
from engine.store import ArtifactStore
from methods import get_method
from methods.base import Fingerprint
from zoo.archs import build_arch
from zoo.fit import fit
from zoo.watermark.ewe import ewe_triggers, snnl
from zoo.watermark.external_features import styled_subset
from zoo.watermark.margin import ascend, key_margin, margin_keys
from zoo.watermark.stats import binomial_p, paired_p, repo_p
from zoo.watermark.style import style_image, stylize

ATTACKS = [
    "finetune(mode=ftal)",
    "prune(rate=0.5)->finetune(mode=ftal)",
    "distill(arch=mlp)",
    "extract(arch=mlp,kind=p)",
]
METHODS = [
    {"name": "margin_wm", "params": {"epochs": 60}},
    {"name": "ewe"},
    {"name": "external_features"},
]


# ------------------------------------------------------------------ unit tests
def test_key_and_trigger_sets_are_functions_of_their_parameters(digits):
    keys, wrong, true, index = margin_keys(digits, 20, 0)
    again = margin_keys(digits, 20, 0)
    assert all(torch.equal(a, b) for a, b in zip((keys, wrong, true, index), again))
    assert not torch.equal(margin_keys(digits, 20, 1)[3], index)
    assert (wrong != true).all() and torch.equal(true, digits.y("defender")[index])
    assert torch.equal(keys * 255, torch.round(keys * 255)) and keys.min() >= 0 and keys.max() <= 1

    triggers, (row, col) = ewe_triggers(digits, 1, 7, 2)
    assert torch.equal(triggers, ewe_triggers(digits, 1, 7, 2)[0])
    assert len(triggers) == int((digits.y("defender") == 1).sum())
    assert (triggers[:, :, row : row + 2, col : col + 2] == 1).all()

    pick, styled, labels = styled_subset(digits, 0.1, 0.4, 0, 0)
    assert torch.equal(styled, styled_subset(digits, 0.1, 0.4, 0, 0)[1])
    assert len(pick) == round(0.1 * len(digits.x("defender"))) and torch.equal(labels, digits.y("defender")[pick])


def test_margin_ascent_finds_the_worst_case_and_training_on_it_widens_the_margin(digits):
    torch.manual_seed(0)
    model = build_arch("cnn", digits.input_shape, digits.num_classes)
    keys, wrong, _, _ = margin_keys(digits, 10, 0)
    worst = ascend(model, keys, wrong, steps=5, size=0.02)
    assert worst.min() >= 0 and worst.max() <= 1 and (worst - keys).abs().max() <= 5 * 0.02 + 1e-6
    with torch.no_grad():
        assert key_margin(model, worst, wrong).mean() < key_margin(model, keys, wrong).mean()
        before = key_margin(model, keys, wrong).mean()
    bounded = ascend(model, keys, wrong, steps=5, size=0.02, eps=0.03)
    assert (bounded - keys).abs().max() <= 0.03 + 1e-6

    def loss(net, _index):
        return torch.nn.functional.cross_entropy(net(ascend(net, keys, wrong, 5, 0.02)), wrong)

    fit(model, keys, wrong, epochs=20, lr=0.01, batch=len(keys), opt="adam", seed=0, loss=loss)
    with torch.no_grad():
        assert key_margin(model, keys, wrong).mean() > before
        assert key_margin(model, ascend(model, keys, wrong, 5, 0.02), wrong).mean() > 0  # robust, not just right


def test_snnl_matches_a_hand_computation():
    points = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    temp = torch.tensor(100.0)  # EWE scales the cosine distance by temp / 100: here exp(-distance)
    # Every anchor has one identical point (distance 0, weight 1) and two orthogonal ones (distance 1, e^-1).
    mixed = snnl(points, torch.tensor([1, 1, 0, 0]), temp)  # the identical point is in the other group
    apart = snnl(points, torch.tensor([1, 0, 1, 0]), temp)  # the identical point is in the same group
    share_mixed = math.exp(-1) / (1 + 2 * math.exp(-1))
    share_apart = 1 / (1 + 2 * math.exp(-1))
    assert mixed.item() == pytest.approx(-math.log(share_mixed), abs=1e-4)
    assert apart.item() == pytest.approx(-math.log(share_apart), abs=1e-4)
    assert mixed > apart  # entangled groups have the larger SNNL, which EWE maximises


def test_style_transform_is_deterministic_in_range_and_changes_images(digits):
    style = style_image(digits.input_shape, 0)
    assert torch.equal(style, style_image(digits.input_shape, 0))
    assert not torch.equal(style, style_image(digits.input_shape, 1))
    images = digits.x("test")[:32]
    styled = stylize(images, style, 0.4)
    assert styled.shape == images.shape and torch.equal(styled, stylize(images, style, 0.4))
    assert styled.min() >= 0 and styled.max() <= 1
    assert (styled - images).abs().mean() > 0.1
    big = style_image((3, 32, 32), 0)
    assert big.shape == (3, 32, 32) and 0 < big.mean() < 1


def test_hypothesis_tests():
    assert binomial_p(1, 2, 0.5) == pytest.approx(0.75)
    assert binomial_p(0, 10, 0.1) == 1.0
    same = np.full(20, 0.3)
    assert paired_p(same, same, 0.0) == 1.0
    rng = np.random.default_rng(0)
    high, low = 0.9 + 0.05 * rng.random(30), 0.05 * rng.random(30)
    assert paired_p(high, low, 0.2) < 1e-10 and paired_p(low, high, 0.2) > 0.99
    assert paired_p(low + 0.1, low, 0.2) > 0.5  # a gap below tau is not evidence
    assert repo_p(high, low) < 1e-5 and repo_p(high, low) == repo_p(high, low)


def test_paired_p_is_scipys_one_sided_paired_t_test_shifted_by_tau():
    from scipy import stats

    rng = np.random.default_rng(1)
    for n in (2, 5, 30, 200):
        for tau in (0.0, 0.2):
            suspect, benign = rng.random(n), rng.random(n)
            want = stats.ttest_rel(suspect - tau, benign, alternative="greater").pvalue
            assert paired_p(suspect, benign, tau) == pytest.approx(max(want, np.finfo(float).tiny), rel=1e-9)


def test_external_features_refuses_unknown_modes():
    cls = get_method("external_features")
    with pytest.raises(ValueError):
        cls(features="pixels")


# ------------------------------------------------------------- one real run
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("watermarks") / "run"
    result = run_spec(build_spec(tiny_spec(attacks={"list": ATTACKS}, methods=METHODS)), out=out,
                      show_progress=False)
    models = pl.read_parquet(out / "models.parquet")
    scores = pl.read_parquet(sorted((out / "scores").rglob("*.parquet")), hive_partitioning=False)
    joined = scores.join(models.select("model_id", "role", "attack", "arch", "source_id"), on="model_id")
    return out, result, models, joined


def auc(pos, neg) -> float:
    return float(np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg]))


def test_marked_sources_classify_well(run):
    out, _, models, _ = run
    clean_id = json.loads((out / "run.json").read_text())["source_id"]
    sources = models.filter(pl.col("role") == "source")
    clean_acc = sources.filter(pl.col("model_id") == clean_id)["test_acc"][0]
    marked = sources.filter(pl.col("model_id") != clean_id)
    assert marked.height == 3
    for model_id, acc, seconds in marked.select("model_id", "test_acc", "train_seconds").iter_rows():
        print(f"{model_id.split('(')[0]}: test acc {acc:.3f} (clean {clean_acc:.3f}, drop {clean_acc - acc:+.3f}), "
              f"{seconds:.1f} s")
        assert acc > 0.85 and clean_acc - acc < 0.05


def test_each_method_verifies_its_fine_tuned_copy_and_not_independent_models(run):
    _, _, _, scores = run
    for method in ("margin_wm", "ewe", "external_features"):
        mine = scores.filter(pl.col("method") == method)
        negatives = mine.filter(pl.col("role") == "negative")["score"].to_list()
        assert len(negatives) == 6
        per_attack = {a: mine.filter(pl.col("attack") == a)["score"].to_list() for a in ("finetune", "prune",
                                                                                        "distill", "extract")}
        print(method, {a: round(auc(s, negatives), 2) for a, s in per_attack.items()},
              "negatives max", round(max(negatives), 3))
        assert auc(per_attack["finetune"], negatives) == 1.0, method
        assert mine.filter(pl.col("role") == "source")["score"][0] > max(negatives), method


def fingerprint_of(out, result, label) -> Fingerprint:
    job = next(f for f in result.plan.fingerprints if f.label == label)
    tensors, meta = ArtifactStore(out / "store").load_fingerprint(job.fingerprint_id)
    return Fingerprint.from_tensors(tensors, meta)


def stored(out, label, model_id) -> np.ndarray:
    queries = pl.read_parquet(sorted((out / "queries" / f"method={label}").glob("*.parquet")),
                              hive_partitioning=False)
    rows = queries.filter(pl.col("model_id") == model_id).sort("query_index")
    return np.array(rows["logits"].to_list(), dtype=np.float32)


def test_external_features_p_values(run):
    out, result, _, scores = run
    method = get_method("external_features")()
    fp = fingerprint_of(out, result, "external_features")
    mine = scores.filter(pl.col("method") == "external_features")
    p_values = {}
    for model_id, role, attack, arch, score in mine.select("model_id", "role", "attack", "arch", "score").iter_rows():
        verdict = method.test(fp, stored(out, "external_features", model_id))
        assert score == pytest.approx(-math.log10(verdict["p_value"]))  # the score is -log10 p of the stored values
        p_values[(role, attack, arch, model_id)] = verdict
        print(f"{role:8s} {attack:11s} {arch}: p = {verdict['p_value']:.2e}, mu = {verdict['effect']:.3f}")
    for (role, attack, _, _), verdict in p_values.items():
        if attack in ("source", "finetune", "prune"):
            assert verdict["p_value"] < 0.01, attack
        if role == "negative":
            assert verdict["p_value"] > 0.05


def test_trigger_set_methods_give_binomial_p_values(run):
    out, result, _, scores = run
    for label in ("margin_wm", "ewe"):
        method, fp = get_method(label)(), fingerprint_of(out, result, label)
        assert fp.meta["p0"] >= 0.1 and len(fp.meta["reference_rates"]) == 1
        mine = scores.filter(pl.col("method") == label)
        for model_id, role, attack in mine.select("model_id", "role", "attack").iter_rows():
            verdict = method.test(fp, method.observe(stored(out, label, model_id)))
            if attack == "finetune":
                assert verdict["p_value"] < 0.01, (label, verdict)
            if role == "negative":
                assert verdict["p_value"] > 0.05, (label, verdict)


def test_margin_keys_survive_extraction_better_than_chance(run):
    _, _, _, scores = run
    mine = scores.filter(pl.col("method") == "margin_wm")
    negatives = mine.filter(pl.col("role") == "negative")["score"].max()
    assert mine.filter(pl.col("attack") == "extract")["score"][0] > negatives


def test_report_shows_p_values_and_marking_cost(run):
    """The report carries each watermark test's p-values beside the scores, and the marks' cost."""
    from reports.analysis import analyse
    from reports.load import load_run

    analysis = analyse(load_run(run[0]), resamples=0)
    tests = analysis.tests
    assert set(tests["method"]) >= {"margin_wm", "ewe", "external_features"}
    negatives = tests.filter(pl.col("attack") == "negatives")
    assert negatives["share_below_alpha"].max() == 0.0  # no innocent model accused at p < 0.01
    finetuned = tests.filter(pl.col("attack") == "finetune")
    assert finetuned["share_below_alpha"].min() == 1.0
    assert analysis.marks.height == 3 and analysis.marks["accuracy_drop"].abs().max() < 0.06
