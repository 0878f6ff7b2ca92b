"""Hypothesis tests beside the scores: how often a method's own test calls a suspect stolen.

Watermark methods come with a test (a binomial test of trigger hits, Li et al.'s
t-test); the worker stores its p-value and effect size beside each score. Per
(method, attack) this table gives the positives' median p-value and the share with
p < alpha, and one `negatives` row per method with the share of innocent models the
test would accuse (its false-accusation rate at alpha). Methods without a test have
no rows.
"""
from __future__ import annotations

import polars as pl

ALPHA = 0.01
TEST_SCHEMA = pl.Schema({"method": pl.String, "attack": pl.String, "n": pl.UInt32, "median_p": pl.Float64,
                         "max_p": pl.Float64, "share_below_alpha": pl.Float64, "median_effect": pl.Float64})


def test_table(scores: pl.DataFrame, models: pl.DataFrame, alpha: float = ALPHA) -> pl.DataFrame:
    tested = (scores.filter(pl.col("p_value").is_not_null())
              .join(models.select("model_id", "role", "attack"), on="model_id", how="inner"))
    if tested.is_empty():
        return pl.DataFrame(schema=TEST_SCHEMA)
    group = (pl.when(pl.col("role") == "negative").then(pl.lit("negatives"))
             .when(pl.col("role") == "source").then(pl.lit("source")).otherwise(pl.col("attack")))
    return (
        tested.filter(pl.col("role").is_in(("source", "positive", "negative")))
        .with_columns(attack=group)
        .group_by("method", "attack")
        .agg(n=pl.len(), median_p=pl.col("p_value").median(), max_p=pl.col("p_value").max(),
             share_below_alpha=(pl.col("p_value") < alpha).mean(), median_effect=pl.col("effect").median())
        .sort("method", "attack")
        .select(TEST_SCHEMA.names())
        .cast(TEST_SCHEMA)
    )


def watermark_cost(models: pl.DataFrame, clean_source_id: str | None) -> pl.DataFrame:
    """Each marked source against the clean one of its replicate: accuracy drop and training-time ratio."""
    schema = {"source_id": pl.String, "test_acc": pl.Float64, "accuracy_drop": pl.Float64, "time_ratio": pl.Float64}
    if clean_source_id is None:
        return pl.DataFrame(schema=schema)
    replicate = pl.col("replicate") if "replicate" in models.columns else pl.lit(0)
    sources = models.filter(pl.col("role") == "source").with_columns(replicate=replicate)
    # the clean sources: the run's first, and every source that negatives are counted against
    clean_ids = {clean_source_id, *models.filter(pl.col("role") == "negative").get_column("source_id").to_list()}
    is_clean = pl.col("model_id").is_in(list(clean_ids))
    clean = sources.filter(is_clean).select("replicate", clean_acc="test_acc", clean_seconds="train_seconds")
    seconds = pl.col("clean_seconds")
    return sources.filter(is_clean.not_()).join(clean, on="replicate").select(
        source_id=pl.col("model_id"), test_acc=pl.col("test_acc"),
        accuracy_drop=pl.col("clean_acc") - pl.col("test_acc"),
        time_ratio=pl.when(seconds > 0).then(pl.col("train_seconds") / seconds),
    ).cast(schema)
