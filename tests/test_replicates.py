"""Source replicates: N whole benchmarks that share no model, reported per source and pooled."""
from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from conftest import tiny_spec

from engine.config import build_spec
from engine.plan import build_plan
from engine.run import run_spec
from reports import build_report
from reports.metrics import compute_metrics
from reports.params import mirror_pairs
from reports.replicates import per_replicate_metrics, replicate_spread


def replicated(replicates, **overrides):
    raw = tiny_spec(**overrides)
    raw["source"] = {**raw["source"], "replicates": replicates}
    return build_spec(raw)


def test_replicates_share_no_model_and_each_method_fingerprints_every_source():
    methods = [{"name": "ipguard", "params": {"n": 20, "steps": 50}}, {"name": "cae", "params": {"n": 10}},
               {"name": "margin_wm"}]
    spec = replicated(3, methods=methods, negatives={"archs": ["cnn", "mlp"], "seeds": [1, 2], "mirror": True,
                                                     "derived": ["distill(arch=cnn)"]})
    plan = build_plan(spec)
    by_replicate = {}
    for node in plan.nodes.values():
        by_replicate.setdefault(node.replicate, set()).add(node.model_id)
    assert sorted(by_replicate) == [0, 1, 2]
    sizes = {len(ids) for ids in by_replicate.values()}
    assert len(sizes) == 1  # the same benchmark three times ...
    assert not (by_replicate[0] & by_replicate[1]) and not (by_replicate[1] & by_replicate[2])  # ... sharing nothing
    assert len(plan.fingerprints) == 3 * len(methods)
    assert len({f.source_id for f in plan.fingerprints}) == 3 + 3  # 3 clean sources, 3 marked ones
    fingerprints = {f.fingerprint_id: f for f in plan.fingerprints}
    for job in plan.queries:  # a fingerprint only ever queries its own replicate's suspects
        source = plan.nodes[fingerprints[job.fingerprint_id].source_id]
        assert plan.nodes[job.model_id].replicate == source.replicate
    one = build_plan(replicated(1, methods=methods, negatives=spec.resolved["negatives"]))
    assert len(plan.queries) == 3 * len(one.queries) and len(plan.nodes) == 3 * len(one.nodes)
    # one replicate is today's plan: the same ids as a spec that does not mention replicates
    assert list(build_plan(replicated(1)).nodes) == list(build_plan(build_spec(tiny_spec())).nodes)


def test_a_seed_list_gives_each_source_its_seed():
    spec = replicated([7, 3])
    assert [s.split("seed=")[1].split(",")[0] for s in spec.sources] == ["7", "3"]
    assert "rep=" not in spec.sources[0] and "rep=1" in spec.sources[1]


def synthetic(seed=0):
    """Two replicates: replicate 0's method separates its copies perfectly, replicate 1's is a coin toss."""
    rng = np.random.default_rng(seed)
    models, scores = [], []
    for replicate in (0, 1):
        src = f"src{replicate}"
        models.append((src, "source", "source", "{}", src, replicate, "source"))
        for i in range(8):
            models.append((f"p{replicate}{i}", "positive", "finetune", "{}", src, replicate, "source"))
            models.append((f"n{replicate}{i}", "negative", "independent", "{}", src, replicate, "independent"))
    for model_id, role, *_, replicate, _lineage in models:
        score = (1.0 if role != "negative" else 0.0) + rng.uniform(0, 0.5) if replicate == 0 else rng.uniform()
        scores.append(("r", "m", model_id, score))
    manifest = pl.DataFrame(models, schema=["model_id", "role", "attack", "attack_params", "source_id", "replicate",
                                            "lineage"], orient="row")
    return pl.DataFrame(scores, schema=["run_id", "method", "model_id", "score"], orient="row"), manifest


def test_per_source_metrics_and_their_spread():
    scores, models = synthetic()
    per = per_replicate_metrics(scores, models, "r")
    overall = per.filter(pl.col("attack") == "all").sort("replicate")
    assert overall.get_column("replicate").to_list() == [0, 1]
    assert overall.get_column("source_id").to_list() == ["src0", "src1"]
    assert overall.item(0, "auc") == 1.0 and overall.item(1, "auc") < 0.9
    assert overall.get_column("n_pos").to_list() == [9, 9] and overall.get_column("n_neg").to_list() == [8, 8]
    # each replicate's numbers are its own: the same as a run of that replicate alone
    alone = compute_metrics(scores.filter(pl.col("model_id").str.contains("1")), models.filter(pl.col("replicate") == 1),
                            "r", resamples=0)
    assert overall.item(1, "auc") == alone.filter(pl.col("attack") == "all").item(0, "auc")
    spread = replicate_spread(per).filter(pl.col("attack") == "all").row(0, named=True)
    aucs = overall.get_column("auc").to_list()
    assert spread["n_sources"] == 2 and spread["auc_mean"] == pytest.approx(np.mean(aucs))
    assert spread["auc_sd"] == pytest.approx(np.std(aucs, ddof=1))
    assert (spread["auc_min"], spread["auc_max"]) == (min(aucs), max(aucs))
    # the pooled view counts every replicate's suspects once
    pooled = compute_metrics(scores, models, "r", resamples=0).filter(pl.col("attack") == "all").row(0, named=True)
    assert (pooled["n_pos"], pooled["n_neg"]) == (18, 16)
    assert per_replicate_metrics(scores, models.drop("replicate"), "r").is_empty()


def test_mirrors_pair_within_their_replicate():
    models = pl.DataFrame({
        "model_id": ["S->finetune(x)", "T->finetune(x)", "M->finetune(x)", "N->finetune(x)"],
        "role": ["positive", "positive", "negative", "negative"], "attack": ["finetune"] * 4,
        "lineage": ["source", "source", "mirror", "mirror"], "replicate": [0, 1, 0, 1]})
    pairs = mirror_pairs(models).sort("positive_id")
    assert pairs.select("positive_id", "mirror_id").rows() == [("S->finetune(x)", "M->finetune(x)"),
                                                                ("T->finetune(x)", "N->finetune(x)")]


def test_a_real_two_source_run_reports_each_source_and_pooled(tmp_path):
    spec = replicated(2, attacks={"list": ["finetune(mode=ftal)", "prune(rate=0.5)->finetune(mode=ftal)"]},
                      negatives={"archs": ["cnn", "mlp"], "seeds": [1, 2]},
                      methods=[{"name": "ipguard", "params": {"n": 30, "steps": 200}}])
    run_spec(spec, out=tmp_path / "run", show_progress=False)
    models = pl.read_parquet(tmp_path / "run" / "models.parquet")
    assert models.group_by("replicate").len().sort("replicate").get_column("len").to_list() == [7, 7]
    sources = models.filter(pl.col("role") == "source").sort("replicate")
    assert sources.get_column("test_acc").min() > 0.85
    report = build_report(tmp_path / "run", resamples=0)
    per = pl.read_parquet(report.out_dir / "replicates.parquet").filter(pl.col("attack") == "all")
    assert per.get_column("n_pos").to_list() == [3, 3] and per.get_column("n_neg").to_list() == [4, 4]
    assert per.get_column("auc").min() > 0.7
    spread = pl.read_parquet(report.out_dir / "replicate_spread.parquet").filter(pl.col("attack") == "all")
    assert spread.item(0, "n_sources") == 2
    pooled = report.metrics.filter((pl.col("attack") == "all") & (pl.col("param") == "all"))
    assert (pooled.item(0, "n_pos"), pooled.item(0, "n_neg")) == (6, 8)
    assert "Between sources" in report.html_path.read_text()
