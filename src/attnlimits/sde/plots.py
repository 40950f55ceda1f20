"""Figures of experiment ``sde``, drawn from the tables of :mod:`attnlimits.sde.claims` and, for the
pictures of tokens, from the sync stores.

Data points are replicate 0 with bootstrap error bars (hollow markers: left out of the fits);
lines are the fits of the ``lines`` table with their bootstrap bands. Figures:
``depth_error``, ``width_error``, ``chaos_w2``, ``energy``, ``lyapunov``, ``sphere_tokens``,
``cosine_histograms``, ``joint_error`` (:mod:`attnlimits.sde.joint_plots`), ``odd_clusters``
(:mod:`attnlimits.sde.odd_plots`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize

from attnlimits import plots
from attnlimits.analysis.claims import OUTSIDE
from attnlimits.sde.claims import store_keys
from attnlimits.sde.joint_plots import joint_figure
from attnlimits.sde.odd_plots import odd_figure

#: Tables that :func:`sde_figures` needs.
NEEDED_TABLES = ("claims", "reference", "points", "lines")
#: Figure names, in the order :func:`sde_figures` returns them.
FIGURES = (
    "depth_error",
    "width_error",
    "chaos_w2",
    "energy",
    "lyapunov",
    "sphere_tokens",
    "cosine_histograms",
    "joint_error",
    "odd_clusters",
)
ROW_KEYS = ("activation", "d", "sigma")
SIGN_LABELS = {1: "attractive (+1)", 0: "pure noise (0)", -1: "repulsive (−1)"}
SIGN_COLOURS = {1: "C0", 0: "C2", -1: "C3"}
#: Preference among attention signs when picking the rows of the token pictures.
SIGN_PREFERENCE = (0, 1, -1)


def _value(v: Any) -> Any:
    """Plain scalar for keys read back from tables (integral floats become ints)."""
    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _row_label(row: Mapping[str, Any]) -> str:
    return f"{row['activation']}, d={int(row['d'])}, σ={float(row['sigma']):g}"


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The (activation, d, sigma) combinations of ``frame``, sorted."""
    if frame.empty:
        return []
    unique = frame[list(ROW_KEYS)].drop_duplicates().sort_values(list(ROW_KEYS))
    return [
        {"activation": str(r["activation"]), "d": int(r["d"]), "sigma": float(r["sigma"])}
        for r in unique.to_dict("records")
    ]


def _signs(frame: pd.DataFrame) -> list[int]:
    return sorted({int(s) for s in frame["attention_sign"].dropna()}, reverse=True)


def _claim(claims: pd.DataFrame, claim: str, **keys: Any) -> pd.Series | None:
    rows = plots.select(claims, claim=claim, **keys)
    return None if rows.empty else rows.iloc[0]


def _fit_label(prefix: str, row: pd.Series | None) -> str:
    """``prefix: slope s [lo, hi] (status)`` from a judged claims row."""
    if row is None or not np.isfinite(float(row["fitted"])):
        return prefix
    return (
        f"{prefix}: {float(row['fitted']):.2f} "
        f"[{float(row['ci_low']):.2f}, {float(row['ci_high']):.2f}] ({row['status']})"
    )


def _series(
    ax: Axes,
    tables: Mapping[str, pd.DataFrame],
    keys: Mapping[str, Any],
    quantity: str,
    colour: Any,
    label: str | None,
    marker: str = "o",
    fit: bool = True,
) -> pd.DataFrame:
    """Points of ``quantity`` (hollow where left out of the fit) and their fitted line; ``keys``
    include ``swept``."""
    pts = plots.select(tables["points"], **keys, quantity=quantity).sort_values("x")
    if pts.empty:
        return pts
    plots.draw_points(
        ax, pts["x"], pts["y"], pts["y_low"], pts["y_high"], colour, label,
        pts["excluded"].astype(bool).to_numpy(), marker,
    )  # fmt: skip
    if fit:
        line = plots.select(tables["lines"], **keys, quantity=quantity).sort_values("x")
        if not line.empty:
            plots.draw_fit(ax, line["x"], line["y"], line["y_low"], line["y_high"], colour)
    return pts


def _missing(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _row_sign_figure(
    tables: Mapping[str, pd.DataFrame], quantity: str, swept: str, draw: Any, title: str
) -> plt.Figure:
    """Panels: one row per (activation, d, sigma), one column per attention sign."""
    pts = plots.select(tables["points"], quantity=quantity, swept=swept)
    rows, signs = _rows(pts), _signs(pts)
    if not rows:
        return plots.empty_figure(f"no {quantity} vs {swept} in the data")
    fig, axes = plots.panels(len(rows), len(signs), width=4.6, height=3.6)
    for i, row in enumerate(rows):
        for j, sign in enumerate(signs):
            keys = {**row, "attention_sign": sign, "swept": swept}
            ax = axes[i, j]
            if plots.select(pts, **keys).empty:
                _missing(ax, "not run")
            else:
                draw(ax, keys)
            ax.set_title(f"{_row_label(row)}, {SIGN_LABELS.get(sign, sign)}")
    fig.suptitle(title)
    return fig


def _guide(ax: Axes, pts: pd.DataFrame, slope: float = -0.5) -> None:
    """A reference slope through 1.5 × the first point."""
    used = pts[np.isfinite(pts["y"].astype(float)) & (pts["y"].astype(float) > 0)]
    if len(used) >= 2:
        plots.reference_slopes(ax, (slope,), used["x"], 1.5 * float(used["y"].iloc[0]))


def _depth(tables: Mapping[str, pd.DataFrame]) -> Any:
    def draw(ax: Axes, keys: dict[str, Any]) -> None:
        row = {k: v for k, v in keys.items() if k != "swept"}
        claim = _claim(tables["claims"], "depth_L", **row)
        pts = _series(ax, tables, keys, "rms_error", "C0", _fit_label("RMS error, slope", claim))
        _series(
            ax, tables, {**row, "swept": "level"}, "level_diff", "0.45",
            "fine ladder: RMS |X_ℓ − X_2ℓ| at ℓ", marker="s", fit=False,
        )  # fmt: skip
        ref = plots.select(tables["reference"], **row)
        if not ref.empty:
            r = ref.iloc[0]
            ax.axhline(float(r["reference_error"]), color="C3", ls=":", lw=1.2,
                       label="reference error")  # fmt: skip
            margin = float(r["margin"])
            ax.axhline(margin * float(r["reference_error"]), color="C3", ls="--", lw=0.8,
                       alpha=0.6, label=f"{margin:g} × reference error")  # fmt: skip
        _guide(ax, pts)
        plots.log_axes(ax, "layers (L for the error, ℓ for the ladder)", "RMS pathwise error")
        ax.legend(fontsize="x-small")

    return draw


def _width(tables: Mapping[str, pd.DataFrame]) -> Any:
    def draw(ax: Axes, keys: dict[str, Any]) -> None:
        row = {k: v for k, v in keys.items() if k != "swept"}
        claim = _claim(tables["claims"], "width_m", **row)
        pts = _series(ax, tables, keys, "rms_error", "C0", _fit_label("RMS error, slope", claim))
        _series(ax, tables, keys, "cov_rel_err", "C1", "RMS ‖C_m − K‖/‖K‖", marker="s")
        _guide(ax, pts)
        plots.log_axes(ax, "m (MLP width)", "error", ticks=pts["x"])
        ax.legend(fontsize="x-small")

    return draw


def _chaos_figure(tables: Mapping[str, pd.DataFrame]) -> plt.Figure:
    pts = plots.select(tables["points"], quantity="sup_w2", swept="N")
    if pts.empty:
        return plots.empty_figure("no chaos store")
    combos = pts[["activation", "d", "sigma", "attention_sign"]].drop_duplicates()
    combos = combos.sort_values("d").to_dict("records")
    fig, axes = plots.panels(1, len(combos), width=4.8, height=3.8)
    for ax, raw in zip(axes[0], combos, strict=True):
        row = {k: _value(v) for k, v in raw.items()}
        keys = {**row, "swept": "N"}
        claims = tables["claims"]
        ambient = _claim(claims, "chaos_N_ambient", **row)
        intrinsic = _claim(claims, "chaos_N_intrinsic", **row)
        fitted = ambient
        label = "E sup W2²"
        if fitted is not None and np.isfinite(float(fitted["fitted"])):
            label += (
                f": slope {float(fitted['fitted']):.2f} "
                f"[{float(fitted['ci_low']):.2f}, {float(fitted['ci_high']):.2f}]"
            )
        used = _series(ax, tables, keys, "sup_w2", "C0", label)
        _series(ax, tables, keys, "w2_final", "0.55", "W2² at t = T", marker="^", fit=False)
        for quantity, colour, label in (
            ("floor", "C3", "reference floor ½W2²(ref, ref′)"),
            ("reference_error", "C1", "reference error (halving N_ref)"),
        ):
            line = plots.select(tables["points"], **keys, quantity=quantity).sort_values("x")
            if not line.empty:
                ax.plot(line["x"], line["y"], color=colour, ls=":", lw=1.2, label=label)
                ax.fill_between(line["x"], line["y_low"], line["y_high"], color=colour, alpha=0.12)
        anchor = 1.5 * float(used["y"].iloc[0])
        d = int(keys["d"])
        for row, k, style in ((ambient, d, "--"), (intrinsic, d - 1, "-.")):
            if row is None or not np.isfinite(float(row["predicted"])):
                continue
            slope = float(row["predicted"])
            xs = np.array([used["x"].min(), used["x"].max()], float)
            ax.plot(xs, anchor * (xs / xs[0]) ** slope, style, color="0.3", lw=1,
                    label=f"k={k} ({'ambient' if k == d else 'intrinsic'}): "
                    f"{plots.format_exponent(slope)} → {row['status']}")  # fmt: skip
        plots.log_axes(ax, "N (tokens)", "W2² to the reference", ticks=used["x"])
        ax.set_title(f"{keys['activation']}, d={d}, σ={float(keys['sigma']):g}, "
                     f"sign {int(keys['attention_sign']):+d}")  # fmt: skip
        ax.legend(fontsize="x-small")
    fig.suptitle(
        r"Propagation of chaos: $\mathbb{E}\,\sup_t W_2^2(\mu^N_t, \mu^{N_{\mathrm{ref}}}_t)$"
        " vs N (hollow: within the margin of the reference error, not fitted)"
    )
    return fig


def _energy_figure(tables: Mapping[str, pd.DataFrame]) -> plt.Figure:
    pts_all = plots.select(tables["points"], quantity="energy", swept="time")
    rows = _rows(pts_all)
    if not rows:
        return plots.empty_figure("no sync store")
    cols = min(len(rows), 2)
    nrows = -(-len(rows) // cols)
    fig, axes = plots.panels(nrows, cols, width=5.6, height=4.0)
    claims = tables["claims"]
    for ax in axes.ravel()[len(rows) :]:
        ax.set_visible(False)
    for ax, row in zip(axes.ravel(), rows, strict=False):
        lowest, highest = np.inf, 0.0
        for sign in _signs(plots.select(pts_all, **row)):
            keys = {**row, "attention_sign": sign}
            colour = SIGN_COLOURS.get(sign, "C4")
            pts = plots.select(pts_all, **keys).sort_values("x")
            y = pts["y"].astype(float).to_numpy()
            positive = y > 0
            ax.plot(pts["x"][positive], y[positive], "-", color=colour, lw=1.4,
                    label=f"{SIGN_LABELS.get(sign, sign)}")  # fmt: skip
            lo = pts["y_low"].astype(float).to_numpy()
            ax.fill_between(pts["x"], np.where(lo > 0, lo, np.nan), pts["y_high"],
                            color=colour, alpha=0.15, lw=0)  # fmt: skip
            if positive.any():
                lowest = min(lowest, float(np.min(y[positive])))
                highest = max(highest, float(np.max(y[positive])))
            line = plots.select(tables["lines"], **keys, quantity="energy").sort_values("x")
            claim = _claim(
                claims,
                "energy_rate" if int(keys["attention_sign"]) == 0 else "energy_bound",
                **keys,
            )
            if line.empty or claim is None:
                continue
            fitted = f"  late fit: rate {float(claim['fitted']):.3g} ({claim['status']})"
            ax.plot(line["x"], line["y"], "--", color="k", lw=1.0, label=fitted)
            if claim["status"] == OUTSIDE:
                continue
            x0, y0 = float(line["x"].iloc[0]), float(line["y"].iloc[0])
            xs = np.linspace(x0, float(pts["x"].max()), 20)
            predicted = float(claim["predicted"])
            if np.isfinite(predicted):
                name = r"$\bar\lambda$" if sign == 0 else r"bound $\bar\lambda'$"
                ax.plot(xs, y0 * np.exp(predicted * (xs - x0)), ":" if sign == 0 else "-.",
                        color=colour, lw=1.6, label=f"  {name} = {predicted:.3g}")  # fmt: skip
            lam1 = _claim(claims, "lyapunov", **keys)
            if sign == 0 and lam1 is not None:
                rate = 2.0 * float(lam1["predicted"])
                ax.plot(xs, y0 * np.exp(rate * (xs - x0)), ls=(0, (1, 3)), color="0.35", lw=1.2,
                        label=f"  $2\\lambda_1$ = {rate:.3g} (typical paths)")  # fmt: skip
        ax.set_yscale("log")
        if np.isfinite(lowest) and highest > 0:
            ax.set_ylim(max(lowest / 10.0, 1e-300), 3.0 * highest)
        ax.set(xlabel="t (depth time)", ylabel=ENERGY_LABEL, title=_row_label(row))
        ax.legend(fontsize="x-small")
    fig.suptitle("Mean interaction energy over noise paths (band: 95% bootstrap over paths)")
    return fig


ENERGY_LABEL = r"mean energy $e^{-\beta}\,\mathbb{E}[E_\beta(\mu_t)]$"
#: Quantities of the parity plot: marker, legend, horizontal dodge (fraction of the range).
PARITY = {
    "lyapunov": ("o", r"pathwise exponent vs $\lambda_1$", 0.0),
    "moment_rate": ("s", r"second-moment rate vs $\bar\lambda$", -0.012),
    "energy_rate": ("^", r"mean-energy rate vs $\bar\lambda$", 0.012),
}


def _lyapunov_figure(tables: Mapping[str, pd.DataFrame]) -> plt.Figure:
    pts = tables["points"]
    pts = pts[pts["quantity"].isin(list(PARITY)) & (pts["swept"] == "predicted")]
    if pts.empty:
        return plots.empty_figure("no two-point run (attention sign 0)")
    rows = _rows(pts)
    colours = plots.palette([_row_label(r) for r in rows], "deep")
    fig, ax = plt.subplots(figsize=(6.4, 5.0), constrained_layout=True)
    values = pd.concat([pts["x"], pts["y_low"], pts["y_high"]]).astype(float)
    values = values[np.isfinite(values)]
    lo, hi = float(values.min()), float(values.max())
    pad = 0.08 * (hi - lo or 1.0)
    for row in rows:
        colour = colours[_row_label(row)]
        for quantity, (marker, _, dodge) in PARITY.items():
            part = plots.select(pts, **row, quantity=quantity)
            if part.empty:
                continue
            plots.draw_points(
                ax, part["x"].astype(float) + dodge * (hi - lo or 1.0), part["y"],
                part["y_low"], part["y_high"], colour, None, marker=marker,
            )  # fmt: skip
    span = np.array([lo - pad, hi + pad])
    ax.plot(span, span, "-", color="0.5", lw=1, label="estimated = predicted")
    ax.axhline(0, color="0.8", lw=0.8)
    ax.axvline(0, color="0.8", lw=0.8)
    ax.set(xlim=span, ylim=span, ylabel="estimated exponent",
           xlabel="predicted exponent (markers dodged sideways)")  # fmt: skip
    for quantity, (marker, text, _) in PARITY.items():
        if (pts["quantity"] == quantity).any():
            ax.plot([], [], marker, color="0.3", ls="none", label=text)
    for row in rows:
        ax.plot([], [], "o", color=colours[_row_label(row)], ls="none", label=_row_label(row))
    ax.legend(fontsize="x-small", loc="upper left")
    ax.set_title("Pure noise: estimated vs predicted exponents (95% bootstrap over paths)")
    return fig


def _pick_rows(claims: pd.DataFrame) -> list[tuple[dict[str, Any], str]]:
    """A clustering and a non-clustering sync row (keys, observation).

    Clustering: pure noise preferred (then attractive, repulsive). Non-clustering: the row that
    keeps the largest share of its mean energy (``fitted`` = E(end)/E(start)), the clearest case;
    a pure-noise row with λ₁ < 0 < λ̄ may keep little of it while its tokens merge on most paths.
    """
    rows = plots.select(claims, claim="cluster")
    picked = []
    clusters = rows[rows["observed"] == "clusters"]
    for sign in SIGN_PREFERENCE:
        at = clusters[clusters["attention_sign"].astype(int) == sign]
        if not at.empty:
            picked.append((at.iloc[0], "clusters"))
            break
    spread = rows[rows["observed"] == "no clusters"]
    if not spread.empty:
        picked.append((spread.loc[spread["fitted"].astype(float).idxmax()], "no clusters"))
    out = []
    for r, observed in picked:
        keys = {k: _value(r[k]) for k in (*ROW_KEYS, "attention_sign")}
        keys["sigma"] = float(r["sigma"])
        out.append((keys, observed))
    return out


def _find_store(stores: Sequence[xr.Dataset], keys: Mapping[str, Any]) -> xr.Dataset | None:
    for ds in stores:
        k = store_keys(ds)
        if (
            k["activation"] == keys["activation"]
            and k["d"] == int(keys["d"])
            and np.isclose(k["sigma"], float(keys["sigma"]))
            and k["attention_sign"] == int(keys["attention_sign"])
        ):
            return ds
    return None


def _picked_stores(
    tables: Mapping[str, pd.DataFrame], stores: Mapping[str, Sequence[xr.Dataset]]
) -> list[tuple[xr.Dataset, str]]:
    out = []
    for keys, observed in _pick_rows(tables["claims"]):
        ds = _find_store(stores.get("sync", []), keys)
        if ds is not None:
            sign = SIGN_LABELS.get(int(keys["attention_sign"]), keys["attention_sign"])
            out.append((ds, f"{_row_label(keys)}, {sign}: {observed}"))
    return out


def _tokens_figure(picked: list[tuple[xr.Dataset, str]]) -> plt.Figure:
    if not picked:
        return plots.empty_figure("no sync store with tokens_sample")
    snaps = max(ds.sizes["snapshot"] for ds, _ in picked)
    fig = plt.figure(figsize=(1.9 * snaps, 2.35 * len(picked)), constrained_layout=True)
    subfigs = np.atleast_1d(fig.subfigures(len(picked), 1))
    circle = np.linspace(0, 2 * np.pi, 200)
    for sub, (ds, title) in zip(subfigs, picked, strict=True):
        tokens = ds["tokens_sample"].transpose("snapshot", "token", "component").values
        times = ds["snapshot_time"].values if "snapshot_time" in ds else np.arange(snaps)
        colours = plt.get_cmap("viridis")(np.linspace(0, 1, tokens.shape[1]))
        axes = np.atleast_1d(sub.subplots(1, snaps))
        for j, ax in enumerate(axes):
            ax.plot(np.cos(circle), np.sin(circle), color="0.75", lw=0.8)
            if j < tokens.shape[0]:
                ax.scatter(tokens[j, :, 0], tokens[j, :, 1], c=colours, s=14, zorder=3)
                ax.set_title(f"t = {float(times[j]):.3g}", fontsize="small")
            ax.set(xlim=(-1.1, 1.1), ylim=(-1.1, 1.1), aspect="equal")
            ax.set_xticks([])
            ax.set_yticks([])
        sub.suptitle(title, fontsize="medium")
    fig.suptitle(
        "Tokens of one noise path on the sphere, first two coordinates (colour: token index)"
    )
    return fig


def _cosine_figure(picked: list[tuple[xr.Dataset, str]]) -> plt.Figure:
    if not picked:
        return plots.empty_figure("no sync store with cosines")
    fig, axes = plots.panels(1, len(picked), width=5.0, height=3.8)
    bins = np.linspace(-1.0, 1.0, 61)
    for ax, (ds, title) in zip(axes[0], picked, strict=True):
        cos = ds["cosines"].transpose("snapshot", "pair").values
        times = ds["snapshot_time"].values if "snapshot_time" in ds else np.arange(len(cos))
        norm = Normalize(float(np.min(times)), float(np.max(times)))
        cmap = plt.get_cmap("viridis")
        for j in range(cos.shape[0]):
            ax.hist(cos[j][np.isfinite(cos[j])], bins=bins, density=True, histtype="step",
                    color=cmap(norm(float(times[j]))), lw=1.3)  # fmt: skip
        ax.set_yscale("log")
        ax.set(xlabel="cosine ⟨xⁱ, xʲ⟩", ylabel="density", xlim=(-1, 1))
        ax.set_title(title, fontsize="small")
        fig.colorbar(ScalarMappable(norm, cmap), ax=ax, label="t (depth time)", pad=0.01)
    fig.suptitle("Pairwise cosines of the tokens by depth, pooled over paths")
    return fig


def sde_figures(
    tables: Mapping[str, pd.DataFrame],
    stores: Mapping[str, Sequence[xr.Dataset]],
    outdir: str | Path,
    plot_options: Mapping[str, Any],
) -> list[Path]:
    """The figures of :data:`FIGURES` under ``outdir``; their paths, in that order.

    ``tables`` must hold :data:`NEEDED_TABLES` (as returned by ``sde_claims`` or read back from
    CSV); ``stores`` maps "sync" (and optionally the other kinds) to the stores, used for the
    pictures of tokens; ``plot_options`` is the config block ``plots``.
    """
    missing = [name for name in NEEDED_TABLES if name not in tables]
    if missing:
        raise KeyError(f"sde_figures needs the tables {missing}")
    plots.set_style(plot_options)
    picked = _picked_stores(tables, stores)
    builders = {
        "depth_error": lambda: _row_sign_figure(
            tables, "rms_error", "L", _depth(tables),
            "RMS pathwise error vs depth (hollow: within the margin of the reference error)",
        ),
        "width_error": lambda: _row_sign_figure(
            tables, "rms_error", "m", _width(tables), "RMS pathwise error vs MLP width",
        ),
        "chaos_w2": lambda: _chaos_figure(tables),
        "energy": lambda: _energy_figure(tables),
        "lyapunov": lambda: _lyapunov_figure(tables),
        "sphere_tokens": lambda: _tokens_figure(picked),
        "cosine_histograms": lambda: _cosine_figure(picked),
        "joint_error": lambda: joint_figure(tables),
        "odd_clusters": lambda: odd_figure(tables, stores.get("odd", [])),
    }  # fmt: skip
    return [
        plots.save_figure(build(), plots.figure_path(outdir, name, plot_options), plot_options)
        for name, build in builders.items()
    ]
