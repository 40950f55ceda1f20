"""Figures of experiment ``lowtemp`` (docs/mathematics.md, ``lowtemp``), from the tables of
``lowtemp.claims`` and the run stores of ``lowtemp.runs``.

μ^β_t is the flow at inverse temperature β, μ^∞_t the hardmax flow and T#μ₀ the push-forward of
μ₀ under the variant's projection map; the plain flow is measured in z = e^{−tV} x, the consensus
flow in x. Panels: one row per variant, one column per head, unless said otherwise. One colour
per β (light to dark as β grows), the hardmax flow in black. Figures (:data:`FIGURES`):

- ``w2_beta``: W2(μ^β_t, μ^∞_t) against β at the claims' times, the fitted lines in log β, a
  guide of slope −1/2 and the predicted shape s(β) = sqrt(log(β+1)/β);
- ``w2_time``: W2(μ^β_t, T#μ₀) against t, per β and for the hardmax flow, t*(β) marked;
- ``t_star``: t*(β) against β, one panel per variant, one colour per head, with the line fit of
  t* in log β;
- ``particles``: the particles of the smallest-β, largest-β and hardmax flows and T#μ₀ at four
  record times;
- ``terminal``: W2(μ^∞_t, T#μ₀) against t per N, with the fitted rate at the largest N;
- ``phase``: the mass off V's top eigendirection against t per β, fitted and predicted rates;
- ``n_convergence``, ``regime``, ``metastability``: the N sweep and the metastable window
  (``lowtemp.regime_plots``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from attnlimits import plots
from attnlimits.analysis import fits
from attnlimits.lowtemp.analysis import shape
from attnlimits.lowtemp.grid import NEEDED_TABLES, RunKey
from attnlimits.lowtemp.regime_plots import (
    metastability_figure,
    n_convergence_figure,
    regime_figure,
)

#: Palettes: β (light to dark towards the hardmax flow, black), record times, N, heads.
BETA_PALETTE, TIME_PALETTE, SIZE_PALETTE, HEAD_PALETTE = "flare", "deep", "crest", "deep"
HARDMAX = "black"
#: The variable each variant is measured in.
MEASURED = {"plain": "z", "consensus": "x"}
W2_LABELS = {
    "w2_hardmax": r"$W_2(\mu^\beta_t, \mu^\infty_t)$",
    "coupling_hardmax": r"identity-coupling bound of $W_2(\mu^\beta_t, \mu^\infty_t)$",
    "mixed": r"$W_2(\mu^\beta_t, \mu^\infty_t)$ (coupling bound where N > exact_max)",
}
Tables = Mapping[str, pd.DataFrame]
Runs = Sequence[tuple[RunKey, xr.Dataset]]
#: Draws one panel: (axes, the panel's rows, variant, head).
PanelDraw = Callable[[Axes, pd.DataFrame, str, str], None]


def _rows(frame: pd.DataFrame, **keys: Any) -> pd.DataFrame:
    """``plots.select``, also on a table read back empty (no columns)."""
    return frame if frame.empty else plots.select(frame, **keys)


def _at_time(frame: pd.DataFrame, t: float) -> pd.DataFrame:
    return frame[np.isclose(frame["time"].to_numpy(np.float64), t)]


def _order(values: pd.Series) -> list[Any]:
    """The distinct values in order of appearance."""
    return list(dict.fromkeys(values.dropna()))


def _positive(values: Any) -> np.ndarray:
    """Values as floats, non-positive ones as NaN (log axes)."""
    out = np.asarray(values, dtype=np.float64)
    return np.where(out > 0, out, np.nan)


def _beta_label(beta: float) -> str:
    return "hardmax (β = ∞)" if np.isinf(beta) else f"β = {beta:g}"


def _beta_colours(betas: Sequence[float]) -> dict[float, Any]:
    """One colour per finite β (:data:`BETA_PALETTE`), :data:`HARDMAX` for β = inf."""
    finite = sorted(b for b in betas if np.isfinite(b))
    return {**plots.palette(finite, BETA_PALETTE), float("inf"): HARDMAX}


def _interval(value: float, lo: float, hi: float, digits: int = 2) -> str:
    if not np.isfinite(value):
        return "no fit"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _marks(
    ax: Axes, x: Any, y: Any, colour: Any, hollow: Any, label: str | None = None, ms: float = 6
) -> None:
    """Markers at (x, y), hollow where ``hollow``."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    hollow = np.asarray(hollow, dtype=bool)
    ax.plot(x[~hollow], y[~hollow], "o", color=colour, ms=ms, ls="none", label=label, zorder=3)
    if hollow.any():
        ax.plot(x[hollow], y[hollow], "o", mfc="white", mec=colour, ms=ms, ls="none", zorder=3)


def _legend(ax: Axes, **kwargs: Any) -> None:
    """The panel's legend below its x label, off the data."""
    where = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.2)}
    ax.legend(fontsize="x-small", **{**where, **kwargs})


def _blank(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", color="0.4")
    ax.set_axis_off()


def _panel_grid(
    frame: pd.DataFrame, draw: PanelDraw, title: str, what: str, height: float = 4.6
) -> Figure:
    """One row per variant, one column per head of ``frame`` (order of appearance): ``draw`` on
    the rows of each (variant, head); a combination without rows gives a blank panel. The
    default ``height`` leaves room for a legend below each panel."""
    if frame.empty:
        return plots.empty_figure(f"no {what} in the tables")
    variants, heads = _order(frame["variant"]), _order(frame["head"])
    fig, axes = plots.panels(len(variants), len(heads), width=4.4, height=height)
    for i, variant in enumerate(variants):
        for j, head in enumerate(heads):
            part = plots.select(frame, variant=variant, head=head)
            if part.empty:
                _blank(axes[i, j], f"no {variant} run of head {head}")
                continue
            draw(axes[i, j], part, variant, head)
            axes[i, j].set_title(f"{variant} flow, head {head}")
    fig.suptitle(title)
    return fig


def w2_beta_figure(tables: Tables) -> Figure:
    """W2(μ^β_t, μ^∞_t) against β (log-log) at each time of the ``beta_slope`` claims, one colour
    per time, with the line fitted in log β (table ``slopes``; docs/mathematics.md,
    "The low-temperature rate read as a power of β": slope −1/2 up to the log), a dashed guide of
    slope −1/2 and the shape s(β) = sqrt(log(β+1)/β) (``shape``), both anchored above the data at
    the smallest β. W2 exact, or its identity-coupling bound where it was not computed (the y label
    says which)."""
    claims, slopes = tables["claims"], tables["slopes"]

    def draw(ax: Axes, part: pd.DataFrame, variant: str, head: str) -> None:
        part = part[np.isfinite(part["beta"].to_numpy(np.float64))]
        times = sorted(_rows(claims, claim="beta_slope", variant=variant, head=head)["time"])
        if part.empty or not times:
            return _blank(ax, "no claim times")
        exact = part["w2_hardmax"].notna()
        kind = "w2_hardmax" if exact.all() else "coupling_hardmax" if not exact.any() else "mixed"
        y_all = part["w2_hardmax"].where(exact, part["coupling_hardmax"])
        fitted = _rows(slopes, variant=variant, head=head, regressor="log_beta")
        colours = plots.palette(times, TIME_PALETTE)
        for t in times:
            at = _at_time(part, t).sort_values("beta")
            beta, y = at["beta"].to_numpy(np.float64), _positive(y_all[at.index])
            fit = _at_time(fitted, t)
            label = f"t = {t:g}"
            if not fit.empty and np.isfinite(fit["slope"].iloc[0]):
                s, b, lo, hi = fit[["slope", "intercept", "ci_low", "ci_high"]].iloc[0]
                label += f": slope {_interval(s, lo, hi)}"
                ax.plot(beta, np.exp(b) * beta**s, "-", color=colours[t], lw=1.2)
            ax.plot(beta, y, "o", color=colours[t], ms=5, ls="none", label=label)
        betas = np.sort(part["beta"].unique())
        shown = np.isclose(part["time"].to_numpy(np.float64)[:, None], times).any(axis=1)
        first = _positive(y_all[shown & (part["beta"] == betas[0]).to_numpy()])
        if np.isfinite(first).any():
            anchor = 1.5 * float(np.nanmax(first))
            plots.reference_slopes(ax, (-0.5,), betas, anchor, styles=("--",))
            ax.plot(betas, anchor * shape(betas) / shape(betas[0]), ":", color="0.35", lw=1.2,
                    label="sqrt(log(β+1)/β), scaled")  # fmt: skip
        plots.log_axes(ax, "β (inverse temperature)", W2_LABELS[kind], ticks=betas)
        _legend(ax)

    return _panel_grid(
        tables["w2"], draw, "Distance of the β flow to the hardmax flow against β, at fixed t",
        "W2 curves",
    )  # fmt: skip


def w2_time_figure(tables: Tables) -> Figure:
    """W2(μ^β_t, T#μ₀) against t (log y), one line per β, the hardmax flow in black; t*(β) of
    table ``best_times`` marked at the grid minimum's height (hollow: at the horizon, only a
    lower bound). docs/mathematics.md, ``lowtemp``: the minimum is reached at t*(β) ~ log β."""
    best = tables["best_times"]

    def draw(ax: Axes, part: pd.DataFrame, variant: str, head: str) -> None:
        colours = _beta_colours(part["beta"].unique())
        for beta, colour in colours.items():
            curve = plots.select(part, beta=beta).sort_values("time")
            if not curve.empty:
                y = _positive(curve["w2_target"])
                ax.plot(curve["time"], y, "-", color=colour, lw=1.3, label=_beta_label(beta))
        marks = _rows(best, variant=variant, head=head)
        for row in marks.itertuples():
            colour = colours.get(row.beta, HARDMAX)
            _marks(ax, [row.t_star], [row.w2_min], colour, [bool(row.at_horizon)])
        ax.add_line(Line2D([], [], marker="o", color="0.3", ls="none", label="t*(β)"))
        ax.add_line(Line2D([], [], marker="o", mfc="white", mec="0.3", ls="none",
                           label="t*(β) at the horizon"))  # fmt: skip
        ax.set(yscale="log", xlabel="t", ylabel=r"$W_2(\mu^\beta_t, T\#\mu_0)$")

    fig = _panel_grid(
        tables["w2"], draw, "Distance of the β flow to the push-forward T#μ₀ against t",
        "W2 curves", height=3.4,
    )  # fmt: skip
    plots.legend_outside(fig, fig.axes)
    return fig


def t_star_figure(tables: Tables) -> Figure:
    """t*(β), the time of the smallest W2(μ^β_t, T#μ₀), against β (log x), one panel per variant,
    one colour per head: filled inside the horizon, hollow at it (left out of the fit, as in
    ``analysis.best_times``); the line t* = a + b log β fitted on the inside points, its slope
    and interval (claim ``t_star``; predicted: b > 0) in the legend; the horizon dotted."""
    best, claims, w2 = tables["best_times"], tables["claims"], tables["w2"]
    if best.empty:
        return plots.empty_figure("no best times in the tables")
    variants, heads = _order(best["variant"]), _order(best["head"])
    colours = plots.palette(heads, HEAD_PALETTE)
    fig, axes = plots.panels(1, len(variants), width=5.6, height=3.8)
    for ax, variant in zip(axes[0], variants, strict=True):
        rows = plots.select(best, variant=variant)
        for head in heads:
            part = plots.select(rows, head=head).sort_values("beta")
            if part.empty:
                continue
            beta, t_star = part["beta"].to_numpy(np.float64), part["t_star"].to_numpy(np.float64)
            out = part["at_horizon"].astype(bool).to_numpy()
            fit = fits.line_fit(np.log(beta[~out]), t_star[~out])
            claim = _rows(claims, claim="t_star", variant=variant, head=head)
            if not claim.empty:
                s, lo, hi, status = claim[["fitted", "ci_low", "ci_high", "status"]].iloc[0]
                label = f"{head}: slope {_interval(s, lo, hi)} ({status})"
            else:
                label = f"{head}: slope {_interval(fit.slope, fit.ci_low, fit.ci_high)}"
            label = label.replace("slope no fit", "no fit")
            _marks(ax, beta, t_star, colours[head], out, label)
            if np.isfinite(fit.slope):
                ax.plot(beta, fit.intercept + fit.slope * np.log(beta), "-", color=colours[head])
        horizon = _rows(w2, variant=variant)
        if not horizon.empty:
            ax.axhline(horizon["time"].max(), color="0.5", ls=":", lw=1, label="horizon")
        plots.log_axes(ax, "β (inverse temperature)", "t*(β)", logy=False, ticks=rows["beta"])
        ax.set_title(f"{variant} flow")
        _legend(ax)
    fig.suptitle("Time t*(β) of the smallest distance to T#μ₀ (hollow: at the horizon)")
    return fig


def _particle_rows(runs: Runs, max_rows: int) -> list[tuple[RunKey, xr.Dataset]]:
    """The runs of head ``identity`` (else the first head) and of one other head, at most
    ``max_rows``."""
    heads = _order(pd.Series([key.head for key, _ in runs]))
    first = "identity" if "identity" in heads else heads[0]
    chosen = [first, *[h for h in heads if h != first][:1]]
    return [(key, ds) for h in chosen for key, ds in runs if key.head == h][:max_rows]


def record_indices(count: int, columns: int = 4) -> list[int]:
    """``columns`` record indices spread evenly from the first to the last (fewer if short)."""
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, columns)})


def particles_figure(runs: Runs, columns: int = 4, max_rows: int = 4) -> Figure:
    """Particles of the smallest-β and largest-β flows and of the hardmax flow (marker area ∝
    weight) and the push-forward T#μ₀ (grey crosses) at ``columns`` record times
    (``record_indices``), in the variable the variant is measured in; rows: the runs of
    ``_particle_rows``, one common box per row, equal aspect."""
    if not runs:
        return plots.empty_figure("no runs")
    chosen = _particle_rows(runs, max_rows)
    fig, axes = plots.panels(len(chosen), columns, width=3.3, height=3.3)
    for i, (key, ds) in enumerate(chosen):
        t, betas = ds["time"].values, np.sort(ds["beta"].values)
        picks = record_indices(len(t), columns)
        colours = _beta_colours(betas)
        flows = [
            (_beta_label(b), ds["particles"].sel(beta=b).values, colours[b])
            for b in dict.fromkeys((betas[0], betas[-1]))
        ] + [(_beta_label(np.inf), ds["hardmax_particles"].values, HARDMAX)]
        target, w = ds["target"].values, ds["weights"].values
        sizes = 14.0 * w / w.mean()
        shown = np.concatenate([f[1][picks, :, :2].reshape(-1, 2) for f in flows] + [target[:, :2]])
        lo, hi = np.nanmin(shown, axis=0), np.nanmax(shown, axis=0)
        pad = 0.05 * float(np.max(hi - lo)) + 1e-9
        name = MEASURED.get(key.variant, "x")
        for j, k in enumerate(picks):
            ax = axes[i, j]
            for label, pts, colour in flows:  # the hardmax flow as rings over the β flows
                ring = (
                    {"facecolors": "none", "edgecolors": colour, "lw": 0.6}
                    if colour == HARDMAX
                    else {"color": colour, "alpha": 0.6, "lw": 0}
                )
                ax.scatter(pts[k, :, 0], pts[k, :, 1], s=sizes, label=label, **ring)
            ax.scatter(target[:, 0], target[:, 1], s=10, marker="x", color="0.55", lw=0.7,
                       label="push-forward T#μ₀", zorder=3)  # fmt: skip
            ax.set(xlim=(lo[0] - pad, hi[0] + pad), ylim=(lo[1] - pad, hi[1] + pad))
            ax.set_aspect("equal", adjustable="box")
            ax.set(
                xlabel=f"{name}₁",
                ylabel=f"{name}₂",
                title=f"{key.variant}, {key.head}, t = {t[k]:g}",
            )
        for j in range(len(picks), columns):
            _blank(axes[i, j], "")
    plots.legend_outside(fig, axes)
    fig.suptitle("Particles of the β and hardmax flows (area ∝ weight) and T#μ₀")
    return fig


def terminal_figure(tables: Tables) -> Figure:
    """W2(μ^∞_t, T#μ₀) against t (log y), one line per N, rows variant, columns head of the
    terminal table (docs/mathematics.md, ``lowtemp``: ≲ e^{−ct}); dashed, the fitted rate at the
    largest N (table ``terminal``) anchored at its last point."""
    table = tables["terminal"]

    def draw(ax: Axes, part: pd.DataFrame, variant: str, head: str) -> None:
        sizes = sorted(part["N"].unique())
        colours = plots.palette(sizes, SIZE_PALETTE)
        for n in sizes:
            curve = plots.select(part, N=n).sort_values("time")
            ax.plot(curve["time"], _positive(curve["w2_target"]), "o-", color=colours[n], ms=3,
                    lw=1.2, label=f"N = {n}")  # fmt: skip
        fits_ = _rows(table, variant=variant, head=head)
        if not fits_.empty:
            top = fits_.loc[fits_["N"].idxmax()]
            curve = plots.select(part, N=top["N"]).sort_values("time")
            t = curve["time"].to_numpy(np.float64)
            if np.isfinite(top["rate"]) and top["w2_end"] > 0:
                ax.plot(t, top["w2_end"] * np.exp(top["rate"] * (t - top["horizon"])), "--",
                        color="0.3", lw=1,
                        label=f"fit at N = {top['N']:g}: rate "
                        f"{_interval(top['rate'], top['ci_low'], top['ci_high'], 3)}")  # fmt: skip
        ax.set(yscale="log", xlabel="t", ylabel=r"$W_2(\mu^\infty_t, T\#\mu_0)$")
        _legend(ax)

    return _panel_grid(
        tables["terminal_curves"], draw, "Distance of the hardmax flow to T#μ₀ against t",
        "terminal curves",
    )  # fmt: skip


def phase_figure(tables: Tables) -> Figure:
    """The off-axis moment Σᵢ wᵢ |c_⊥,i|² (``analysis.off_axis_moment``: the mass off V's top
    eigendirection) against t (log y), one line per β, the hardmax flow black, the fitted rate
    (table ``phase``) in the legend and as a dotted line anchored at the last point over the
    second half of the time range; dashed, over the same span, the derived rate −2λ₂
    (``predicted_phase_rate``, where there is one) anchored at the hardmax flow's last point."""
    table = tables["phase"]

    def draw(ax: Axes, part: pd.DataFrame, variant: str, head: str) -> None:
        if part["moment"].isna().all():  # ``analysis.spectrum``: no real eigendirections
            return _blank(ax, "V's spectrum is not real:\nno top eigendirection")
        colours = _beta_colours(part["beta"].unique())
        rates = _rows(table, variant=variant, head=head)
        for beta, colour in colours.items():
            curve = plots.select(part, beta=beta).sort_values("time")
            if curve.empty:
                continue
            t, y = curve["time"].to_numpy(np.float64), _positive(curve["moment"])
            fit = _rows(rates, beta=beta)
            label = _beta_label(beta)
            if not fit.empty:
                rate, lo, hi = fit[["rate", "ci_low", "ci_high"]].iloc[0]
                label += f": fitted {_interval(rate, lo, hi)}"
                late = t >= 0.5 * (t[0] + t[-1])
                if np.isfinite(rate) and np.isfinite(y[-1]):
                    ax.plot(t[late], y[-1] * np.exp(rate * (t[late] - t[-1])), ":", color=colour,
                            lw=1.4)  # fmt: skip
            ax.plot(t, y, "-", color=colour, lw=1.3, label=label)
        predicted = rates["predicted"].dropna() if not rates.empty else pd.Series(dtype=float)
        hard = plots.select(part, beta=np.inf).sort_values("time")
        if not predicted.empty and not hard.empty:
            t, y = hard["time"].to_numpy(np.float64), _positive(hard["moment"])
            rate, lam = float(predicted.iloc[0]), float(rates["lambda_2"].iloc[0])
            t = t[t >= 0.5 * (t[0] + t[-1])]
            ax.plot(t, y[-1] * np.exp(rate * (t - t[-1])), "--", color="0.45", lw=1.2,
                    label=f"predicted −2λ₂ = {rate:.2f} (λ₂ = {lam:g})")  # fmt: skip
        elif not rates.empty:
            ax.plot([], [], " ", label="no predicted rate")
        ax.set(yscale="log", xlabel="t", ylabel="mass off V's top eigendirection")
        _legend(ax, title="rate of log moment in t")

    return _panel_grid(
        tables["phase_curves"], draw,
        "Long-time phase: mass off V's top eigendirection against t (dotted: fitted rates)",
        "phase curves",
    )  # fmt: skip


def lowtemp_figures(tables: Tables, runs: Runs, options: Mapping[str, Any]) -> dict[str, Figure]:
    """The figures of the module docstring, by name (:data:`FIGURES`); a table without rows
    gives a figure saying so. ``tables`` must hold :data:`NEEDED_TABLES` (as returned by
    ``lowtemp_tables`` or read back from CSV); ``runs`` pairs each run's key with its store;
    ``options`` is the config block ``plots``."""
    missing = [name for name in NEEDED_TABLES if name not in tables]
    if missing:
        raise KeyError(f"lowtemp_figures needs the tables {missing}")
    plots.set_style(options)
    return {
        "w2_beta": w2_beta_figure(tables),
        "w2_time": w2_time_figure(tables),
        "t_star": t_star_figure(tables),
        "particles": particles_figure(runs),
        "terminal": terminal_figure(tables),
        "phase": phase_figure(tables),
        "n_convergence": n_convergence_figure(tables),
        "regime": regime_figure(tables),
        "metastability": metastability_figure(tables),
    }
