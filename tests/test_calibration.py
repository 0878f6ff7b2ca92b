"""reports.calibration: family split, exact intervals, thresholds set on calibration negatives only."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest

from reports.calibration import (
    CALIBRATION,
    CALIBRATION_SCHEMA,
    EVALUATION,
    calibrated_threshold,
    calibration_display,
    calibration_table,
    clopper_pearson,
    family_part,
    negative_families,
)


def roots(part: str, count: int, start: int = 0) -> list[str]:
    """The first `count` root ids "train(seed=i)" that the hash sends to `part`."""
    found = (f"train(cnn,seed={i})" for i in itertools.count(start))
    return list(itertools.islice((r for r in found if family_part(r) == part), count))


def manifest(rows: list[tuple[str, str | None, str]]) -> pl.DataFrame:
    """(model_id, parent_id, role) rows as a manifest."""
    return pl.DataFrame(rows, schema={"model_id": pl.String, "parent_id": pl.String, "role": pl.String},
                        orient="row")


def zoo(n_cal: int, n_eval: int, derived: bool = True) -> pl.DataFrame:
    """A source, two positives, and negative families: each root plus (if derived) a student of it."""
    rows = [("src", None, "source"), ("src->prune(rate=0.5)", "src", "positive"),
            ("src->finetune(lr=0.01)", "src", "positive")]
    for root in roots(CALIBRATION, n_cal) + roots(EVALUATION, n_eval):
        rows.append((root, None, "negative"))
        if derived:
            rows.append((f"{root}->distill(arch=mlp)", root, "negative"))
    return manifest(rows)


def labelled(models: pl.DataFrame, scores: dict[str, float], method: str = "m") -> pl.DataFrame:
    """label_suspects-like rows of the "all" cell and a prune cell (same negatives)."""
    rows = []
    for model_id, role in models.select("model_id", "role").iter_rows():
        if model_id not in scores or role not in ("source", "positive", "negative"):
            continue
        rows.append((method, "all", "all", "all", model_id, role != "negative", scores[model_id]))
        if role == "negative" or "prune" in model_id:
            rows.append((method, "prune", "all", "all", model_id, role != "negative", scores[model_id]))
    schema = ["method", "attack", "param", "value", "model_id", "label", "score"]
    return pl.DataFrame(rows, schema=schema, orient="row")


# --- split ------------------------------------------------------------------------------------------


def test_family_is_the_derivation_root_and_never_split():
    models = zoo(3, 3)
    families = negative_families(models)
    assert families.height == 12  # 6 roots, each with a student
    assert set(families["family"]) == set(roots(CALIBRATION, 3) + roots(EVALUATION, 3))
    for family, parts in families.group_by("family").agg(pl.col("part").unique()).iter_rows():
        assert len(parts) == 1 and parts[0] == family_part(family)
        students = families.filter(pl.col("family") == family)
        assert students.height == 2 and f"{family}->distill(arch=mlp)" in students["model_id"].to_list()


def test_family_follows_parent_id_when_ids_are_not_derivation_strings():
    models = manifest([("src", None, "source"), ("ind", None, "negative"), ("student", "ind", "negative"),
                       ("grandchild", "student", "negative")])
    families = negative_families(models)
    assert families["family"].to_list() == ["ind"] * 3
    assert families["part"].n_unique() == 1


def test_split_is_stable_when_other_suspects_come_and_go():
    base = negative_families(zoo(4, 4))
    more = zoo(4, 4).vstack(manifest([("train(cnn,seed=999)", None, "negative"),
                                      ("src->noise(std=0.1)", "src", "positive")]))
    fewer = zoo(4, 4).filter(pl.col("model_id") != roots(CALIBRATION, 1)[0] + "->distill(arch=mlp)")
    reversed_rows = zoo(4, 4).reverse()
    for other in (more, fewer, reversed_rows):
        joined = base.join(negative_families(other), on="model_id", suffix="_other")
        assert joined.height >= base.height - 1
        assert (joined["part"] == joined["part_other"]).all()
        assert (joined["family"] == joined["family_other"]).all()


# --- Clopper–Pearson ------------------------------------------------------------------------------


@pytest.mark.parametrize("k, n, expected", [
    (0, 10, (0.0, 0.3085)), (10, 10, (0.6915, 1.0)), (5, 10, (0.1871, 0.8129)), (1, 20, (0.0013, 0.2487)),
])
def test_clopper_pearson_known_values(k, n, expected):
    assert clopper_pearson(k, n) == pytest.approx(expected, abs=1e-4)


def test_clopper_pearson_empty():
    assert clopper_pearson(0, 0) == (None, None)


# --- thresholds -------------------------------------------------------------------------------------


def test_threshold_is_the_conservative_quantile():
    cal = np.arange(1, 101) / 100.0  # 100 negatives 0.01 … 1.00
    assert calibrated_threshold(cal, 0.01) == 0.99  # flag s > 0.99: 1 of 100 flagged
    assert calibrated_threshold(cal, 0.05) == 0.95  # 5 of 100
    assert calibrated_threshold(np.arange(20.0), 0.05) == 18.0  # 0.05·20 = 1 allowed, despite round-off
    assert calibrated_threshold(np.array([]), 0.05) is None


def scores_for(models: pl.DataFrame, neg: float = 0.2) -> dict[str, float]:
    scores = {m: neg for m in models.filter(pl.col("role") == "negative")["model_id"]}
    return scores | {"src": 0.99, "src->prune(rate=0.5)": 0.9, "src->finetune(lr=0.01)": 0.5}


def test_threshold_comes_from_calibration_negatives_only():
    models = zoo(30, 10, derived=False)
    scores = scores_for(models)
    cal_roots, eval_roots = roots(CALIBRATION, 30), roots(EVALUATION, 10)
    for i, root in enumerate(cal_roots):
        scores[root] = i / 100  # 0.00 … 0.29
    table = calibration_table(labelled(models, scores), models)
    assert table.schema == CALIBRATION_SCHEMA
    row = table.filter(attack="all", target_fpr=0.05).row(0, named=True)
    assert row["n_cal_neg"] == 30 and row["n_eval_neg"] == 10 and row["n_cal_families"] == 30
    assert row["threshold"] == pytest.approx(0.28)  # ⌊0.05·30⌋ = 1 allowed: the second highest
    assert row["cal_fpr"] == pytest.approx(1 / 30)

    # an evaluation negative scoring far above every positive moves the FPR, never the threshold
    scores[eval_roots[0]] = 5.0
    moved = calibration_table(labelled(models, scores), models).filter(attack="all", target_fpr=0.05).row(
        0, named=True)
    assert moved["threshold"] == row["threshold"]
    assert (moved["fp"], moved["fpr"]) == (1, pytest.approx(0.1))
    assert (moved["fpr_lo"], moved["fpr_hi"]) == pytest.approx(clopper_pearson(1, 10))
    assert (moved["tp"], moved["n_pos"]) == (3, 3) and moved["tpr_lo"] == pytest.approx(clopper_pearson(3, 3)[0])

    # a calibration negative does move it
    scores[cal_roots[-1]] = 0.95
    assert calibration_table(labelled(models, scores), models).filter(
        attack="all", target_fpr=0.05)["threshold"].item() == pytest.approx(0.28)  # still the second highest
    scores[cal_roots[-2]] = 0.92
    assert calibration_table(labelled(models, scores), models).filter(
        attack="all", target_fpr=0.05)["threshold"].item() == pytest.approx(0.92)


def test_below_one_over_n_cal_the_threshold_tops_every_calibration_negative():
    models = zoo(5, 3)
    scores = scores_for(models)
    for i, root in enumerate(roots(CALIBRATION, 5)):
        scores[root] = 0.1 * i  # highest calibration negative: 0.4
    table = calibration_table(labelled(models, scores), models)
    for row in table.filter(attack="all").iter_rows(named=True):  # 1 % and 5 % are both below 1/10
        assert row["n_cal_neg"] == 10 and row["threshold"] == pytest.approx(0.4)
        assert row["cal_fpr"] == 0 and "1/n_cal" in row["note"]
    # the prune cell faces the same negatives, so it has the same threshold
    assert table.filter(attack="prune")["threshold"].to_list() == table.filter(attack="all")["threshold"].to_list()
    shown = calibration_display(table)
    assert shown.height == 2 and shown["n_cal"].to_list() == ["10 (5 fam.)"] * 2


def test_method_without_scored_negatives_gets_no_threshold():
    models = zoo(2, 2)
    scores = {k: v for k, v in scores_for(models).items() if not k.startswith("train(")}
    table = calibration_table(labelled(models, scores), models)
    assert table.height == 4 and table["threshold"].is_null().all()
    assert table["tpr"].is_null().all() and (table["n_pos"] > 0).all()
    assert all("no calibration negatives" in note and "no evaluation negatives" in note for note in table["note"])


def test_all_negatives_on_one_side_says_so():
    models = zoo(0, 3)
    table = calibration_table(labelled(models, scores_for(models)), models)
    assert table["threshold"].is_null().all() and (table["n_eval_neg"] == 6).all()
    assert all("family is never split" in note for note in table["note"])
    models = zoo(3, 0)
    table = calibration_table(labelled(models, scores_for(models)), models)
    assert table["threshold"].is_not_null().all() and table["fpr"].is_null().all()
    assert all("FPR not measured" in note for note in table["note"])


def test_non_finite_scores_count_on_neither_side():
    models = zoo(3, 3, derived=False)
    scores = scores_for(models)
    scores[roots(CALIBRATION, 1)[0]] = float("nan")
    scores[roots(EVALUATION, 1)[0]] = float("inf")
    row = calibration_table(labelled(models, scores), models).filter(attack="all").row(0, named=True)
    assert (row["n_cal_neg"], row["n_eval_neg"]) == (2, 2)
