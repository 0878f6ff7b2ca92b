"""The report's figures, as matplotlib Figures rendered to PNG bytes.

* ru_figure: robustness/uniqueness curves, one panel per method (one legend for all,
  outside the panels). Each panel shows
  R(τ) and U(τ) of the "all" row in bold with min(R, U) shaded (its area is the ARUC
  in the panel title), and R(τ) of each attack as a thin line. U is not drawn per
  attack: every attack row faces the same negatives, so it equals U of "all".
* auc_figure: AUC per attack family, one bar per method with its DeLong 95 % CI;
  bars of cells with too few suspects are hatched and pale.
* margin_figure: the matching-rate margin against each sweep axis (prune rate, noise
  level, adversarial fraction, student architecture, ...), one panel per (attack,
  parameter), one line (numeric axes) or marker set (categorical axes) per method.

matplotlib is imported inside the functions, not at package import, and figures are
drawn through the Agg canvas directly so the caller's pyplot backend and state are
left alone.
"""

from __future__ import annotations

import io
import math

import numpy as np
import polars as pl

from .metrics import aruc_from_curves
from .params import ALL

PANEL_COLUMNS = 3
ATTACK_COLORS = ("C1", "C2", "C4", "C5", "C6", "C7", "C8", "C9")  # C0/C3 (blue/red) are the bold "all" curves


def _figure(panels: int, width: float = 4.2, height: float = 3.4):
    """A constrained-layout Figure on an Agg canvas with a grid of `panels` axes (extra axes hidden)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n_cols = min(PANEL_COLUMNS, max(panels, 1))
    n_rows = max(math.ceil(panels / n_cols), 1)
    fig = Figure(figsize=(width * n_cols, height * n_rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax in axes[max(panels, 1):]:
        ax.set_axis_off()
    return fig, axes


def _empty(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center")
    ax.set_axis_off()


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def ru_figure(curves: pl.DataFrame):
    """R/U curves (from ru_curves, cells keyed by method and attack) per method."""
    methods = curves.get_column("method").unique().sort().to_list()
    fig, axes = _figure(len(methods))
    if not methods:
        _empty(axes[0], "no scores yet:\nno method has finished")
    arucs = aruc_from_curves(curves.filter(pl.col("attack") == ALL))
    for ax, method in zip(axes, methods):
        _ru_panel(ax, curves.filter(pl.col("method") == method), arucs.filter(pl.col("method") == method))
    _figure_legend(fig, axes[0])
    return fig


def _figure_legend(fig, ax) -> None:
    """One legend for all panels, outside them: cheaper than per-panel "best" placement and hides no curve."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right upper", fontsize="small")


def _ru_panel(ax, curves: pl.DataFrame, aruc: pl.DataFrame) -> None:
    per_attack = curves.filter(pl.col("attack") != ALL).partition_by("attack", maintain_order=True)
    for i, one in enumerate(per_attack):
        color = ATTACK_COLORS[i % len(ATTACK_COLORS)]
        ax.plot(one["threshold"], one["robustness"], lw=0.8, alpha=0.7, color=color, label=f"R {one['attack'][0]}")

    overall = curves.filter(pl.col("attack") == ALL)
    tau = overall["threshold"].to_numpy()
    r = overall["robustness"].to_numpy()
    u = overall["uniqueness"].to_numpy()
    if len(tau):
        ax.plot(tau, r, lw=2.2, color="C0", label="R all")
        ax.plot(tau, u, lw=2.2, color="C3", label="U all")
        # np.minimum keeps NaN (an undefined R or U) instead of skipping it like min_horizontal would.
        ax.fill_between(tau, 0, np.minimum(r, u), color="tab:purple", alpha=0.15, label="min(R, U)")

    value = aruc["aruc"].item() if aruc.height else None
    method = curves["method"][0]
    ax.set_title(f"{method} — ARUC {value:.3f}" if value is not None else f"{method} — ARUC n/a")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("threshold τ")
    ax.set_ylabel("share of suspects")


def auc_figure(metrics: pl.DataFrame):
    """Grouped bars: AUC per attack family (and "all"), one bar per method, with 95 % CI whiskers."""
    rows = metrics.filter(pl.col("param") == ALL)
    attacks = rows.get_column("attack").unique(maintain_order=True).to_list()
    methods = rows.get_column("method").unique().sort().to_list()
    fig, axes = _figure(1, width=max(6.0, 1.1 * len(attacks) * max(len(methods), 1) ** 0.5 + 2), height=3.8)
    ax = axes[0]
    if not methods or rows.get_column("auc").is_null().all():
        _empty(ax, "no AUC to show: no cell has both positives and negatives")
        return fig
    width = 0.8 / len(methods)
    x = np.arange(len(attacks))
    order = pl.DataFrame({"attack": attacks})
    for i, method in enumerate(methods):
        cells = order.join(rows.filter(pl.col("method") == method), on="attack", how="left", maintain_order="left")
        value, lo, hi = (cells[name].cast(pl.Float64).fill_null(np.nan).to_numpy() for name in ("auc", "auc_lo", "auc_hi"))
        centers = x + (i - (len(methods) - 1) / 2) * width
        bars = ax.bar(centers, np.nan_to_num(value), width, color=f"C{i}", label=method)
        for bar, small in zip(bars, cells["too_small"].fill_null(True)):
            if small:
                bar.set_alpha(0.4)
                bar.set_hatch("//")
        whiskers = np.vstack([np.clip(value - lo, 0, None), np.clip(hi - value, 0, None)])
        ax.errorbar(centers, value, yerr=np.nan_to_num(whiskers), fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_xticks(x, attacks, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("ROC-AUC (95 % CI)")
    ax.set_title("AUC per attack (hatched: too few suspects)")
    ax.legend(fontsize="small", ncols=min(len(methods), 4))
    return fig


def margin_figure(margins: pl.DataFrame):
    """Matching-rate margin vs each sweep axis, one panel per (attack, param)."""
    swept = margins.filter(pl.col("param") != ALL)
    panels = swept.select("attack", "param").unique(maintain_order=True).rows()
    fig, axes = _figure(len(panels))
    if not panels:
        _empty(axes[0], "no mirror pairs with a swept parameter:\nthe run has no mirror negatives")
        return fig
    methods = swept.get_column("method").unique().sort().to_list()
    for ax, (attack, param) in zip(axes, panels):
        panel = swept.filter(pl.col("attack") == attack, pl.col("param") == param)
        values = panel.get_column("value").unique(maintain_order=True).to_list()
        numeric = panel.get_column("value").cast(pl.Float64, strict=False).null_count() == 0
        for i, method in enumerate(methods):
            one = panel.filter(pl.col("method") == method)
            margin = one.get_column("margin").to_numpy()
            if numeric:
                ax.plot(one.get_column("value").cast(pl.Float64).to_numpy(), margin, "o-", color=f"C{i}", label=method)
            else:
                positions = [values.index(v) + (i - (len(methods) - 1) / 2) * 0.8 / len(methods) for v in one["value"]]
                ax.plot(positions, margin, "o", color=f"C{i}", label=method)
        if not numeric:
            ax.set_xticks(range(len(values)), values, rotation=30, ha="right")
        ax.axhline(0, color="grey", lw=0.8, ls="--")
        ax.set_ylim(-1.05, 1.05)
        ax.set_xlabel(param)
        ax.set_ylabel("score(positive) − score(mirror)")
        ax.set_title(f"{attack}: margin vs {param}")
    _figure_legend(fig, axes[0])
    return fig


def budget_figure(budget: pl.DataFrame):
    """AUC of the "all" row against the number of queries, one line per per-query method, with
    the 2.5–97.5 % band over the repeated query subsets."""
    overall = budget.filter(pl.col("attack") == ALL).sort("method", "queries")
    fig, axes = _figure(1, width=6.0, height=3.8)
    ax = axes[0]
    if overall.is_empty():
        _empty(ax, "no method of this run stores per-query outcomes")
        return fig
    for i, (method,) in enumerate(overall.select("method").unique(maintain_order=True).iter_rows()):
        one = overall.filter(pl.col("method") == method)
        queries = one.get_column("queries").to_numpy()
        value, lo, hi = (one[name].cast(pl.Float64).fill_null(np.nan).to_numpy() for name in ("auc", "auc_lo", "auc_hi"))
        ax.plot(queries, value, "o-", color=f"C{i}", label=method)
        ax.fill_between(queries, lo, hi, color=f"C{i}", alpha=0.15)
    ax.set_xscale("log")
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("fingerprint queries per suspect (log scale)")
    ax.set_ylabel("ROC-AUC, all attacks")
    ax.set_title("AUC against the query budget")
    ax.legend(fontsize="small", ncols=min(overall["method"].n_unique(), 3))
    return fig
