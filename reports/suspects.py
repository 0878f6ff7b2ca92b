"""Turn raw scores into the labelled suspect sets that every metric is computed on.

A report row (a "cell") is keyed by (method, attack, param, value) and compares
positives (stolen copies, label True) against negatives (innocent models, label False):

* attack = A, param = value = "all": positives are the role "positive" models made
  by attack A; negatives are ALL role "negative" models, independent and mirror
  alike. Mirror negatives reuse the positives' attack names, but a verifier never
  learns which attack a thief used, so every per-attack row faces the same, complete
  set of innocents.
* attack = A, param = p, value = v: the positives of A whose first attack step has
  p = v (see `reports.params`), against the same negatives.
* attack = "all": positives are the source itself plus every positive; negatives
  are every negative.

Role "owner" models (the verifier's own helpers) never count, and the source gets no
per-attack row of its own. Scores of models missing from the manifest are dropped.

Label spaces: a transferred suspect answers in another label set (the manifest's
`task`, else its `num_classes`). As in SAC, such positives are compared only with
negatives of the same task (task-matched negatives), and the "all" row keeps to the
source's label space. A manifest without either puts every model in one space.

Score scale: ARUC integrates over thresholds in [0, 1], so each method declares the
range of its score (`methods.scales`, read by name without importing the method):
a bounded score is mapped to [0, 1] by that fixed range, never by the data, so no
suspect can move another cell's ARUC (`run_scales` resolves a run's method labels);
a method the table does not know is read as a rate (UNDECLARED). The mapped score is the `unit` column: null for a method with an
unbounded scale and for a NaN/inf/missing score, NaN for a finite score outside the
range (the metrics then withhold that cell's ARUC). AUC and TPR use the raw `score`.
Owner models and models absent from the manifest never reach a labelled row, so they
influence nothing.

Missing scores: `complete_scores` adds a null-score row for every (method, suspect)
that has no score shard (its query failed or has not run yet), so the metrics can
count it (n_missing) instead of silently shrinking the suspect set. A method is only
asked about its own lineage (a watermark's marked source and its attacked copies, or
the clean source's) and the shared negatives.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import polars as pl

from methods.scales import SCORE_SCALES, TOLERANCE, ScoreScale

from .params import ALL, attack_parameters

COUNTED_ROLES = ("source", "positive", "negative")
CELL_KEYS = ("method", "attack", "param", "value")
LABELLED_COLUMNS = (*CELL_KEYS, "model_id", "label", "score", "unit")
# A method missing from methods.scales (a run of another fpbench version, a test's made-up
# name) is read as a rate: a fixed map still, and a score outside [0, 1] withholds ARUC.
UNDECLARED = ScoreScale("rate (assumed: undeclared)", 0.0, 1.0)


def run_scales(info: Mapping) -> dict[str, ScoreScale]:
    """The declared scales keyed as the run's scores are: by spec label, each with its method's scale.

    A spec entry may be labelled (two IPGuard settings, "ipguard-hard"); the score
    shards name the label, while the scale belongs to the registered method. Runs
    record each entry's declared scale in run.json (`score_scales`), which is how a
    plugin method's scale reaches the report; older runs rely on `methods.scales`.
    """
    entries = info.get("spec", {}).get("methods", [])
    labelled = {e.get("label", e["name"]): SCORE_SCALES[e["name"]] for e in entries if e.get("name") in SCORE_SCALES}
    recorded = {label: ScoreScale(s["name"], s["lo"], s["hi"]) for label, s in info.get("score_scales", {}).items()}
    return SCORE_SCALES | labelled | recorded  # what the scoring code declared (plugins too) comes first


def with_scales(frame: pl.LazyFrame, scales: Mapping[str, ScoreScale] | None = None) -> pl.LazyFrame:
    """`frame` (with a method column) plus its method's score_scale, lo and hi; UNDECLARED where it has none."""
    declared = SCORE_SCALES if scales is None else scales
    rows = [(name, scale.name, scale.lo, scale.hi) for name, scale in declared.items()]
    schema = {"method": pl.String, "score_scale": pl.String, "lo": pl.Float64, "hi": pl.Float64}
    undeclared = pl.col("score_scale").is_null()
    return frame.join(pl.LazyFrame(rows, schema=schema, orient="row"), on="method", how="left").with_columns(
        score_scale=pl.col("score_scale").fill_null(UNDECLARED.name),
        lo=pl.when(undeclared).then(UNDECLARED.lo).otherwise("lo"),
        hi=pl.when(undeclared).then(UNDECLARED.hi).otherwise("hi"),
    )


def unit_scores(scores: pl.DataFrame | pl.LazyFrame, scales: Mapping[str, ScoreScale] | None = None) -> pl.LazyFrame:
    """(method, model_id, score, unit): `unit` is the score on [0, 1] by the method's declared range.

    Null where the scale is unbounded or the score not finite; NaN for a finite score
    beyond the range by more than round-off (TOLERANCE); clipped within it.
    """
    lo, hi, score = pl.col("lo"), pl.col("hi"), pl.col("score")
    unit = (score - lo) / (hi - lo)
    mapped = (
        pl.when(score.is_finite().not_() | lo.is_null()).then(None)
        .when((unit < -TOLERANCE) | (unit > 1 + TOLERANCE)).then(float("nan"))
        .otherwise(unit.clip(0.0, 1.0))
    )
    return with_scales(scores.lazy().select("method", "model_id", "score"), scales).select(
        "method", "model_id", "score", unit=mapped
    )


def mapped_scores(scores: pl.DataFrame | pl.LazyFrame, scales: Mapping[str, ScoreScale] | None = None) -> pl.LazyFrame:
    """(method, model_id, score): on [0, 1] by the method's range, as it is where the scale is unbounded."""
    return unit_scores(scores, scales).select("method", "model_id", score=pl.coalesce("unit", "score"))


def complete_scores(
    scores: pl.DataFrame | pl.LazyFrame, models: pl.DataFrame | pl.LazyFrame, methods: Iterable[str] = ()
) -> pl.LazyFrame:
    """The scores plus a null-score row per (method, suspect it is asked about) without one.

    Methods are those in `scores` plus `methods` (the run's spec may name a method that
    has not written a single shard). A method is asked about every negative and the
    source and positives of its own lineage (see `method_suspects`).
    """
    scores = scores.lazy().select("method", "model_id", "score")
    named = pl.LazyFrame({"method": list(methods)}, schema={"method": pl.String})
    all_methods = pl.concat([scores.select("method"), named]).unique()
    expected = method_suspects(scores, models, all_methods)
    absent = expected.join(scores, on=("method", "model_id"), how="anti").with_columns(score=pl.lit(None, pl.Float64))
    return pl.concat([scores, absent])


def method_suspects(scores: pl.LazyFrame, models: pl.DataFrame | pl.LazyFrame, methods: pl.LazyFrame) -> pl.LazyFrame:
    """(method, model_id) of every suspect each method is asked about.

    Watermark methods verify their own marked source, so a run holds several lineages
    (manifest `source_id`); a method never queries another method's marked copies, and
    they are not missing from it. Its lineage is the source of the non-negative models
    it scored; a method that scored none is held to the clean source (the one the
    negatives name), so its absence still shows as missing rows.
    """
    models = models.lazy()
    role = pl.col("role")
    suspects = models.filter(role.is_in(COUNTED_ROLES))
    if "source_id" not in models.collect_schema().names():  # one lineage: every suspect
        return methods.join(suspects.select("model_id"), how="cross")
    lineages = (scores.join(models.select("model_id", "role", "source_id"), on="model_id")
                .filter(role != "negative").select("method", "source_id").unique())
    clean = models.filter(role == "negative").select("source_id").unique()
    unknown = methods.join(lineages, on="method", how="anti").join(clean, how="cross")
    own = (suspects.filter(role != "negative").select("model_id", "source_id")
           .join(pl.concat([lineages, unknown]), on="source_id").select("method", "model_id"))
    innocents = methods.join(suspects.filter(role == "negative").select("model_id"), how="cross")
    return pl.concat([own, innocents])


def with_space(models: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """The manifest with a `space` column naming the label space a model answers in: its
    transfer task where it has one (two tasks of ten classes are still two spaces), else
    its label count ("?" if unknown)."""
    models = models.lazy()
    names = models.collect_schema().names()
    count = (pl.col("num_classes").cast(pl.Int64).cast(pl.String).fill_null("?") if "num_classes" in names
             else pl.lit("?"))
    task = pl.format("task:{}", pl.col("task")) if "task" in names else pl.lit(None, pl.String)
    return models.with_columns(space=pl.coalesce(task, count))


def positive_cells(models: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """(model_id, attack, param, value, space): each positive once per row it belongs to."""
    positives = with_space(models).filter(pl.col("role") == "positive").select("model_id", "attack", "space")
    per_param = pl.LazyFrame(attack_parameters(models)).join(positives.select("model_id", "space"), on="model_id")
    per_family = positives.with_columns(param=pl.lit(ALL), value=pl.lit(ALL))
    return pl.concat([per_family, per_param], how="diagonal").select("model_id", "attack", "param", "value", "space")


def label_suspects(
    scores: pl.DataFrame | pl.LazyFrame,
    models: pl.DataFrame | pl.LazyFrame,
    scales: Mapping[str, ScoreScale] | None = None,
) -> pl.LazyFrame:
    """Expand scores into LABELLED_COLUMNS rows, one suspect set per report cell.

    Negatives appear once per cell of their label space and once in "all"; `unit` is
    the score on [0, 1] by the method's declared scale (see `unit_scores`).
    """
    joined = unit_scores(scores, scales).join(
        with_space(models).select("model_id", "role", "space"), on="model_id", how="inner"
    )
    role = pl.col("role")
    cells = positive_cells(models)
    positives = joined.filter(role == "positive").join(cells.drop("space"), on="model_id").with_columns(
        label=pl.lit(True)
    )
    negatives = (
        joined.filter(role == "negative")
        .join(cells.select("attack", "param", "value", "space").unique(), on="space", how="inner")
        .with_columns(label=pl.lit(False))
    )
    source_space = with_space(models).filter(role == "source").select(source_space=pl.col("space").first())
    in_source_space = (pl.col("space") == pl.col("source_space")) | pl.col("source_space").is_null()
    overall = (
        joined.filter(role.is_in(COUNTED_ROLES))
        .join(source_space, how="cross")
        .filter(in_source_space)
        .with_columns(attack=pl.lit(ALL), param=pl.lit(ALL), value=pl.lit(ALL), label=role != "negative")
    )
    return pl.concat([frame.select(LABELLED_COLUMNS) for frame in (positives, negatives, overall)])
