"""A real run on digits: IPGuard tells stolen copies from independent models, and re-runs resume."""
import json
import os

import polars as pl
import pytest
from conftest import tiny_spec

from engine.config import build_spec
from engine.run import run_spec
from reports.load import load_run
from reports.metrics import compute_metrics


def snapshot(run_dir):
    return {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("e2e") / "run"
    result = run_spec(build_spec(tiny_spec()), out=out, show_progress=False)
    return out, result


def test_run_writes_the_tables(run):
    out, result = run
    assert (out / "run.json").exists() and (out / "models.parquet").exists()
    models = pl.read_parquet(out / "models.parquet")
    assert models.height == 1 + 4 + 6  # source, 4 attacks, 6 independent negatives
    assert models["model_id"].n_unique() == models.height
    assert models.filter(pl.col("role") == "source")["test_acc"][0] > 0.9
    queries = pl.read_parquet(out / "queries" / "**" / "*.parquet", hive_partitioning=False)
    assert queries.height == models.height * 50
    assert queries["logits"].list.len().unique().to_list() == [10]
    assert result.events["trained"] == models.height + 2  # plus the two pruned intermediates


def test_ipguard_separates_stolen_copies_from_independent_models(run):
    out, _ = run
    tables = load_run(out)
    metrics = compute_metrics(tables.scores, tables.models, tables.run_id)
    auc = dict(zip(metrics["attack"], metrics["auc"]))
    assert auc["finetune"] >= 0.9 and auc["prune"] >= 0.9, metrics
    scores = tables.scores.collect().join(tables.models.collect(), on="model_id")
    pos = scores.filter(pl.col("attack").is_in(["finetune", "prune"]))["score"]
    neg = scores.filter(pl.col("role") == "negative")["score"]
    assert pos.mean() - neg.mean() > 0.3


def test_second_run_trains_nothing_and_writes_nothing(run):
    out, _ = run
    before = snapshot(out)
    again = run_spec(build_spec(tiny_spec()), out=out, show_progress=False)
    assert again.queries_run == 0 and again.events.get("trained", 0) == 0
    assert snapshot(out) == before


def test_deleting_one_shard_recomputes_only_that_shard(run):
    out, _ = run
    shards = sorted((out / "queries").rglob("*.parquet"))
    victim = shards[3]
    content = pl.read_parquet(victim)
    victim.unlink()
    before = snapshot(out)
    again = run_spec(build_spec(tiny_spec()), out=out, show_progress=False)
    assert again.queries_run == 1 and again.events.get("trained", 0) == 0
    after = snapshot(out)
    changed = {p for p in after if before.get(p) != after[p]} - {out / "run.json", out / "progress.json"}
    assert victim in changed and {p.stem for p in changed} == {victim.stem}  # its shards and job record
    assert json.loads((out / "run.json").read_text())["summary"]["jobs"] == 1  # run.json keeps the latest summary
    assert [d.path for d in again.repaired] == [str(victim.relative_to(out))]
    assert pl.read_parquet(victim).equals(content)


def test_a_different_spec_cannot_reuse_the_run_dir(run, capsys):
    from engine.cli import main

    out, _ = run
    before = snapshot(out)
    spec = out.parent / "other.toml"
    spec.write_text('seed = 5\n[[methods]]\nname = "ipguard"\n')
    assert main(["run", str(spec), "--out", str(out)]) == 2
    assert "holds run" in capsys.readouterr().err
    assert snapshot(out) == before


def test_cli_report_writes_files(run):
    from engine.cli import main

    out, _ = run
    assert main(["report", str(out)]) == 0
    assert {"metrics.parquet", "scores.parquet", "ru_curves.png"} <= set(os.listdir(out / "report"))
    # IPGuard stores each suspect's per-query outcomes, so the report has its query-budget axis
    budget = pl.read_parquet(out / "report" / "budget.parquet").filter(pl.col("attack") == "all")
    assert budget.get_column("queries").to_list() == [5, 10, 20, 50]  # 50 queries: "all" is 50
    assert budget.get_column("n_queries").unique().to_list() == [50]
    full = compute_metrics(load_run(out).scores, load_run(out).models, "x", resamples=0)
    assert budget.item(3, "auc") == pytest.approx(full.filter(pl.col("attack") == "all").item(0, "auc"), abs=1e-12)
    assert budget.item(0, "auc") <= budget.item(3, "auc") + 0.05


def test_labels_kept_with_the_scores_summarise_like_the_logits(run):
    from reports.queries import query_summary, summary_from_labels

    out, _ = run
    tables = load_run(out)
    scores = tables.scores.collect()
    from_labels = summary_from_labels(scores, tables.models)
    assert from_labels is not None and from_labels.height == scores.height
    assert from_labels.sort("method", "model_id").equals(query_summary(tables.queries, tables.models).sort(
        "method", "model_id"))
