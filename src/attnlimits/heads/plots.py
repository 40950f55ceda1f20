"""Figures of experiment ``heads``, drawn from the tables of :mod:`attnlimits.heads.claims`.

Data points are replicate 0 with bootstrap error bars (hollow markers: left out of the fits);
lines are the power-law fits with their bootstrap bands (table ``lines``). The panels of the
depth × heads and tokens grids are those of :mod:`attnlimits.p1.plots`, shared with ``adamw``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.lines import Line2D

from attnlimits import plots
from attnlimits.p1.plots import (
    Draw,
    draw_bias_fluct,
    draw_by,
    draw_series,
    draw_tokens,
    local_slopes_figure,
    panel_figure,
)

DEPTH_KEYS = ("normalisation", "N", "d", "beta")
TOKEN_KEYS = ("normalisation", "d", "beta", "L", "H")
#: Tables that :func:`heads_figures` needs.
NEEDED_TABLES = ("points", "lines", "slopes", "local_slopes")
#: The tables of the worst-case-input search (``heads.adversarial_tables``) that its figure
#: reads, under the names :func:`attnlimits.p1.plots.draw_series` reads them by.
ADVERSARIAL_TABLES = {
    "points": "adversarial",
    "lines": "adversarial_lines",
    "slopes": "adversarial_slopes",
}


def heads_figures(
    tables: Mapping[str, pd.DataFrame], outdir: str | Path, options: Mapping[str, Any]
) -> list[Path]:
    """err_vs_L, err_vs_H, bias_fluct_vs_L, e_inf_vs_N and local_slopes under ``outdir``, and
    adversarial when ``tables`` has the search's tables.

    ``tables`` must hold :data:`NEEDED_TABLES` (as returned by ``heads_claims`` or read back from
    CSV); ``options`` is the config block ``plots``.
    """
    missing = [name for name in NEEDED_TABLES if name not in tables]
    if missing:
        raise KeyError(f"heads_figures needs the tables {missing}")
    plots.set_style(options)
    points = tables["points"]
    figures = {
        "err_vs_L": panel_figure(
            points, "depth_heads", DEPTH_KEYS, draw_by(tables, "err", "L", "H"),
            "Error vs depth, one line per number of heads",
        ),
        "err_vs_H": panel_figure(
            points, "depth_heads", DEPTH_KEYS, draw_by(tables, "err", "H", "L"),
            "Error vs number of heads, one line per depth",
        ),
        "bias_fluct_vs_L": panel_figure(
            points, "depth_heads", DEPTH_KEYS, draw_bias_fluct(tables),
            "Bias of the seed mean and seed-to-seed fluctuation vs depth",
        ),
        "e_inf_vs_N": panel_figure(
            points, "tokens", TOKEN_KEYS, draw_tokens(tables), "Errors vs number of tokens",
        ),
        "local_slopes": local_slopes_figure(tables["local_slopes"]),
    }  # fmt: skip
    if "adversarial" in tables:  # the worst-case-input search ran (heads.adversarial.enabled)
        figures["adversarial"] = adversarial_figure(tables)
    return [
        plots.save_figure(fig, plots.figure_path(outdir, name, options), options)
        for name, fig in figures.items()
    ]


def _draw_adversarial(tables: Mapping[str, pd.DataFrame], quantities: tuple[str, ...]) -> Draw:
    """Draw ``quantities`` vs L, one colour per H, with their fits (markers: o, s)."""

    def draw(ax: Any, sel: dict[str, Any]) -> None:
        values = sorted(plots.select(tables["points"], **sel)["H"].dropna().unique())
        colours = plots.palette(values)
        for h in map(plots.plain_value, values):
            for quantity, marker in zip(quantities, "os", strict=False):
                name = quantity.removeprefix("err_")
                draw_series(ax, tables, sel, quantity, "L", colours[h], f"{name}, H = {h}",
                            {"H": h}, marker=marker)  # fmt: skip
        pts = plots.select(tables["points"], **sel)
        label = "error E (o adversarial, s random)" if len(quantities) > 1 else "E_adv / E_random"
        plots.log_axes(ax, "L (depth)", label, ticks=pts["L"])
        ax.legend(fontsize="xx-small")

    return draw


def _draw_gain(tables: Mapping[str, pd.DataFrame]) -> Draw:
    """Draw the convergence check: the gain of the whole search over the half search vs L, one
    colour per H, and the tolerance."""

    def draw(ax: Any, sel: dict[str, Any]) -> None:
        pts = plots.select(tables["points"], **sel)
        values = sorted(pts["H"].dropna().unique())
        colours = plots.palette(values)
        for h in map(plots.plain_value, values):
            at = plots.select(pts, H=h).sort_values("L")
            ax.plot(at["L"], at["gain"], "o-", color=colours[h], ms=4, lw=0.8, label=f"H = {h}")
        tolerance = float(pts["tolerance"].iloc[0])
        ax.axhline(tolerance, color="0.3", ls="--", lw=1, label=f"tolerance {tolerance:g}")
        plots.log_axes(ax, "L (depth)", "relative gain of the whole search", logy=False,
                       ticks=pts["L"])  # fmt: skip
        ax.legend(fontsize="xx-small")

    return draw


def adversarial_figure(tables: Mapping[str, pd.DataFrame]) -> plt.Figure:
    """The worst-case-input search, one row per (normalisation, N, d, β, mask), three panels:
    the adversarial and random-input errors vs L, their ratio vs L, the convergence check."""
    if "adversarial" not in tables or tables["adversarial"].empty:
        return plots.empty_figure("no worst-case-input search (heads.adversarial)")
    found = {name: tables[table] for name, table in ADVERSARIAL_TABLES.items()}
    draws = [
        _draw_adversarial(found, ("err_adv", "err_random")),
        _draw_adversarial(found, ("ratio",)),
        _draw_gain(found),
    ]
    return panel_figure(
        found["points"], "depth_heads", (*DEPTH_KEYS, "mask"), draws,
        "Worst-case inputs: adversarial vs random-input error, their ratio, convergence",
        columns=("normalisation",),
    )  # fmt: skip


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
