"""Bundled specs plan the zoo shapes they promise, with no model twice."""
from collections import Counter

import pytest

from engine.config import list_presets, load_spec
from engine.plan import build_plan


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_plans_without_duplicates(name):
    plan = build_plan(load_spec(name))
    ids = [n.model_id for n in plan.suspects()]
    assert len(ids) == len(set(ids))
    sources = {n.model_id for n in plan.suspects() if n.role == "source"}
    assert sources == {f.source_id for f in plan.fingerprints}  # the clean one, and one per watermark method
    assert len(plan.queries) == sum(sum(n.role == "negative" or n.source_id == f.source_id for n in plan.suspects())
                                    for f in plan.fingerprints)


def counts(name):
    suspects = build_plan(load_spec(name)).suspects()
    return suspects, Counter((n.role, n.lineage, n.attack) for n in suspects)


@pytest.mark.parametrize("name", ["fingerbench", "fingerbench-hard", "fingerbench-cifar10"])
def test_fingerbench_is_the_154_model_shape(name):
    suspects, by = counts(name)
    assert len(suspects) == 154
    positives = {k[2]: v for k, v in by.items() if k[0] in ("source", "positive")}
    assert positives == {"source": 1, "finetune": 4, "prune": 9, "noise": 9, "advtrain": 10,
                         "distill": 15, "knockoff": 15}
    assert sum(positives.values()) == 63
    assert by[("negative", "independent", "independent")] == 14
    assert by[("negative", "independent", "distill")] == 14
    mirrors = {k[2]: v for k, v in by.items() if k[1] == "mirror"}
    assert sum(mirrors.values()) == 63
    assert {k: v for k, v in mirrors.items() if k != "source"} == {k: v for k, v in positives.items() if k != "source"}


def test_default_runs_every_method_on_every_fingerbench_attack_family_and_negative_kind():
    from methods import METHODS

    spec = load_spec("default")
    assert sorted(m.name for m in spec.methods) == METHODS.builtins()
    _, full = counts("fingerbench")
    suspects, by = counts("default")
    assert {k for k in by if k[2] != "source"} >= {k for k in full if k[2] != "source"}
    spec_source = spec.source_id
    clean = Counter(n.attack for n in suspects if n.role == "positive" and n.source_id == spec_source)
    assert sum(clean.values()) <= 62 / 2  # fewer settings and replicates than fingerbench's 62 attacks
    assert min(clean.values()) >= 3  # enough positives per family for the report to name a winner


def test_fingerbench_hard_is_fingerbench_on_the_hard_digits():
    hard, plain = load_spec("fingerbench-hard"), load_spec("fingerbench")
    assert (hard.dataset, plain.dataset) == ("hard_digits", "digits")
    assert [m.name for m in hard.methods] == [m.name for m in plain.methods]
    rename = {str(n.derivation).replace("hard_digits", "digits") for n in build_plan(hard).suspects()}
    assert rename == {str(n.derivation) for n in build_plan(plain).suspects()}


@pytest.mark.parametrize("name", ["default", "fingerbench"])
def test_mirror_distillation_uses_the_independent_owners_data(name):
    suspects, _ = counts(name)
    for node in suspects:
        if node.attack == "distill" and node.lineage in ("mirror", "independent"):
            assert "data=independent" in str(node.derivation.last), node.model_id
        if node.attack == "distill" and node.role == "positive":
            assert "data=defender" in str(node.derivation.last)


def test_sac_shape():
    suspects, by = counts("sac")
    positives = Counter(n.attack for n in suspects if n.role == "positive")
    assert positives == {"finetune": 10, "prune": 5, "extract": 24, "transfer": 8}
    negatives = Counter(n.attack for n in suspects if n.role == "negative")
    assert negatives == {"independent": 12, "transfer": 24}


def test_quick_is_a_dozen_models():
    suspects, _ = counts("quick")
    assert 8 <= len(suspects) <= 16


def test_fingerbench_manifest_has_the_planned_counts(tmp_path):
    import polars as pl

    from engine.manifest import manifest_table
    from engine.store import ArtifactStore

    plan = build_plan(load_spec("fingerbench"))
    manifest = pl.from_arrow(manifest_table(plan, ArtifactStore(tmp_path)))  # rows before any training
    manifest = manifest.filter(pl.col("role") != "owner")  # the methods' own models are listed too
    assert manifest.height == 154 and manifest["model_id"].n_unique() == 154
    roles = dict(manifest.group_by("role").len().iter_rows())
    assert roles == {"source": 1, "positive": 62, "negative": 91}
    assert set(manifest.columns) >= {"role", "attack", "attack_params", "arch", "parent_id", "test_acc",
                                     "agreement", "train_seconds"}


PAPER_PRESETS = {  # preset -> (data set, source arch, positives by attack, negatives)
    "sac-cifar10": ("cifar10", "vgg16_bn", {"finetune": 20, "prune": 15, "extract": 60, "transfer": 20}, 40),
    "marginfinger-cifar10": ("cifar10", "vgg16_bn", {"finetune": 20, "prune": 15, "extract": 60, "transfer": 10}, 20),
    "marginfinger-tinyimagenet": ("tiny_imagenet", "vgg16_bn",
                                  {"finetune": 20, "prune": 5, "extract": 60, "transfer": 10}, 20),
}


@pytest.mark.parametrize("name", sorted(PAPER_PRESETS))
def test_paper_presets_have_their_papers_zoo(name):
    dataset, arch, positives, negatives = PAPER_PRESETS[name]
    spec = load_spec(name)
    assert spec.dataset == dataset and spec.source_id.startswith(f"train({arch},{dataset},")
    assert "sched=cosine" in spec.source_id  # the data set's recipe, written in the id
    suspects, by = counts(name)
    found = {k[2]: v for k, v in by.items() if k[0] == "positive"}
    assert found == positives
    assert sum(v for k, v in by.items() if k[0] == "negative") == negatives
    extract = Counter(n.arch for n in suspects if n.attack == "extract")
    assert extract == {"vgg13_bn": 15, "resnet18": 15, "densenet121": 15, "mobilenetv2": 15}  # 5 each of L, P, Adv


@pytest.mark.parametrize("name", ["fingerbench-cifar10", *sorted(PAPER_PRESETS)])
def test_a_paper_preset_without_its_data_fails_before_writing_and_says_how_to_get_it(name, tmp_path, capsys):
    from engine.cli import main

    out = tmp_path / "run"
    assert main(["run", name, "--out", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "[dataset] root" in err and "download" in err
    assert not out.exists()
    spec = tmp_path / "spec.toml"
    spec.write_text(f'preset = "{name}"\n[dataset]\nroot = "{tmp_path / "nowhere"}"\n')
    assert main(["run", str(spec), "--out", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert str(tmp_path / "nowhere") in err and "download" in err
    assert not out.exists()
