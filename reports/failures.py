"""Failed jobs, and what they mean for each (method, suspect).

The executor records a job that kept failing as a row (run_id, job, model_id, method,
error, attempts), in `<run_dir>/failures.parquet` and/or as one JSON object (or a list
of them) per file in `<run_dir>/failures/*.json`; both are read and concatenated.
`job` is "train" (model_id set, method null), "fingerprint" (method set) or "query"
(both set).

A (method, suspect) pair is then in one of three states:

* scored  — a score shard exists (its score may still be NaN/inf: that is counted as
  invalid by the metrics, not as a failure);
* failed  — its query failed, its method's fingerprint failed, or training failed
  for the suspect or for any model it derives from (a derivation-string prefix:
  a failed `A` takes `A->prune(...)` down with it);
* pending — neither: the run has not got there yet.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from engine.rundir import FAILURES_SCHEMA
from engine.safe_files import files_under, read_bytes, regular_file

from .schemas import polars_schema

MAX_RECORD_BYTES = 16 << 20  # one failure record: an error message and a few ids

FAILURE_SCHEMA = polars_schema(FAILURES_SCHEMA)
STATUS_SCHEMA = pl.Schema({"method": pl.String, "model_id": pl.String, "status": pl.String, "error": pl.String})


def read_failures(run_dir: Path) -> pl.DataFrame:
    """All failure records of a run (FAILURE_SCHEMA); empty when the run has none."""
    frames = []
    table = run_dir / "failures.parquet"
    if table.exists():
        try:
            frames.append(pl.read_parquet(regular_file(table, run_dir), glob=False))
        except pl.exceptions.PolarsError as err:
            raise ValueError(f"{table} is not a readable Parquet file ({err})") from None
    records = []
    for path in files_under(run_dir / "failures", ".json", run_dir):
        records += _records(path, run_dir)
    if records:
        frames.append(pl.DataFrame([{k: r.get(k) for k in FAILURE_SCHEMA} for r in records], schema=FAILURE_SCHEMA))
    try:
        conformed = [
            f.select(pl.col(n).cast(t) if n in f.columns else pl.lit(None, t).alias(n) for n, t in FAILURE_SCHEMA.items())
            for f in frames
        ]
    except pl.exceptions.PolarsError as err:
        raise ValueError(f"{table}: a column does not fit the failure table ({err})") from None
    if not conformed:
        return pl.DataFrame(schema=FAILURE_SCHEMA)
    return pl.concat(conformed).with_columns(pl.col("error").fill_null("(no error message recorded)"))


def _records(path: Path, run_dir: Path) -> list[dict]:
    """The failure objects of one JSON file (an object or a list of them), with typed fields."""
    try:
        loaded = json.loads(read_bytes(path, MAX_RECORD_BYTES, inside=run_dir).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ValueError(f"{path} is not valid JSON") from None
    records = loaded if isinstance(loaded, list) else [loaded]
    for record in records:
        if not isinstance(record, dict):
            raise ValueError(f"{path}: a failure record must be a JSON object, got {type(record).__name__}")
        for key, kind in FAILURE_SCHEMA.items():
            value = record.get(key)
            ok = value is None or (isinstance(value, int) and not isinstance(value, bool) if kind == pl.Int64
                                   else isinstance(value, str))
            if not ok:
                raise ValueError(f"{path}: '{key}' must be {'an integer' if kind == pl.Int64 else 'a string'}, "
                                 f"got {value!r}")
    return records


def job_status(expected: pl.DataFrame, scored: pl.DataFrame, failures: pl.DataFrame) -> pl.DataFrame:
    """STATUS_SCHEMA for every (method, model_id) of `expected`; `scored` lists the pairs with a score shard.

    `error` is the first recorded error of the failure that explains the pair.
    """
    keys = ["method", "model_id"]
    job = pl.col("job")
    queried = failures.filter(job == "query").group_by(keys).agg(query_error=pl.col("error").first())
    fingerprinted = failures.filter(job == "fingerprint").group_by("method").agg(fp_error=pl.col("error").first())
    trained = failures.filter(job == "train").select(failed_id="model_id", train_error="error")
    # A model fails to exist if it or an ancestor failed to train: its id equals or extends the failed id.
    lost = (
        expected.select("model_id").unique()
        .join(trained, how="cross")
        .filter(
            (pl.col("model_id") == pl.col("failed_id"))
            | pl.col("model_id").str.starts_with(pl.col("failed_id") + "->")
        )
        .group_by("model_id")
        .agg(pl.col("train_error").first())
    )
    done = scored.select(keys).unique().with_columns(scored=pl.lit(True))
    error = pl.coalesce("query_error", "fp_error", "train_error")
    return (
        expected.select(keys)
        .join(done, on=keys, how="left")
        .join(queried, on=keys, how="left")
        .join(fingerprinted, on="method", how="left")
        .join(lost, on="model_id", how="left")
        .select(
            *keys,
            status=pl.when(pl.col("scored")).then(pl.lit("scored")).when(error.is_not_null()).then(pl.lit("failed"))
            .otherwise(pl.lit("pending")),
            error=pl.when(pl.col("scored").is_null()).then(error),
        )
    )
