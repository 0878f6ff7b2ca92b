"""The report as a renderer-neutral list of sections: text, tables of strings, figures.

`reports.html` and `reports.markdown` render the same sections, so report.html and
report.md always say the same thing. Figures are PNG bytes: the HTML embeds them as
base64 data URIs (self-contained, nothing fetched), the Markdown links the PNG files
that `reports.build` writes next to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from .analysis import Analysis
from .budget import REPEATS, budget_display
from .calibration import calibration_display
from .load import dataset_name
from .paper import (
    arch_table,
    attack_table,
    cost_table,
    failures_table,
    headline_table,
    margin_table,
)
from .paired import SIGNIFICANCE, paired_display
from .replicates import replicate_spread, spread_display
from .tests_table import ALPHA
from .winners import winner_lines

DEFINITIONS = (
    "Scores are computed by each method in the worker at query time (its own score function, only the access "
    "its level allows); the report reads them and never re-applies a score function. label_match is derived "
    "here from the stored logits: the share of fingerprint queries on which a suspect's top-1 label equals its "
    "source's.",
    "Cells: positives are the copies made by that attack (and, for 'all', every positive plus the source); "
    "negatives are all negative models of the same label space. A sweep row (e.g. prune · rate=0.5) keeps the "
    "positives with that first-step parameter value, replicates pooled.",
    "AUC = P(s⁺ > s⁻) + ½·P(s⁺ = s⁻). ARUC = ∫₀¹ min(R(τ), U(τ)) dτ on the 101-point grid τ = 0, 0.01, …, 1 "
    "with the trapezoid rule; R(τ) = share of positives with s ≥ τ, U(τ) = share of negatives with s < τ "
    "(IPGuard). ARUC (>) counts s > τ in R (MarginFinger); they differ only for scores exactly on a grid point. "
    "ARUC needs scores on [0, 1]: each method declares its score's range and is mapped by it, never by the data "
    "(a cosine in [-1, 1] to (s + 1)/2, a negated distance in [-1, 0] to s + 1); a method with an unbounded score "
    "(a -log10 p-value) has no ARUC.",
    "TPR@α FPR: the threshold is the smallest one (decision s ≥ τ) whose false-positive rate on the negatives is "
    "at most α, i.e. positives must score strictly above the (⌊α·n_neg⌋+1)-th highest negative; with fewer than "
    "1/α negatives it is the TPR at zero false positives.",
    "95% CIs: for AUC, DeLong's variance on the logit scale, never narrower than a sample with one discordant "
    "pair, so a perfectly separated cell still gets a real interval; for ARUC, the percentile bootstrap over "
    "suspects, positives and negatives resampled separately with replacement (B resamples; seeded, a negative "
    "set's draw shared by the cells that face it). "
    "Margin = score(positive) − score(its mirror negative), the mirror being the "
    "independent model put through the identical attack recipe (NaturalFinger).",
    "Marks: † fewer positives or negatives than the minimum count (shown, never averaged away); * ARUC on scores "
    "mapped to [0, 1] by the method's declared range; n/a ARUC not defined for the method's score (the warnings "
    "say why); — no positives or no negatives; 'invalid' counts NaN/inf "
    "scores left out, 'missing' suspects without a score (failed or not yet queried).",
)


@dataclass(frozen=True)
class Figure:
    """One plot: the PNG file name it is written to, its bytes, and a caption."""

    file: str
    png: bytes
    caption: str


@dataclass(frozen=True)
class Section:
    title: str
    paragraphs: tuple[str, ...] = ()
    tables: tuple[tuple[str, pl.DataFrame], ...] = ()
    figures: tuple[Figure, ...] = ()
    warnings: tuple[str, ...] = ()


def render_figures(analysis: Analysis) -> dict[str, Figure]:
    """Draw every figure once; keyed by a short name."""
    from .plot import auc_figure, budget_figure, margin_figure, png_bytes, ru_figure

    return {
        "ru": Figure("ru_curves.png", png_bytes(ru_figure(analysis.curves)),
                     "Robustness R(τ) and uniqueness U(τ) per method; shaded: min(R, U), whose area is the ARUC."),
        "auc": Figure("auc_by_attack.png", png_bytes(auc_figure(analysis.metrics)),
                      "ROC-AUC per attack with 95% CIs (DeLong, logit scale); dashed: chance."),
        "margin": Figure("margins.png", png_bytes(margin_figure(analysis.margins)),
                         "Matching-rate margin (positive minus its mirror negative) against each swept parameter."),
        "budget": Figure("budget.png", png_bytes(budget_figure(analysis.budget)),
                         "ROC-AUC over all attacks against the number of fingerprint queries; band: 2.5–97.5 % "
                         "over the query subsets drawn."),
    }


def _summary(analysis: Analysis) -> Section:
    info = analysis.info
    models = analysis.scores.unique("model_id").group_by("role").len().sort("role")
    roles = ", ".join(f"{n} {role}" for role, n in models.iter_rows() if role)
    methods = ", ".join(analysis.cost.get_column("method").to_list()) or "none"
    facts = [
        f"Run {analysis.run_id} ({info.get('name', '?')}) on data set {dataset_name(info)}, "
        f"created {info.get('created_at', '?')}, git {str(info.get('git_sha', '?'))[:12]}.",
        f"Models: {roles or 'none'}. Methods: {methods}.",
    ]
    return Section("Summary", tuple(facts), warnings=analysis.warnings)


def _paired(analysis: Analysis) -> Section:
    title = "Is the winner better? Paired DeLong tests"
    if analysis.paired.is_empty():
        return Section(title, ("No two methods share at least two scored positives and two negatives.",))
    return Section(title, (
        "Methods of one run face the same suspects, so their AUCs are compared paired: DeLong's test for "
        "correlated ROC curves on the suspects both methods scored (n_pos/n_neg), ΔAUC = AUC A − AUC B with a "
        f"normal 95% CI, p two-sided, Holm-adjusted over the method pairs of each attack; 'better' at p (Holm) "
        f"< {SIGNIFICANCE}. Shown: every pair overall, and per attack only the significant ones (all in "
        "paired.parquet).",), tables=(("", paired_display(analysis.paired)),))


def _calibration(analysis: Analysis) -> Section:
    title = "Calibrated thresholds (deployed-verifier view)"
    if analysis.calibration.is_empty():
        return Section(title, ("No method has scored suspects to calibrate on.",))
    return Section(title, (
        "As a deployed verifier would: each threshold is set on calibration negatives only (whole model families, "
        "split by a hash of each family's root, never one family on both sides), and TPR and FPR are measured on "
        "the positives and the held-out evaluation families, with exact (Clopper–Pearson) 95% intervals; n_cal is "
        "the number of calibration negatives behind each threshold, and below 1/n_cal no lower FPR can be set. "
        "Shown: the 'all' rows (every attack in calibration.parquet).",),
        tables=(("", calibration_display(analysis.calibration)),))


def _budget(analysis: Analysis, figure: Figure) -> Section:
    title = "AUC against the query budget"
    if analysis.budget.is_empty():
        return Section(title, ("No method of this run scores a mean of per-query outcomes, so no budget can be "
                               "recomputed.",))
    return Section(title, (
        "For the methods whose score is a mean of per-query outcomes (the matching rates), the score each suspect "
        "would get from only b of the N fingerprint queries is recomputed from the stored outcomes — no model is "
        f"re-run. The same b queries are asked of every suspect: {REPEATS} seeded draws per budget, nested (a "
        "larger budget adds queries to a smaller one's). Cells: AUC over all attacks, mean ±sd over the draws "
        "(every attack family in budget.parquet, with ARUC and the 2.5–97.5 % range).",),
        tables=(("", budget_display(analysis.budget)),), figures=(figure,))


def _replicates(analysis: Analysis) -> Section:
    title = "Between sources: one benchmark per source replicate"
    sources = analysis.replicates.get_column("replicate").n_unique() if analysis.replicates.height else 1
    if sources < 2:
        return Section(title, ("This run has one source model, so the spread between sources is unknown; "
                               "`[source] replicates = N` builds N independent benchmarks.",))
    spread = replicate_spread(analysis.replicates)
    return Section(title, (
        f"{sources} independently trained sources, each with its own attacked copies, negatives and fingerprints "
        "(no model shared). 'pooled AUC' puts every replicate's suspects in one set, as the tables above do; "
        "'per source' computes the AUC on each replicate alone and gives the mean, standard deviation and range "
        "between sources (per source in replicates.parquet, with every metric).",),
        tables=(("", spread_display(analysis.metrics, spread)),))


def build_sections(analysis: Analysis, figures: dict[str, Figure]) -> list[Section]:
    """The report, top to bottom."""
    metrics = analysis.metrics
    failed = analysis.failures
    by_arch = metrics.filter(pl.col("param") == "arch").height > 0
    return [
        Section(f"Which method wins on {dataset_name(analysis.info)}", tuple(winner_lines(metrics))),
        _summary(analysis),
        Section("Headline: every method against every attack", tables=(("", headline_table(metrics)),)),
        _paired(analysis),
        _calibration(analysis),
        _budget(analysis, figures["budget"]),
        _replicates(analysis),
        Section("Robustness and uniqueness", figures=(figures["ru"],)),
        Section(
            "AUC per attack (SAC-style)",
            ("Rows: attack families, and each value of a swept parameter below its family. "
             "Cells: estimate [95% CI] n_pos/n_neg.",),
            tables=(("ROC-AUC", attack_table(metrics, "auc")), ("ARUC", attack_table(metrics, "aruc"))),
            figures=(figures["auc"],),
        ),
        Section(
            "Extraction attacks by student architecture",
            ("ROC-AUC per student architecture for attacks that vary it (NaturalFinger Fig. 7).",)
            if by_arch else ("No attack in this run varies the student architecture.",),
            tables=(("ROC-AUC by architecture", arch_table(metrics)),) if by_arch else (),
        ),
        Section(
            "Matching-rate margin against mirror negatives",
            () if analysis.margins.height else ("This run has no mirror negatives (negatives.mirror = false).",),
            tables=(("Mean margin", margin_table(analysis.margins)),) if analysis.margins.height else (),
            figures=(figures["margin"],),
        ),
        Section("Method cost", tables=(("", cost_table(analysis.cost)),)),
        Section(
            "Watermarks: hypothesis tests and marking cost",
            (f"Per attack, the positives' p-values under each method's own test; 'negatives' is the "
             f"share of innocent models it would accuse at p < {ALPHA}. Marking cost: each marked "
             "source against the clean source.",) if analysis.tests.height or analysis.marks.height
            else ("No method in this run has a hypothesis test or a marked source.",),
            tables=tuple((name, frame.with_columns(pl.col(pl.Float64).round(4)).cast(pl.String).fill_null("—"))
                         for name, frame in (("Tests", analysis.tests), ("Marked sources", analysis.marks))
                         if frame.height),
        ),
        Section(
            "Failed jobs",
            (f"{failed.height} job(s) failed.",) if failed.height else ("No job failed.",),
            tables=(("", failures_table(failed)),) if failed.height else (),
        ),
        Section("Definitions", DEFINITIONS),
    ]
