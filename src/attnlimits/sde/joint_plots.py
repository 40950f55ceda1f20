"""Figure ``joint_error`` of experiment ``sde``: the joint (L, m) and (L, N) grids with their laws,
drawn from the tables ``joint_points`` and ``joint_laws`` of :mod:`attnlimits.sde.joint_claims`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from attnlimits import plots

QUANTITY_TITLES = {
    "mse_layers": "sup over layer times",
    "mse_path": "sup over the interpolated path",
}
ROW_KEYS = ("activation", "d", "sigma", "attention_sign", "grid")


def _label(keys: Mapping[str, Any]) -> str:
    return (
        f"{keys['activation']}, d={int(keys['d'])}, σ={float(keys['sigma']):g}, "
        f"sign {int(keys['attention_sign'])}, {keys['grid']} grid"
    )


def _best(laws: pd.DataFrame, keys: Mapping[str, Any], quantity: str) -> str:
    rows = plots.select(laws, **keys, quantity=quantity)
    rows = rows[np.isfinite(rows["aic"].astype(float))]
    return "theorem" if rows.empty else str(rows.loc[rows["aic"].astype(float).idxmin(), "law"])


def joint_figure(tables: Mapping[str, pd.DataFrame]) -> plt.Figure:
    """One panel per joint store and quantity: E(L, x) against L, one colour per m (or N; m =
    inf: infinite width), hollow where left out of the fits; solid lines the law of lowest AIC,
    dotted the theorem's law θ₁ log L / L + θ₂ g."""
    points = tables.get("joint_points", pd.DataFrame())
    if points is None or points.empty:
        return plots.empty_figure("no joint store")
    laws = tables.get("joint_laws", pd.DataFrame())
    stores = plots.combos(points, ROW_KEYS)
    fig, axes = plots.panels(len(stores), len(QUANTITY_TITLES), width=4.8, height=3.6)
    for i, keys in enumerate(stores):
        for j, (quantity, title) in enumerate(QUANTITY_TITLES.items()):
            ax = axes[i, j]
            pts = plots.select(points, **keys, quantity=quantity)
            best = _best(laws, keys, quantity)
            values = sorted(pts["x"].astype(float).unique())
            colours = plots.palette(values)
            for x in values:
                at = pts[pts["x"].astype(float) == x].sort_values("L")
                axis = str(at["axis"].iloc[0])
                name = f"{axis} = ∞" if not np.isfinite(x) else f"{axis} = {x:g}"
                plots.draw_points(
                    ax, at["L"], at["y"], at["y_low"], at["y_high"], colours[x], name,
                    at["excluded"].astype(bool).to_numpy(),
                )  # fmt: skip
                ax.plot(at["L"], at[best], "-", color=colours[x], lw=1.1)
                ax.plot(at["L"], at["theorem"], ":", color=colours[x], lw=1.0)
            plots.log_axes(ax, "L (layers)", "mean-square error E", ticks=pts["L"])
            ax.set_title(f"{_label(keys)}\n{title}; solid: {best}, dotted: theorem", fontsize=8)
            ax.legend(fontsize="xx-small")
    fig.suptitle("Joint grids against one reference: data and fitted laws")
    return fig
