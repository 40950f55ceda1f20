"""Figure ``odd_clusters`` of experiment ``sde``: two antipodal clusters under an odd field, drawn
from the table ``odd_clusters`` (:mod:`attnlimits.sde.odd_claims`) and the odd stores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr

from attnlimits import plots
from attnlimits.sde.odd import pair_cosines

ROW_KEYS = ("activation", "d", "sigma", "attention_sign")


def _label(keys: Mapping[str, Any], odd: bool | None = None) -> str:
    text = f"{keys['activation']}, d={int(keys['d'])}, σ={float(keys['sigma']):g}"
    return text if odd is None else f"{text} ({'odd' if odd else 'not odd'})"


def _store_label(ds: xr.Dataset) -> str:
    a = ds.attrs
    return _label(a, bool(a.get("odd_field", False)))


def oriented_projections(x: np.ndarray) -> np.ndarray:
    """⟨xⁱ_t, p_t⟩ for tokens x (time, N, d) of one path: p_t the top eigenvector of
    (1/N) Σᵢ xⁱ_t xⁱ_tᵀ (the clusters' axis at time t), oriented so that ⟨x¹_t, p_t⟩ ≥ 0."""
    axes = np.linalg.eigh(np.einsum("tni,tnj->tij", x, x))[1][..., -1]
    projected = np.einsum("tni,ti->tn", x, axes)
    return projected * np.where(projected[:, :1] < 0, -1.0, 1.0)


def odd_figure(tables: Mapping[str, pd.DataFrame], stores: Sequence[xr.Dataset]) -> plt.Figure:
    """Left: the mean fraction of tokens in two antipodal clusters (solid) and in one cluster
    (dashed) against time, per row, with bootstrap bands over paths. Middle: the pairwise
    cosines ⟨xⁱ, xʲ⟩ at the last time, pooled over paths (an odd field: mass at −1 and +1; one
    cluster: at +1 only). Right: the tokens of path 0 of the first odd store projected on the
    clusters' axis (``oriented_projections``) against time (an odd field: they end at +1 or
    −1)."""
    frame = tables.get("odd_clusters", pd.DataFrame())
    if frame is None or frame.empty:
        return plots.empty_figure("no odd store")
    fig, axes = plots.panels(1, 3, width=4.6, height=3.6)
    ax = axes[0, 0]
    rows = plots.combos(frame, ROW_KEYS)
    colours = {_label(keys): f"C{k}" for k, keys in enumerate(rows)}
    for keys in rows:
        at = plots.select(frame, **keys).sort_values("time")
        colour = colours[_label(keys)]
        plots.draw_fit(ax, at["time"], at["two"], at["two_low"], at["two_high"], colour,
                       f"{_label(keys)}: two antipodal")  # fmt: skip
        plots.draw_fit(ax, at["time"], at["one"], at["one_low"], at["one_high"], colour,
                       f"{_label(keys)}: one cluster", style="--")  # fmt: skip
    ax.set(xlabel="t", ylabel="mean fraction of tokens", ylim=(-0.02, 1.02))
    ax.set_title("Tokens in clusters, mean over paths", fontsize="small")
    ax.legend(fontsize="xx-small")
    bins = np.linspace(-1.0, 1.0, 41)
    hist, path = axes[0, 1], axes[0, 2]
    for ds in stores:
        tokens = ds["tokens"].transpose("time", "path", "token", "component").values
        cos = pair_cosines(tokens[-1]).ravel()
        hist.hist(cos, bins=bins, density=True, histtype="step", lw=1.4,
                  color=colours.get(_label(ds.attrs), "0.3"), label=_store_label(ds))  # fmt: skip
    hist.set(xlabel="⟨xⁱ, xʲ⟩ at the last time", ylabel="density", xlim=(-1, 1))
    hist.set_yscale("log")
    hist.set_title("Pairwise cosines, pooled over paths", fontsize="small")
    hist.legend(fontsize="xx-small")
    odd = [ds for ds in stores if bool(ds.attrs.get("odd_field", False))]
    if not odd:
        path.text(
            0.5, 0.5, "no odd-field store", ha="center", va="center", transform=path.transAxes
        )
    else:
        ds = odd[0]
        x = ds["tokens"].transpose("time", "path", "token", "component").values[:, 0]
        times = ds["time"].values.astype(float)
        projected = oriented_projections(x)
        for i in range(x.shape[1]):
            path.plot(times, projected[:, i], lw=1.0)
        path.set(xlabel="t", ylabel="⟨xⁱ_t, p_t⟩", ylim=(-1.05, 1.05))
        path.set_title(f"Path 0, {_store_label(ds)}", fontsize="small")
    fig.suptitle("Odd noise field: two antipodal clusters instead of one")
    return fig
