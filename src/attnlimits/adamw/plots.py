"""Figures of experiment ``adamw`` (docs/mathematics.md, ``adamw``), from the tables of
``adamw.claims``.

Tracked variables: the states X_ℓ against x(t_ℓ), the backpropagated variables P_ℓ against p(t_ℓ)
and the parameters θ_ℓh^k against θ_r^k(t_ℓ); ``max over k ≤ K`` is the theorem's quantity (the
worst training step), ``after step K`` the last step. Data points are replicate 0 with bootstrap
error bars, hollow where left out of the fits (limit solver too coarse; bias below its noise
floor); lines are the fits of table ``lines`` with their bootstrap bands. The depth × heads and
tokens panels are drawn by the functions of ``p1.plots``, as those of ``heads``. Figures
(:data:`FIGURES`):

- ``depth_heads``: error E vs L (one line per H) and vs H (one line per L), with reference slopes
  −1, −1/3 (L) and −1/2 (H); rows X, P × worst, last step; two columns per AdamW variant.
- ``bias_fluct``: bias of the seed mean and fluctuation vs L at the largest H (with the noise floor
  of the bias), and fluctuation vs H per L with the joint fit; predicted slopes −1, −1/2, −1/3.
- ``steps``: error of X, P and θ after each training step k with interval bands, on the depth ×
  heads grid at the largest H (one line per L) and at the largest L (one line per H); last column
  the training loss J, discrete (mean over seeds) and of the limit (dashed).
- ``tokens``: max-token error e_∞ and error E vs N, with their fits.
- ``dims``: the studies' worst-step error of X, P and θ vs d (pooled over task and head seeds,
  hierarchical bootstrap intervals), one column per learning-rate scaling, standard and block-wise
  AdamW in the same panel, each task seed alone as a thin line; the fitted exponent with its
  interval and the status of its claim (``err_d`` for X and P, ``theta_d`` for θ) in the legend;
  the limit's own error (by halving its step) dashed, hollow markers within ``solver_margin`` of
  it (left out of the fits).
- ``study_steps``: the studies' error of X, P and θ after each training step k (one line per L
  at the largest H of each study with several L), the worst step k* circled (table
  ``peak_steps``): where it is after k = 0, the worst-step claims of P are about training.
- ``eps``: worst-step error of X, P and θ vs Adam's ε, both variants; hollow where the limit is not
  accurate enough (error below solver_margin × its own error), its own error dashed: as ε → 0 the
  standard update tends to sign(g) and the limit stops converging.
- ``local_slopes``: slopes between neighbouring grid points (worst step), one row per variant and
  variable: where the asymptotic regime starts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from attnlimits import plots
from attnlimits.adamw.grid import NEEDED_TABLES
from attnlimits.p1 import plots as p1_plots

#: Readable values of the key columns, in the order they are drawn.
WORDS: dict[str, dict[str, str]] = {
    "variable": {"x": "states X", "p": "backprop. P", "theta": "parameters θ"},
    "selection": {"worst": "max over k ≤ K", "last": "after step K"},
    "variant": {"standard": "standard AdamW", "blockwise": "block-wise AdamW"},
}
SYMBOLS = {"beta": "β", "eps": "ε"}
TRACKED = tuple(WORDS["variable"])
VARIANT_COLOURS = {"standard": "C0", "blockwise": "C3"}
#: Keys of a depth × heads grid, of its rows of panels, of a tokens line, a d line, an ε line.
DEPTH_KEYS = ("variant", "eps", "N", "d", "beta")
DEPTH_ROWS = ("variable", "selection", *DEPTH_KEYS[1:])
TOKEN_ROWS = ("variable", "eps", "d", "beta", "L", "H")
DIMS_KEYS = ("study", "eps", "N", "beta", "L", "H")
SCALING_WORDS = {"fixed": "fixed η", "inverse_sqrt": "η ∝ (d/d₀)^(−1/2)"}
EPS_KEYS = ("N", "d", "beta", "L", "H")
Tables = Mapping[str, pd.DataFrame]
#: Draws one variant's rows of a d or ε line: (axes, rows, variable, line) → their x values.
LineDraw = Callable[[Axes, pd.DataFrame, str, dict[str, Any]], pd.Series]


def _text(key: str, value: Any) -> str:
    """``states X``, ``ε=1e-08``: a key's value in a title."""
    if key in WORDS:
        return WORDS[key].get(value, str(value))
    return f"{SYMBOLS.get(key, key)}={value:g}"


def _rows(frame: pd.DataFrame, **keys: Any) -> pd.DataFrame:
    """``plots.select``, also on a table read back empty (no columns)."""
    return frame if frame.empty else plots.select(frame, **keys)


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the columns of :data:`WORDS` as ordered categoricals (their order in WORDS,
    unknown values after), rows sorted by them: panels and colours follow that order."""
    keys = [key for key in WORDS if key in frame]
    out = frame.copy()
    for key in keys:
        present = set(out[key].dropna())
        order = [v for v in WORDS[key] if v in present] + sorted(present - set(WORDS[key]))
        out[key] = pd.Categorical(out[key], categories=order, ordered=True)
    return out.sort_values(keys, kind="stable") if keys else out


def _titles(frame: pd.DataFrame, keys: tuple[str, ...]) -> tuple[Callable[..., str], str]:
    """A panel title naming the keys of WORDS and those that vary in ``frame``; the others' text."""
    varying = [k for k in keys if k in WORDS or frame[k].nunique() > 1]
    fixed = ", ".join(
        _text(k, plots.plain_value(frame[k].iloc[0])) for k in keys if k not in varying
    )

    def title_of(sel: Mapping[str, Any]) -> str:
        return ", ".join(_text(k, sel[k]) for k in varying)

    return title_of, fixed


def _grid_figure(
    tables: Tables,
    grid: str,
    keys: tuple[str, ...],
    columns: tuple[str, ...],
    draws: list[p1_plots.Draw],
    title: str,
) -> Figure:
    """P1's panels of the grid ``grid``: rows ``keys``, columns ``columns`` × ``draws``."""
    pts = _ordered(_rows(tables["points"], grid=grid))
    if pts.empty:
        return plots.empty_figure(f"no {grid} grid in the data")
    title_of, fixed = _titles(pts, (*columns, *keys))
    fig = p1_plots.panel_figure(pts, grid, keys, draws, f"{title} ({fixed})", columns, title_of)
    return _legends_below(fig)


def _legends_below(fig: Figure) -> Figure:
    """Move each panel's legend below its x label, off the data (two columns beyond four entries;
    the figure grows to keep the panels' height)."""
    width, height = fig.get_size_inches()
    fig.set_size_inches(width, 1.3 * height)
    for ax in fig.axes:
        if (legend := ax.get_legend()) is not None:
            ncols = 1 if len(legend.get_texts()) <= 4 else 2
            ax.legend(
                fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=ncols
            )
    return fig


def _positive(values: pd.Series) -> np.ndarray:
    """Values as floats, zeros (θ before the first step) as NaN for log axes."""
    out = values.to_numpy(dtype=np.float64)
    return np.where(out > 0, out, np.nan)


def _steps_figure(tables: Tables) -> Figure:
    """Error of X, P, θ and the loss J vs step k: per depth × heads grid, one row at its largest H
    (one line per L), one at its largest L (one line per H)."""
    grid = _ordered(_rows(tables["points"], grid="depth_heads"))
    steps = tables["steps"]
    if grid.empty or steps.empty:
        return plots.empty_figure("no depth_heads grid in the data")
    title_of, fixed_keys = _titles(grid, DEPTH_KEYS)
    lines = plots.combos(grid, DEPTH_KEYS)
    rows = [(line, at, plots.select(grid, **line)) for line in lines for at in ("H", "L")]
    fig, axes = plots.panels(len(rows), len(TRACKED) + 1, width=3.8)
    for i, (line, at, cells) in enumerate(rows):
        fixed = {at: plots.plain_value(cells[at].max())}
        by = "L" if at == "H" else "H"
        data = plots.select(steps, **line, **fixed)
        values = sorted(data[by].unique())
        colours = plots.palette(values)
        where = f"{title_of(line)}, {at}={fixed[at]}"
        for v in values:
            part = plots.select(data, **{by: v}).sort_values("step")
            k, label = part["step"], f"{by} = {plots.plain_value(v)}"
            for j, var in enumerate(TRACKED):
                y, lo, hi = (_positive(part[f"{var}_err{s}"]) for s in ("", "_low", "_high"))
                plots.draw_fit(axes[i, j], k, y, lo, hi, colours[v], label, "o-")
            axes[i, -1].plot(k, part["loss"], "o-", color=colours[v], ms=3, label=label)
        first = plots.select(data, **{by: values[0]}).sort_values("step") if values else data
        axes[i, -1].plot(first["step"], first["loss_limit"], "k--", lw=1.3, label="limit")
        for j, name in enumerate((*TRACKED, "loss")):
            ylabel = "loss J" if name == "loss" else "error after step k"
            what = "training loss J" if name == "loss" else WORDS["variable"][name]
            axes[i, j].set(
                yscale="log", xlabel="training step k", ylabel=ylabel, title=f"{what}: {where}"
            )
            axes[i, j].xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[i, -1].legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle(f"Error vs training step k (bands: bootstrap intervals), loss ({fixed_keys})")
    return fig


def _line_figure(
    frame: pd.DataFrame,
    keys: tuple[str, ...],
    draw: LineDraw,
    xlabel: str,
    title: str,
) -> Figure:
    """One row per line (combination of ``keys``), one column per tracked variable, one colour per
    variant: ``draw(ax, rows, variable, line)`` draws a variant's rows, returns their x values."""
    if frame.empty:
        return plots.empty_figure(f"no {xlabel} line in the data")
    frame = _ordered(frame)
    title_of, fixed = _titles(frame, keys)
    lines = plots.combos(frame, keys)
    fig, axes = plots.panels(len(lines), len(TRACKED))
    for i, line in enumerate(lines):
        for j, var in enumerate(TRACKED):
            ax, xs = axes[i, j], []
            rows = plots.select(frame, **line, variable=var)
            for variant in dict.fromkeys(rows["variant"]):
                xs += list(draw(ax, plots.select(rows, variant=variant), var, line))
            head = ", ".join(t for t in (WORDS["variable"][var], title_of(line)) if t)
            plots.log_axes(ax, xlabel, "error, max over k ≤ K", title=head, ticks=xs)
            ax.legend(fontsize="x-small")
    fig.suptitle(f"{title} ({fixed})")
    return _legends_below(fig)


def _own(ax: Axes, x: pd.Series, own: pd.Series, variant: str) -> None:
    colour = VARIANT_COLOURS.get(variant, "0.3")
    ax.plot(x, own, "--", color=colour, lw=1, label=f"limit's own error ({variant})")


def _dims_panel(ax: Axes, tables: Tables, line: dict[str, Any], var: str) -> list[float]:
    """A d line of a study: both variants, pooled errors with intervals, each task seed thin."""
    xs: list[float] = []
    fits = plots.select(tables["dims"], **line, variable=var)
    for variant in dict.fromkeys(_ordered(fits)["variant"]):
        fit = plots.select(fits, variant=variant)
        pts = plots.select(tables["study_cells"], **line, variant=variant).sort_values("d")
        colour = VARIANT_COLOURS.get(variant, "0.3")
        label = p1_plots.slope_label(fit, _text("variant", variant), {}, {})
        if isinstance(fit["status"].iloc[0], str) and fit["status"].iloc[0]:
            label += f" ({fit['status'].iloc[0]})"
        y = pts[f"{var}_worst"]
        lo, hi = pts[f"{var}_worst_low"], pts[f"{var}_worst_high"]
        hollow = pts[f"{var}_excluded"].astype(bool).to_numpy()
        plots.draw_points(ax, pts["d"], y, lo, hi, colour, label, hollow)
        ax.plot(pts["d"], y, "-", color=colour, lw=1.2)
        tasks = plots.select(tables["study_tasks"], **line, variant=variant)
        for task in sorted(tasks["task_seed"].unique()):
            one = plots.select(tasks, task_seed=task).sort_values("d")
            ax.plot(one["d"], one[f"{var}_worst"], "-", color=colour, lw=0.6, alpha=0.45)
        _own(ax, pts["d"], pts[f"limit_error_{var}"], variant)
        xs += list(pts["d"])
    return xs


def _dims_figure(tables: Tables) -> Figure:
    """Rows: X, P, θ; columns: the d lines of the studies (one per learning-rate scaling)."""
    slopes = tables["dims"]
    if slopes.empty:
        return plots.empty_figure("no study with several d in the data")
    lines = plots.combos(slopes, ("lr_scaling", *DIMS_KEYS))
    fig, axes = plots.panels(len(TRACKED), len(lines))
    for j, line in enumerate(lines):
        fixed = ", ".join(_text(k, line[k]) for k in DIMS_KEYS[1:])
        head = f"{line['study']}: {SCALING_WORDS.get(line['lr_scaling'], line['lr_scaling'])}"
        for i, var in enumerate(TRACKED):
            xs = _dims_panel(axes[i, j], tables, line, var)
            title = f"{WORDS['variable'][var]}, {head}\n({fixed})"
            plots.log_axes(axes[i, j], "d (dimension)", "error, max over k ≤ K", title, ticks=xs)
            axes[i, j].legend(fontsize="x-small")
    fig.suptitle(
        "Worst-step error vs d, pooled over task seeds (thin: each task seed; bars: bootstrap "
        "over task and head seeds; dashed: limit's own error)"
    )
    return _legends_below(fig)


def _study_steps_figure(tables: Tables) -> Figure:
    """Error vs step k of the studies with several L, at their largest H, one line per L; the
    worst step of each line circled."""
    steps, peaks = tables["study_steps"], tables["peak_steps"]
    keys = ("study", "lr_scaling", "variant", "eps", "N", "d", "beta")
    deep = [
        line for line in plots.combos(steps, keys) if plots.select(steps, **line)["L"].nunique() > 1
    ]
    if not deep:
        return plots.empty_figure("no study with several depths L in the data")
    fig, axes = plots.panels(len(deep), len(TRACKED), width=3.8)
    for i, line in enumerate(deep):
        data = plots.select(steps, **line)
        top = plots.plain_value(data["H"].max())
        data = plots.select(data, H=top)
        depths = sorted(data["L"].unique())
        colours = plots.palette(depths)
        for depth in depths:
            part = plots.select(data, L=depth).sort_values("step")
            for j, var in enumerate(TRACKED):
                y, lo, hi = (_positive(part[f"{var}_err{s}"]) for s in ("", "_low", "_high"))
                label = f"L = {plots.plain_value(depth)}"
                plots.draw_fit(axes[i, j], part["step"], y, lo, hi, colours[depth], label, "o-")
                peak = plots.select(peaks, **line, L=depth, H=top, variable=var)
                if not peak.empty:
                    k = int(peak["worst_step"].iloc[0])
                    at = part[part["step"] == k]
                    axes[i, j].plot(
                        at["step"], at[f"{var}_err"], "o", ms=11, mfc="none",
                        mec=colours[depth], mew=1.5,
                    )  # fmt: skip
        where = ", ".join(_text(k, line[k]) for k in ("variant", "N", "d")) + f", H={top}"
        for j, var in enumerate(TRACKED):
            axes[i, j].set(
                yscale="log", xlabel="training step k", ylabel="error after step k",
                title=f"{line['study']}: {WORDS['variable'][var]}\n{where}",
            )  # fmt: skip
            axes[i, j].xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[i, -1].legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle("Studies: error vs training step k (circled: the worst step k*)")
    return fig


def _eps(ax: Axes, rows: pd.DataFrame, var: str, line: dict[str, Any]) -> pd.Series:
    """A variant's ε line, hollow where the limit is not accurate enough."""
    rows = rows.sort_values("eps")
    variant = str(rows["variant"].iloc[0])
    colour = VARIANT_COLOURS.get(variant, "0.3")
    inaccurate = ~rows["limit_accurate"].astype(bool).to_numpy()
    x, y, lo, hi = (rows[c] for c in ("eps", "err", "err_low", "err_high"))
    plots.draw_points(ax, x, y, lo, hi, colour, _text("variant", variant), inaccurate)
    ax.plot(rows["eps"], rows["err"], "-", color=colour, lw=0.8)
    _own(ax, rows["eps"], rows["limit_error"], variant)
    return rows["eps"]


def _row_title(row: Mapping[str, Any]) -> str:
    return ", ".join(_text(k, v) for k, v in row.items())


def adamw_figures(tables: Tables, options: Mapping[str, Any]) -> dict[str, Figure]:
    """The figures of the module docstring, by name (:data:`FIGURES`); a grid missing from the
    tables gives a figure saying so. ``tables`` must hold :data:`NEEDED_TABLES` (as returned by
    ``adamw_claims`` or read back from CSV); ``options`` is the config block ``plots``."""
    missing = [name for name in NEEDED_TABLES if name not in tables]
    if missing:
        raise KeyError(f"adamw_figures needs the tables {missing}")
    plots.set_style(options)
    by = p1_plots.draw_by
    local = _ordered(_rows(tables["local_slopes"], selection="worst"))
    return {
        "depth_heads": _grid_figure(
            tables, "depth_heads", DEPTH_ROWS, ("variant",),
            [by(tables, "err", "L", "H", guides=True), by(tables, "err", "H", "L", guides=True)],
            "Error vs depth L (one line per H) and vs heads H (one line per L)",
        ),
        "bias_fluct": _grid_figure(
            tables, "depth_heads", DEPTH_ROWS, ("variant",),
            [p1_plots.draw_bias_fluct(tables), by(tables, "fluct", "H", "L", "joint", guides=True)],
            "Bias of the seed mean and seed-to-seed fluctuation vs L (largest H) and vs H",
        ),
        "steps": _steps_figure(tables),
        "tokens": _grid_figure(
            tables, "tokens", TOKEN_ROWS, ("variant", "selection"), [p1_plots.draw_tokens(tables)],
            "Errors vs number of tokens N",
        ),
        "dims": _dims_figure(tables),
        "study_steps": _study_steps_figure(tables),
        "eps": _line_figure(
            tables["eps"], EPS_KEYS, _eps, "Adam's ε",
            "Worst-step error vs Adam's ε (hollow: limit not accurate enough)",
        ),
        "local_slopes": _legends_below(
            p1_plots.local_slopes_figure(local, ("variant", "variable"), _row_title)
        ),
    }  # fmt: skip
