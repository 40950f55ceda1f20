"""Figures of P1's depth × heads and tokens grids, shared by experiments ``heads`` and ``adamw``:
panels of the tables of :func:`attnlimits.p1.rates.claims_tables` (``points``, ``lines``,
``slopes``, ``local_slopes``).

Data points are replicate 0 with bootstrap error bars (hollow markers: left out of the fits);
lines are the power-law fits with their bootstrap bands (table ``lines``). A :data:`Draw` draws
one panel given its selection (the key columns of its rows); :func:`panel_figure` lays such
panels out over a grid's combinations of keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from attnlimits import plots
from attnlimits.p1.rates import REFERENCE_SLOPES

#: Axis labels of the quantities and of the swept parameters.
LABELS = {
    "err": "error E",
    "err_inf": "max-token error",
    "bias": "bias (seed mean)",
    "fluct": "fluctuation",
    "noise_floor": "noise floor",
    "L": "L (depth)",
    "H": "H (heads)",
    "N": "N (tokens)",
}
#: Draws one panel, given the key columns of its rows (its selection).
Draw = Callable[[Axes, dict[str, Any]], None]
#: Keys that :func:`panel_title` names by their value alone.
KEYLESS = ("grid", "mask", "normalisation")


def panel_title(sel: Mapping[str, Any]) -> str:
    """``causal, sphere, N=6, d=3, β=1``: a panel's mask, normalisation and other keys."""
    names = {"beta": "β"}
    parts = [str(sel["mask"]), str(sel["normalisation"])]
    parts += [f"{names.get(k, k)}={v:g}" for k, v in sel.items() if k not in KEYLESS]
    return ", ".join(parts)


def panel_figure(
    points: pd.DataFrame,
    grid: str,
    keys: tuple[str, ...],
    draw: Draw | Sequence[Draw],
    title: str,
    columns: tuple[str, ...] = ("mask",),
    title_of: Callable[[Mapping[str, Any]], str] = panel_title,
) -> plt.Figure:
    """Panels of the grid ``grid``: one row per combination of ``keys`` (sorted), one column per
    combination of ``columns`` (in order of appearance) and drawing in ``draw``."""
    pts = plots.select(points, grid=grid)
    draws = [draw] if callable(draw) else list(draw)
    cols = [(col, d) for col in plots.combos(pts, columns, sort=False) for d in draws]
    rows = plots.combos(pts, keys)
    if not rows or not cols:
        return plots.empty_figure(f"no {grid} grid in the data")
    fig, axes = plots.panels(len(rows), len(cols))
    for i, row in enumerate(rows):
        for j, (col, fn) in enumerate(cols):
            sel = {"grid": grid, **col, **row}
            fn(axes[i, j], sel)
            axes[i, j].set_title(title_of(sel))
    fig.suptitle(title)
    return fig


def slope_label(
    slopes: pd.DataFrame, prefix: str, keys: Mapping[str, Any], fixed: Mapping[str, Any]
) -> str:
    """``prefix: slope s [lo, hi]`` from the fit's row (a joint fit's row has no fixed keys)."""
    row = plots.select(slopes, **keys, **fixed)
    if row.empty:
        row = plots.select(slopes, **keys)
    if row.empty or not np.isfinite(row["slope"].iloc[0]):
        return prefix
    s, lo, hi = row[["slope", "ci_low", "ci_high"]].iloc[0]
    return f"{prefix}: slope {s:.2f} [{lo:.2f}, {hi:.2f}]"


def draw_series(
    ax: Axes,
    tables: Mapping[str, pd.DataFrame],
    sel: Mapping[str, Any],
    quantity: str,
    swept: str,
    colour: Any,
    prefix: str,
    fixed: Mapping[str, Any],
    fit: str = "power_law",
    hollow: tuple[str, ...] = ("excluded_solver",),
    marker: str = "o",
) -> None:
    """One quantity against one swept parameter: points, fitted line and band, slope label."""
    pts = plots.select(tables["points"], **sel, **fixed).sort_values(swept)
    if pts.empty:
        return
    keys = {**sel, "quantity": quantity, "swept": swept, "fit": fit}
    line = plots.select(tables["lines"], **keys, **fixed).sort_values("x")
    label = slope_label(tables["slopes"], prefix, keys, fixed)
    mask = np.zeros(len(pts), bool)
    for column in hollow:
        mask |= pts[column].astype(bool).to_numpy()
    plots.draw_points(
        ax, pts[swept], pts[quantity], pts[f"{quantity}_low"], pts[f"{quantity}_high"],
        colour, label, mask, marker,
    )  # fmt: skip
    if not line.empty:
        plots.draw_fit(ax, line["x"], line["y"], line["y_low"], line["y_high"], colour)


def draw_by(
    tables: Mapping[str, pd.DataFrame],
    quantity: str,
    swept: str,
    by: str,
    fit: str = "power_law",
    guides: bool = False,
) -> Draw:
    """Draw ``quantity`` vs ``swept``, one colour per value of ``by``, with the fits ``fit``;
    ``guides``: also the reference slopes of ``REFERENCE_SLOPES``."""

    def draw(ax: Axes, sel: dict[str, Any]) -> None:
        pts = plots.select(tables["points"], **sel)
        values = sorted(pts[by].dropna().unique())
        colours = plots.palette(values)
        for v in values:
            v = plots.plain_value(v)
            draw_series(ax, tables, sel, quantity, swept, colours[v], f"{by} = {v}", {by: v}, fit)
        if guides:  # anchored above the largest value at the smallest swept parameter
            first = pts.loc[pts[swept] == pts[swept].min(), quantity].to_numpy(np.float64)
            if np.isfinite(first).any():
                anchor = 1.5 * float(np.nanmax(first))
                plots.reference_slopes(ax, REFERENCE_SLOPES[(quantity, swept)], pts[swept], anchor)
        plots.log_axes(ax, LABELS[swept], LABELS[quantity], ticks=pts[swept])
        ax.legend(fontsize="x-small")

    return draw


def draw_bias_fluct(tables: Mapping[str, pd.DataFrame]) -> Draw:
    """Draw the bias and the fluctuation vs L at the largest H, the noise floor of the bias and
    the reference slopes −1, −1/2, −1/3."""

    def draw(ax: Axes, sel: dict[str, Any]) -> None:
        pts = plots.select(tables["points"], **sel)
        top = {"H": plots.plain_value(pts["H"].max())}
        at = plots.select(pts, **top).sort_values("L")
        colours = plots.palette(["bias", "fluct"], "deep")
        draw_series(
            ax, tables, sel, "bias", "L", colours["bias"], f"bias (H={top['H']})", top,
            hollow=("excluded_solver", "bias_below_snr"),
        )  # fmt: skip
        draw_series(
            ax, tables, sel, "fluct", "L", colours["fluct"], f"fluct (H={top['H']}, joint fit)",
            top, fit="joint", marker="s",
        )  # fmt: skip
        ax.plot(at["L"], at["noise_floor"], ":", color="0.5", label="noise floor of the bias")
        anchor = 1.5 * float(np.nanmax(at[["bias", "fluct"]].iloc[0]))
        plots.reference_slopes(ax, (-1.0, -0.5, -1.0 / 3.0), at["L"], anchor)
        plots.log_axes(ax, LABELS["L"], "bias, fluctuation", ticks=at["L"])
        ax.legend(fontsize="x-small")

    return draw


def draw_tokens(tables: Mapping[str, pd.DataFrame]) -> Draw:
    """Draw the max-token error e_∞ and the error E vs N, with their fits."""

    def draw(ax: Axes, sel: dict[str, Any]) -> None:
        colours = plots.palette(["err_inf", "err"], "deep")
        for quantity, marker in (("err_inf", "o"), ("err", "s")):
            draw_series(ax, tables, sel, quantity, "N", colours[quantity], LABELS[quantity], {},
                        marker=marker)  # fmt: skip
        plots.log_axes(ax, LABELS["N"], "error", ticks=plots.select(tables["points"], **sel)["N"])
        ax.legend(fontsize="x-small")

    return draw


#: Panels of the local-slopes figure: (quantity, swept, colour-by, grid).
LOCAL_PANELS = (
    ("err", "L", "H", "depth_heads"),
    ("bias", "L", None, "depth_heads"),
    ("fluct", "H", "L", "depth_heads"),
    ("err_inf", "N", None, "tokens"),
)


def _joined(row: Mapping[str, Any]) -> str:
    return ", ".join(str(v) for v in row.values())


def local_slopes_figure(
    local: pd.DataFrame,
    keys: tuple[str, ...] = ("mask",),
    title_of: Callable[[Mapping[str, Any]], str] = _joined,
) -> plt.Figure:
    """The panels of ``LOCAL_PANELS``, one row per combination of ``keys``."""
    combos = plots.combos(local, keys, sort=False)
    if not combos:
        return plots.empty_figure("no local slopes")
    fig, axes = plots.panels(len(combos), len(LOCAL_PANELS), width=3.6)
    for i, combo in enumerate(combos):
        for j, (quantity, swept, by, grid) in enumerate(LOCAL_PANELS):
            ax = axes[i, j]
            rows = plots.select(local, **combo, grid=grid, quantity=quantity, swept=swept)
            if rows.empty:  # e.g. no tokens grid: nothing to put on log axes
                ax.text(0.5, 0.5, f"no {grid} grid", ha="center", va="center", color="0.4")
                ax.set_axis_off()
                continue
            groups = sorted(rows[by].dropna().unique()) if by else [None]
            colours = plots.palette(groups)
            for g in groups:
                part = rows if g is None else plots.select(rows, **{by: g})
                label = None if g is None else f"{by} = {plots.plain_value(g)}"
                plots.draw_points(
                    ax, part["x_high"], part["slope"], part["ci_low"], part["ci_high"],
                    colours[g], label,
                )  # fmt: skip
                ax.plot(part["x_high"], part["slope"], "-", color=colours[g], lw=0.8)
            for k, ref in enumerate(REFERENCE_SLOPES[(quantity, swept)]):
                ax.axhline(ref, color="0.3", ls=("--", ":")[k % 2], lw=1,
                           label=f"{plots.format_exponent(ref)}")  # fmt: skip
            plots.log_axes(
                ax, f"{LABELS[swept]}, larger of the pair", "local slope", logy=False,
                title=f"{title_of(combo)}: {LABELS[quantity]} vs {swept}", ticks=rows["x_high"],
            )  # fmt: skip
            ax.legend(fontsize="xx-small")
    fig.suptitle("Local slopes d log y / d log x between neighbouring grid points")
    return fig
