"""The query summary from the labels stored with each score equals the one from the raw logits."""
from __future__ import annotations

import numpy as np
import polars as pl

from engine.sink import top_labels
from reports.queries import SUMMARY_SCHEMA, query_summary, summary_from_labels


def synthetic(seed=0):
    rng = np.random.default_rng(seed)
    models = pl.DataFrame({"model_id": ["src", "wm", "a", "b", "c", "n1", "n2"],
                           "source_id": ["src", "wm", "src", "src", "src", "src", "src"]})
    queries, scores = [], []
    for method, n in (("m1", 12), ("m2", 7), ("wm_method", 5)):
        base = rng.normal(size=(n, 4)).astype(np.float32)
        suspects = ["wm", "a", "n1"] if method == "wm_method" else ["src", "a", "b", "c", "n1", "n2"]
        for model_id in suspects:
            logits = base + rng.normal(scale=0.0 if model_id in ("src", "wm") else 1.5, size=base.shape)
            logits = logits.astype(np.float32)
            if model_id == "b":
                logits[1, 2] = np.nan  # a row without a label
                logits[3, 0] = np.inf
            if model_id == "n2" and method == "m2":
                logits = logits[:0]  # no query answered
            for i, row in enumerate(logits):
                queries.append((method, f"fp-{method}", model_id, i, row.tolist()))
            scores.append((method, model_id, f"fp-{method}", top_labels(logits)))
    queries = pl.LazyFrame(queries, schema={"method": pl.String, "fingerprint_id": pl.String, "model_id": pl.String,
                                            "query_index": pl.Int32, "logits": pl.List(pl.Float32)}, orient="row")
    scores = pl.DataFrame(scores, schema={"method": pl.String, "model_id": pl.String, "fingerprint_id": pl.String,
                                          "labels": pl.List(pl.Int32)}, orient="row")
    return queries, scores, models.lazy()


def test_stored_labels_give_the_logits_summary():
    queries, scores, models = synthetic()
    from_logits = query_summary(queries, models).sort("method", "model_id")
    from_labels = summary_from_labels(scores, models)
    assert from_labels.schema == SUMMARY_SCHEMA
    answered = from_labels.filter(pl.col("n_queries").is_not_null()).sort("method", "model_id")
    assert answered.equals(from_logits)
    b = answered.filter((pl.col("method") == "m1") & (pl.col("model_id") == "b")).row(0, named=True)
    assert b["n_nonfinite"] == 2 and b["n_queries"] == 12
    assert answered.filter(pl.col("model_id") == "src").get_column("label_match").to_list() == [1.0, 1.0]
    silent = from_labels.filter(pl.col("n_queries").is_null())
    assert silent.select("method", "model_id").rows() == [("m2", "n2")]  # no query rows: no counts, as from logits


def test_a_score_without_labels_falls_back_to_the_logits():
    queries, scores, models = synthetic()
    older = scores.with_columns(labels=pl.when(pl.col("model_id") == "a").then(None).otherwise(pl.col("labels")))
    assert summary_from_labels(older, models) is None
    assert query_summary(queries, models, older).sort("method", "model_id").equals(
        query_summary(queries, models).sort("method", "model_id"))
