"""Attack parameters and mirror pairs, read from the manifest's derivation data.

Per-parameter rows. `attack_params` holds the first attack step's parameters as
JSON. Within one attack family, the parameters whose value differs between that
family's positives are its sweep axes: `rate` for prune, `level` for noise,
`fraction` for advtrain, `arch` for distill/knockoff (`arch` and `kind` for extract),
`mode` for finetune, `task`/`mode` for transfer. Each (parameter, value) becomes a
report row of its own, e.g. (prune, rate, 0.5). `rep` (the replicate index) is never
an axis: replicates are what such a row pools. A parameter that is the same for all
of a family's positives gives no rows (its row would repeat the family row).
Values are kept as text ("0.5", "cnn") because their types differ between axes;
`value_order` sorts them numerically where they are numbers.

Mirror pairs (NaturalFinger's matching-rate margin). A mirror negative is an
independent model of the source's architecture put through the same attack chain as
a positive. The pair key is the part of the derivation string after the root step,
with `data=defender` read as `data=independent` (the engine gives a mirror's
data-using steps the independent owner's data, see engine.plan.owned_by_independent):
so every parameter of every step, `rep` included, must match, and each positive pairs
with exactly the mirror that went through its own recipe. The source pairs with the
mirror's root (an empty chain), under attack "source".
"""

from __future__ import annotations

import json

import polars as pl

IGNORED_PARAMS = ("rep",)
PARAM_SCHEMA = pl.Schema({"model_id": pl.String, "attack": pl.String, "param": pl.String, "value": pl.String})
ALL = "all"  # the param/value of a row that pools every variant


def _text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def attack_parameters(models: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """One (model_id, attack, param, value) row per positive and sweep axis of its family."""
    models = models.lazy()
    if "attack_params" not in models.collect_schema().names():
        return pl.DataFrame(schema=PARAM_SCHEMA)
    positives = models.filter(pl.col("role") == "positive").select("model_id", "attack", "attack_params").collect()
    parsed = [
        (model_id, attack, json.loads(raw) if raw else {})
        for model_id, attack, raw in positives.iter_rows()
    ]
    by_family: dict[str, list[dict]] = {}
    for _, attack, params in parsed:
        by_family.setdefault(attack, []).append(params)
    axes = {
        (attack, key)
        for attack, family in by_family.items()
        for key in set().union(*family) - set(IGNORED_PARAMS)
        if len({_text(params[key]) if key in params else None for params in family}) > 1
    }
    rows = [
        (model_id, attack, key, _text(params[key]))
        for model_id, attack, params in parsed
        for key in sorted(params)
        if (attack, key) in axes
    ]
    return pl.DataFrame(rows, schema=PARAM_SCHEMA, orient="row")


def value_order(value: pl.Expr) -> list[pl.Expr]:
    """Sort keys that put "all" first, then numbers by size, then text."""
    return [value != ALL, value.cast(pl.Float64, strict=False), value]


def chain_key() -> pl.Expr:
    """The attack chain of a model_id (text after the root step), data=defender read as data=independent."""
    chain = pl.col("model_id").str.splitn("->", 2).struct.field("field_1").fill_null("")
    return chain.str.replace_all("data=defender", "data=independent", literal=True)


def mirror_pairs(models: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """(positive_id, mirror_id, attack) for every positive (and the source) that has a mirror negative.

    Needs the manifest's `lineage` column; without it (or without mirrors) the result is empty.
    """
    models = models.lazy()
    schema = pl.Schema({"positive_id": pl.String, "mirror_id": pl.String, "attack": pl.String})
    if "lineage" not in models.collect_schema().names():
        return pl.DataFrame(schema=schema)
    # a mirror pairs with the copies of its own replicate's source (no column: one replicate)
    replicate = pl.col("replicate") if "replicate" in models.collect_schema().names() else pl.lit(0)
    mirrors = models.filter(pl.col("lineage") == "mirror", pl.col("role") == "negative").select(
        mirror_id="model_id", key=chain_key(), replicate=replicate
    )
    stolen = models.filter(pl.col("role").is_in(("source", "positive"))).select(
        positive_id="model_id", attack="attack", key=chain_key(), replicate=replicate
    )
    return stolen.join(mirrors, on=["key", "replicate"], how="inner").select(schema.names()).collect()
