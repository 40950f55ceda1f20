"""Figures of the N sweep and of the metastable window of experiment ``lowtemp`` (tables
``n_slopes``, ``regime``, ``metastability`` and ``claims`` of ``lowtemp.claims``):

- ``n_convergence``: the local β-slope against β (the pair's geometric mean), one line per
  (family, N): colour by N, line style by family; rows (variant, head), columns the times;
- ``regime``: N*(β), the smallest N from which the local slope stops depending on N and on the
  family, against the pair's larger β (log-log), hollow triangles at the largest N where it never
  does; the power rule factor β^(k/2) dashed and the main run's N dotted;
- ``metastability``: the window [t_in, t_out] per β at the largest N as a vertical bar (solid:
  closed, dashed with a triangle: open at the horizon, grey: ends not converged in N), thick at
  the claims' threshold, thin (shifted right) at the check threshold; the claims in the legend.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from attnlimits import plots

Tables = Mapping[str, pd.DataFrame]
SIZE_PALETTE, GROUP_PALETTE = "crest", "deep"
#: Line style per particle family.
FAMILY_STYLES = {"grid": "-", "halton": "--", "iid": ":"}
TIME_MARKERS = ("o", "s", "D", "^", "v", "P", "X")


def _order(values: pd.Series) -> list:
    return list(dict.fromkeys(values.dropna()))


def n_convergence_figure(tables: Tables) -> Figure:
    """Local β-slopes per family and N (module docstring), with the guide −1/2."""
    slopes = tables["n_slopes"]
    if slopes.empty:
        return plots.empty_figure("no N sweep in the tables")
    runs = list(dict.fromkeys(zip(slopes["variant"], slopes["head"], strict=True)))
    times = sorted(slopes["time"].unique())
    fig, axes = plots.panels(len(runs), len(times), width=4.2, height=3.6)
    sizes = sorted(slopes["N"].unique())
    colours = plots.palette(sizes, SIZE_PALETTE)
    for i, (variant, head) in enumerate(runs):
        for j, t in enumerate(times):
            ax = axes[i, j]
            part = plots.select(slopes, variant=variant, head=head)
            part = part[np.isclose(part["time"].to_numpy(np.float64), t)]
            for (family, n), cell in part.groupby(["family", "N"], sort=False):
                cell = cell.sort_values("beta_low")
                mid = np.sqrt(cell["beta_low"] * cell["beta_high"]).to_numpy(np.float64)
                ax.plot(mid, cell["local_slope"], FAMILY_STYLES.get(family, "-."), marker="o",
                        ms=3, color=colours[n], lw=1.2, label=f"{family}, N = {n}")  # fmt: skip
            ax.axhline(-0.5, color="0.5", ls=(0, (1, 3)), lw=1, label="−1/2 (bound, log aside)")
            ticks = [*part["beta_low"], *part["beta_high"]]
            plots.log_axes(ax, "β (slope drawn between the pair)", "local slope d log W2 / d log β",
                           logy=False, ticks=ticks)  # fmt: skip
            ax.set_title(f"{variant}, {head}, t = {t:g}")
    plots.legend_outside(fig, axes)
    fig.suptitle("Local slopes of W2(μ^β_t, μ^∞_t) in β per particle family and N")
    return fig


def regime_figure(tables: Tables) -> Figure:
    """N*(β) against β per (variant, head) and time (module docstring)."""
    regime = tables["regime"]
    if regime.empty:
        return plots.empty_figure("no N sweep in the tables")
    fig, axes = plots.panels(1, 1, width=6.4, height=4.6)
    ax = axes[0, 0]
    runs = list(dict.fromkeys(zip(regime["variant"], regime["head"], strict=True)))
    colours = plots.palette(runs, GROUP_PALETTE)
    times = sorted(regime["time"].unique())
    for r, run in enumerate(runs):
        for k, t in enumerate(times):
            part = plots.select(regime, variant=run[0], head=run[1])
            part = part[np.isclose(part["time"].to_numpy(np.float64), t)]
            # side by side around each β, so that equal N* do not hide each other
            shift = 1.06 ** (r * len(times) + k - (len(runs) * len(times) - 1) / 2)
            beta = part["beta_high"].to_numpy(np.float64) * shift
            star = part["N_star"].to_numpy(np.float64)
            found = np.isfinite(star)
            marker = TIME_MARKERS[k % len(TIME_MARKERS)]
            ax.plot(beta[found], star[found], marker, color=colours[run], ls="none", ms=6,
                    label=f"{run[0]}, {run[1]}, t = {t:g}")  # fmt: skip
            ax.plot(beta[~found], part["N_max"].to_numpy(np.float64)[~found], "^", mfc="white",
                    mec=colours[run], ls="none", ms=7)  # fmt: skip
    betas = np.sort(regime["beta_high"].unique())
    ax.plot(betas, _power(regime, betas), "--", color="0.3", label="power rule factor·β^(k/2)")
    ax.axhline(float(regime["N_main"].iloc[0]), color="0.5", ls=":", label="main run's N")
    ax.plot([], [], "^", mfc="white", mec="0.3", ls="none", label="not converged up to N (largest)")
    plots.log_axes(ax, "β (the pair's larger β)", "N* (converged from N* on)", ticks=betas)
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.suptitle("Regime boundary: the N from which the local β-slope stops depending on N")
    return fig


def _power(regime: pd.DataFrame, betas: np.ndarray) -> np.ndarray:
    """The power rule's N at ``betas``, from the table's own N_power_rule (factor β^(k/2))."""
    table = regime.drop_duplicates("beta_high").set_index("beta_high")["N_power_rule"]
    return table.reindex(betas).to_numpy(np.float64)


def _claim_text(claims: pd.DataFrame, claim: str, variant: str, head: str) -> str | None:
    """``claim: fitted [low, high] (status)`` of one (variant, head), or None without a row."""
    row = claims[(claims["claim"] == claim) & (claims["variant"] == variant)
                 & (claims["head"] == head)]  # fmt: skip
    if row.empty:
        return None
    s, lo, hi, status, observed = (
        row.iloc[0].get(c, np.nan) for c in ("fitted", "ci_low", "ci_high", "status", "observed")
    )
    if isinstance(observed, str):
        return f"{claim}: observed {observed} ({status})"
    text = "no fit" if not np.isfinite(s) else f"{s:.2f} [{lo:.2f}, {hi:.2f}]"
    return f"{claim}: {text} ({status})"


def metastability_figure(tables: Tables) -> Figure:
    """The windows per β at the largest N, one panel per (variant, head) (module docstring)."""
    table, claims = tables["metastability"], tables["claims"]
    if table.empty:
        return plots.empty_figure("no metastable window in the tables")
    runs = list(dict.fromkeys(zip(table["variant"], table["head"], strict=True)))
    fig, axes = plots.panels(1, len(runs), width=4.8, height=4.6)
    for ax, (variant, head) in zip(axes[0], runs, strict=True):
        run = plots.select(table, variant=variant, head=head)
        run = run[run["N"] == run["N"].max()]
        fractions = list(dict.fromkeys(run["fraction"]))  # the claims' fraction first
        for f, fraction in enumerate(fractions):
            part = run[np.isclose(run["fraction"], fraction)].sort_values("beta")
            shift, width = (1.0, 3) if f == 0 else (1.08, 1.5)
            for row in part[part["entered"].astype(bool)].itertuples():
                closed, converged = bool(row.closed), bool(row.n_converged)
                colour = ("C0" if closed else "C1") if converged else "0.6"
                ax.plot([row.beta * shift] * 2, [row.t_in, row.t_out], "-" if closed else "--",
                        color=colour, lw=width)  # fmt: skip
                if not closed:
                    ax.plot(row.beta * shift, row.t_out, "^", color=colour, ms=3 + 2 * width)
            label = f"fraction {fraction:g}: W2 < {part['threshold'].iloc[0]:.3g}"
            ax.plot([], [], "-", color="k", lw=width, label=label)
        ax.plot([], [], "-", color="C0", lw=3, label="closed window [t_in, t_out]")
        ax.plot([], [], "--", color="C1", lw=3, label="open at the horizon")
        ax.plot([], [], "-", color="0.6", lw=3, label="ends not converged in N")
        for claim in ("metastable_window", "metastable_open", "metastable_exit"):
            text = _claim_text(claims, claim, variant, head)
            if text is not None:
                ax.plot([], [], " ", label=text)
        never = run[~run["entered"].astype(bool) & np.isclose(run["fraction"], fractions[0])]
        ax.plot(never["beta"], np.zeros(len(never)), "x", color="0.4", ms=7,
                label="never below the threshold")  # fmt: skip
        plots.log_axes(ax, "β", "t", logy=False, ticks=sorted(run["beta"].unique()))
        ax.set_title(f"{variant}, {head}, N = {int(run['N'].iloc[0])}")
        ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.2))
    fig.suptitle("Metastable window: where W2(μ^β_t, T#μ₀) stays below the threshold")
    return fig
