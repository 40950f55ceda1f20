"""Figures of experiment ``heads``, drawn from the tables of :mod:`attnlimits.heads.claims`.

Data points are replicate 0 with bootstrap error bars (hollow markers: left out of the fits);
lines are the power-law fits with their bootstrap bands (table ``lines``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.lines import Line2D

from attnlimits import plots
from attnlimits.p1.rates import REFERENCE_SLOPES

DEPTH_KEYS = ("normalisation", "N", "d", "beta")
TOKEN_KEYS = ("normalisation", "d", "beta", "L", "H")
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
#: Tables that :func:`heads_figures` needs.
NEEDED_TABLES = ("points", "lines", "slopes", "local_slopes")

Draw = Callable[[Axes, dict[str, Any]], None]
KEYLESS = ("grid", "mask", "normalisation")


def _value(v: Any) -> Any:
    """Plain scalar for keys read back from tables (ints stay ints)."""
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return int(v)
    return v.item() if hasattr(v, "item") else v


def _combos(frame: pd.DataFrame, keys: tuple[str, ...], sort: bool = True) -> list[dict[str, Any]]:
    """The combinations of ``keys`` in ``frame``, sorted or in order of appearance."""
    if frame.empty:
        return []
    unique = frame[list(keys)].drop_duplicates()
    if sort:
        unique = unique.sort_values(list(keys))
    return [{k: _value(v) for k, v in row.items()} for row in unique.to_dict("records")]


def _title(sel: Mapping[str, Any]) -> str:
    names = {"beta": "β"}
    parts = [str(sel["mask"]), str(sel["normalisation"])]
    parts += [f"{names.get(k, k)}={v:g}" for k, v in sel.items() if k not in KEYLESS]
    return ", ".join(parts)


def _panel_figure(
    points: pd.DataFrame,
    grid: str,
    keys: tuple[str, ...],
    draw: Draw | Sequence[Draw],
    title: str,
    columns: tuple[str, ...] = ("mask",),
    title_of: Callable[[Mapping[str, Any]], str] = _title,
) -> plt.Figure:
    """Panels of the grid ``grid``: one row per combination of ``keys`` (sorted), one column per
    combination of ``columns`` (in order of appearance) and drawing in ``draw``."""
    pts = plots.select(points, grid=grid)
    draws = [draw] if callable(draw) else list(draw)
    cols = [(col, d) for col in _combos(pts, columns, sort=False) for d in draws]
    rows = _combos(pts, keys)
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


def _slope_label(
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


def _series(
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
    label = _slope_label(tables["slopes"], prefix, keys, fixed)
    mask = np.zeros(len(pts), bool)
    for column in hollow:
        mask |= pts[column].astype(bool).to_numpy()
    plots.draw_points(
        ax, pts[swept], pts[quantity], pts[f"{quantity}_low"], pts[f"{quantity}_high"],
        colour, label, mask, marker,
    )  # fmt: skip
    if not line.empty:
        plots.draw_fit(ax, line["x"], line["y"], line["y_low"], line["y_high"], colour)


def _by(
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
            v = _value(v)
            _series(ax, tables, sel, quantity, swept, colours[v], f"{by} = {v}", {by: v}, fit)
        if guides:  # anchored above the largest value at the smallest swept parameter
            first = pts.loc[pts[swept] == pts[swept].min(), quantity].to_numpy(np.float64)
            if np.isfinite(first).any():
                anchor = 1.5 * float(np.nanmax(first))
                plots.reference_slopes(ax, REFERENCE_SLOPES[(quantity, swept)], pts[swept], anchor)
        plots.log_axes(ax, LABELS[swept], LABELS[quantity], ticks=pts[swept])
        ax.legend(fontsize="x-small")

    return draw


def _bias_fluct(tables: Mapping[str, pd.DataFrame]) -> Draw:
    def draw(ax: Axes, sel: dict[str, Any]) -> None:
        pts = plots.select(tables["points"], **sel)
        top = {"H": _value(pts["H"].max())}
        at = plots.select(pts, **top).sort_values("L")
        colours = plots.palette(["bias", "fluct"], "deep")
        _series(
            ax, tables, sel, "bias", "L", colours["bias"], f"bias (H={top['H']})", top,
            hollow=("excluded_solver", "bias_below_snr"),
        )  # fmt: skip
        _series(
            ax, tables, sel, "fluct", "L", colours["fluct"], f"fluct (H={top['H']}, joint fit)",
            top, fit="joint", marker="s",
        )  # fmt: skip
        ax.plot(at["L"], at["noise_floor"], ":", color="0.5", label="noise floor of the bias")
        anchor = 1.5 * float(np.nanmax(at[["bias", "fluct"]].iloc[0]))
        plots.reference_slopes(ax, (-1.0, -0.5, -1.0 / 3.0), at["L"], anchor)
        plots.log_axes(ax, LABELS["L"], "bias, fluctuation", ticks=at["L"])
        ax.legend(fontsize="x-small")

    return draw


def _tokens(tables: Mapping[str, pd.DataFrame]) -> Draw:
    def draw(ax: Axes, sel: dict[str, Any]) -> None:
        colours = plots.palette(["err_inf", "err"], "deep")
        for quantity, marker in (("err_inf", "o"), ("err", "s")):
            _series(ax, tables, sel, quantity, "N", colours[quantity], LABELS[quantity], {},
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


def _local_slopes_figure(
    local: pd.DataFrame,
    keys: tuple[str, ...] = ("mask",),
    title_of: Callable[[Mapping[str, Any]], str] = _joined,
) -> plt.Figure:
    """The panels of ``LOCAL_PANELS``, one row per combination of ``keys``."""
    combos = _combos(local, keys, sort=False)
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
                label = None if g is None else f"{by} = {_value(g)}"
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


def heads_figures(
    tables: Mapping[str, pd.DataFrame], outdir: str | Path, options: Mapping[str, Any]
) -> list[Path]:
    """err_vs_L, err_vs_H, bias_fluct_vs_L, e_inf_vs_N and local_slopes under ``outdir``.

    ``tables`` must hold :data:`NEEDED_TABLES` (as returned by ``heads_claims`` or read back from
    CSV); ``options`` is the config block ``plots``.
    """
    missing = [name for name in NEEDED_TABLES if name not in tables]
    if missing:
        raise KeyError(f"heads_figures needs the tables {missing}")
    plots.set_style(options)
    points = tables["points"]
    figures = {
        "err_vs_L": _panel_figure(
            points, "depth_heads", DEPTH_KEYS, _by(tables, "err", "L", "H"),
            "Error vs depth, one line per number of heads",
        ),
        "err_vs_H": _panel_figure(
            points, "depth_heads", DEPTH_KEYS, _by(tables, "err", "H", "L"),
            "Error vs number of heads, one line per depth",
        ),
        "bias_fluct_vs_L": _panel_figure(
            points, "depth_heads", DEPTH_KEYS, _bias_fluct(tables),
            "Bias of the seed mean and seed-to-seed fluctuation vs depth",
        ),
        "e_inf_vs_N": _panel_figure(
            points, "tokens", TOKEN_KEYS, _tokens(tables), "Errors vs number of tokens",
        ),
        "local_slopes": _local_slopes_figure(tables["local_slopes"]),
    }  # fmt: skip
    return [
        plots.save_figure(fig, plots.figure_path(outdir, name, options), options)
        for name, fig in figures.items()
    ]


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:  # an empty table (no rows, no columns) is written as one line
        return pd.DataFrame()


def read_tables(tabledir: str | Path, names: tuple[str, ...] = NEEDED_TABLES) -> dict[str, Any]:
    """The CSV tables written by ``write_tables``, as DataFrames (empty tables stay empty)."""
    return {name: _read_csv(Path(tabledir) / f"{name}.csv") for name in names}


def trajectories_figure(
    X_discrete: np.ndarray,
    x_limit: np.ndarray,
    t_discrete: np.ndarray,
    t_limit: np.ndarray,
    path: str | Path,
    options: Mapping[str, Any],
    title: str = "",
) -> Path:
    """Token trajectories of one seed and input: discrete X_ℓ (markers, dashed) vs limit x(t).

    ``X_discrete`` (L+1, N, d) at ``t_discrete``; ``x_limit`` (records+1, N, d) at ``t_limit``.
    Panels: the first two coordinates; a 3-D view (d = 3) or the first coordinate vs t (d ≠ 3);
    the per-token deviation |X_ℓⁱ − xⁱ(t_ℓ)| vs t. ``title`` names the cell.
    """
    X = np.asarray(X_discrete, dtype=np.float64)
    x = np.asarray(x_limit, dtype=np.float64)
    td = np.asarray(t_discrete, dtype=np.float64)
    tl = np.asarray(t_limit, dtype=np.float64)
    tokens, dim = X.shape[1], X.shape[2]
    plots.set_style(options)
    cmap = plt.get_cmap("viridis")
    colours = [cmap(i / max(tokens - 1, 1)) for i in range(tokens)]
    fig = plt.figure(figsize=(15, 4.6), constrained_layout=True)
    ax1 = fig.add_subplot(1, 3, 1)
    ax2 = fig.add_subplot(1, 3, 2, projection="3d" if dim == 3 else None)
    ax3 = fig.add_subplot(1, 3, 3)
    for i, c in enumerate(colours):
        ax1.plot(x[:, i, 0], x[:, i, 1], "-", color=c, lw=1.2)
        ax1.plot(X[:, i, 0], X[:, i, 1], "o--", color=c, ms=3, lw=0.7, alpha=0.9)
        if dim == 3:
            ax2.plot(x[:, i, 0], x[:, i, 1], x[:, i, 2], "-", color=c, lw=1.2)
            ax2.plot(X[:, i, 0], X[:, i, 1], X[:, i, 2], "o--", color=c, ms=2, lw=0.7)
        else:
            ax2.plot(tl, x[:, i, 0], "-", color=c, lw=1.2)
            ax2.plot(td, X[:, i, 0], "o--", color=c, ms=3, lw=0.7)
        at = np.stack([np.interp(td, tl, x[:, i, k]) for k in range(dim)], axis=-1)
        ax3.plot(td[1:], np.linalg.norm(X[1:, i] - at[1:], axis=-1), "o-", color=c, ms=3, lw=0.8)
    ax1.plot(X[0, :, 0], X[0, :, 1], "k.", ms=6)
    ax1.set(xlabel="coordinate 1", ylabel="coordinate 2", title="first two coordinates")
    ax1.set_aspect("equal", adjustable="datalim")
    if dim == 3:
        radius = float(np.median(np.linalg.norm(X[0], axis=-1)))
        u, v = np.meshgrid(np.linspace(0, 2 * np.pi, 30), np.linspace(0, np.pi, 15))
        ax2.plot_wireframe(
            radius * np.cos(u) * np.sin(v), radius * np.sin(u) * np.sin(v), radius * np.cos(v),
            color="0.7", lw=0.3, alpha=0.5,
        )  # fmt: skip
        ax2.set(xlabel="x₁", ylabel="x₂", zlabel="x₃", title="3-D view")
        ax2.set_box_aspect((1, 1, 1), zoom=0.85)
    else:
        ax2.set(xlabel="t (depth time)", ylabel="coordinate 1", title="first coordinate vs t")
    ax3.set_yscale("log")
    ax3.set(
        xlabel="t (depth time)", ylabel=r"$|X_\ell^i - x^i(t_\ell)|$", title="per-token deviation"
    )
    proxies = [
        Line2D([], [], color="0.3", lw=1.2, label="limit x(t)"),
        Line2D([], [], color="0.3", ls="--", marker="o", ms=3, lw=0.7, label="discrete X_ℓ"),
    ]
    ax1.legend(handles=proxies, fontsize="x-small", loc="best")
    bar = ScalarMappable(Normalize(1, tokens), cmap)
    fig.colorbar(bar, ax=[ax1, ax2, ax3], label="token index", shrink=0.8, pad=0.01)
    fig.suptitle(title or "Token trajectories: discrete model vs limit")
    return plots.save_figure(fig, path, options)
