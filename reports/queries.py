"""Label-only views of the raw query logits, and what each (method, suspect) was asked.

The `score` a report uses is the one the method computed in the worker, at query
time, with its own score function and only the access its level allows (see
engine.worker.Worker.query); reports read it and never re-apply a score function
(that would need the method's code, torch included). What reports do derive from the
stored logits is method-independent:

* label = argmax of a query row's logits (the first maximum), the answer a
  label-only API would give. A row with any NaN or ±inf logit (or no logits) has no
  label: it is counted in n_nonfinite and left out of every share.
* label_match = the share of a suspect's fingerprint queries (with a label) on which
  it gives the same label as its source model (manifest `source_id`) gives on the
  same query of the same method: IPGuard's matching rate with the source's labels,
  for any method. Suspects answering in another label space (transfer) are compared
  index by index, which is rarely meaningful; their row says so by its num_classes.

The engine keeps each suspect's labels with its score (`labels`, computed the same
way), so the summary reads one list per suspect instead of every logit; runs written
before that column existed are summarised from the logits.
"""

from __future__ import annotations

import polars as pl

SUMMARY_SCHEMA = pl.Schema(
    {
        "method": pl.String,
        "model_id": pl.String,
        "fingerprint_id": pl.String,
        "n_queries": pl.Int64,
        "n_nonfinite": pl.Int64,
        "label_match": pl.Float64,
    }
)


def label_view(queries: pl.LazyFrame) -> pl.LazyFrame:
    """(method, fingerprint_id, model_id, query_index, label, nonfinite): one row per query row."""
    logits = pl.col("logits")
    nonfinite = logits.list.eval(pl.element().is_finite().not_()).list.any() | (logits.list.len() == 0)
    return queries.select(
        "method",
        "fingerprint_id",
        "model_id",
        "query_index",
        label=pl.when(nonfinite.not_()).then(logits.list.arg_max()),
        nonfinite=nonfinite.fill_null(True),
    )


def query_summary(queries: pl.LazyFrame, models: pl.LazyFrame, scores: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per (method, model_id): its fingerprint, how many queries it answered, how many non-finite, label_match.

    From the labels stored with the scores when every score has them (one list per
    suspect: no logit is read), else from the logits themselves (runs of older versions).
    """
    if scores is not None:
        summary = summary_from_labels(scores, models)
        if summary is not None:
            return summary
    labels = label_view(queries)
    if "source_id" in models.collect_schema().names():
        source_ids = models.select(pl.col("source_id").unique()).collect().get_column("source_id").drop_nulls()
        source_rows = labels.filter(pl.col("model_id").is_in(source_ids.to_list())).select(
            "method", "query_index", source_id="model_id", source_label="label"
        )
        on = ["method", "query_index"]
        if len(source_ids) > 1:  # only then does a row need its model's source_id (a join on 1M strings)
            labels = labels.join(models.select("model_id", "source_id"), on="model_id", how="left")
            on.append("source_id")
        else:
            source_rows = source_rows.drop("source_id")
        labels = labels.join(source_rows, on=on, how="left")
    else:
        labels = labels.with_columns(source_label=pl.lit(None, pl.UInt32))
    summary = labels.group_by("method", "model_id").agg(
        fingerprint_id=pl.col("fingerprint_id").first(),
        n_queries=pl.len().cast(pl.Int64),
        n_nonfinite=pl.col("nonfinite").sum().cast(pl.Int64),
        label_match=(pl.col("label") == pl.col("source_label")).mean(),
    )
    conformed = summary.select(pl.col(name).cast(dtype) for name, dtype in SUMMARY_SCHEMA.items())
    return conformed.collect(engine="streaming")


def summary_from_labels(scores: pl.DataFrame, models: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame | None:
    """`query_summary` from the scores' `labels` lists, or None when a score lacks them.

    Query rows are keyed by integers (the score's row, its source's key, the query
    index), so ten million of them never carry a string column. A score with no
    queries gets null counts, as a suspect without query rows does in the logit path.
    """
    if scores.is_empty() or "labels" not in scores.columns or scores.get_column("labels").null_count():
        return None
    rows = scores.lazy().select("method", "model_id", "fingerprint_id", "labels").with_row_index("row")
    if "source_id" in models.lazy().collect_schema().names():
        rows = rows.join(models.lazy().select("model_id", "source_id"), on="model_id", how="left")
    else:
        rows = rows.with_columns(source_id=pl.lit(None, pl.String))
    rows = rows.with_columns(source_key=pl.struct("method", "source_id").rank("dense")).collect()
    # a source's own row holds the labels every suspect of its (method, source) is compared with
    sources = rows.filter(pl.col("model_id") == pl.col("source_id")).select("source_key", "labels")

    def exploded(frame: pl.DataFrame, key: str, name: str) -> pl.LazyFrame:
        answered = frame.lazy().filter(pl.col("labels").list.len() > 0)
        return (answered.select(key, pl.col("labels").alias(name), query_index=pl.int_ranges(pl.col("labels").list.len()))
                .explode(name, "query_index"))

    answers = exploded(rows.select("row", "source_key", "labels"), "row", "label").join(
        rows.lazy().select("row", "source_key"), on="row")
    per_row = (
        answers.join(exploded(sources, "source_key", "source_label"), on=["source_key", "query_index"], how="left")
        .group_by("row")
        .agg(n_queries=pl.len().cast(pl.Int64), n_nonfinite=pl.col("label").is_null().sum().cast(pl.Int64),
             label_match=(pl.col("label") == pl.col("source_label")).mean())
        .collect()
    )
    summary = rows.select("row", "method", "model_id", "fingerprint_id").join(per_row, on="row", how="left")
    return summary.select(pl.col(name).cast(dtype) for name, dtype in SUMMARY_SCHEMA.items())
