"""The report's first lines name the winning method per attack, honestly."""
import polars as pl

from reports.winners import winner_lines, winners


def metrics(rows):
    return pl.DataFrame(rows, schema={"method": pl.String, "attack": pl.String, "param": pl.String,
                                      "auc": pl.Float64, "aruc": pl.Float64, "too_small": pl.Boolean}, orient="row")


ROWS = [
    ("ipguard", "all", "all", 0.80, 0.40, False),
    ("cae", "all", "all", 0.85, 0.30, False),
    ("ipguard", "finetune", "all", 1.00, 0.70, False),
    ("cae", "finetune", "all", 1.00, 0.70, False),
    ("ipguard", "distill", "all", 0.55, 0.10, False),
    ("cae", "distill", "all", 0.99, 0.20, True),  # too few suspects to trust: never a winner
    ("ipguard", "distill", "0.5", 0.99, 0.90, False),  # a per-parameter row is not an attack
    ("ipguard", "prune", "all", None, None, False),
]


def test_the_best_trustworthy_auc_wins_each_attack_and_ties_read_as_ties():
    table = winners(metrics(ROWS))
    assert table["attack"].to_list() == ["all", "distill", "finetune"]  # "all" first; prune has no AUC
    row = {r["attack"]: r for r in table.iter_rows(named=True)}
    assert (row["all"]["winner"], row["all"]["runner_up"]) == ("cae", "ipguard")
    assert row["distill"]["winner"] == "ipguard" and row["distill"]["methods"] == 1
    assert row["finetune"]["tie"] and not row["all"]["tie"]
    lines = winner_lines(metrics(ROWS))
    assert lines[0] == "over all attacks: cae wins (AUC 0.850, ARUC 0.300); runner-up ipguard (AUC 0.800)"
    assert lines[2].startswith("under finetune: cae and ipguard tie (AUC 1.000")


def test_no_trustworthy_cell_names_no_winner():
    lines = winner_lines(metrics([("cae", "all", "all", 0.9, 0.5, True)]))
    assert lines == ["no method has enough positives and negatives under any attack to name a winner"]
