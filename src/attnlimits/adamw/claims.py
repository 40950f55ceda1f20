"""Grid statistics and claims of experiment ``adamw`` (MODELS.md, ``adamw`` and "Rate fitting").

``grid_statistics`` gathers the cell statistics (``adamw.statistics``) of every cell store into one
dataset over (variant, eps, N, d, beta, L, H, replicate), NaN outside the configured grids.
``adamw_claims`` fits them with the machinery of ``heads`` (``heads.claims.claims_tables``): for
each tracked variable (``x`` the forward states, ``p`` the backpropagated variables) and each step
selection (``worst``: max over k ≤ K, the theorem's quantity; ``last``: after step K) the same
claims as ``heads`` (bias exponent in L at the largest H, fluctuation exponent in H of the joint
fit, e_∞ and err not growing with N), with the columns ``variable`` and ``selection`` telling them
apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from attnlimits.adamw.grid import Cell
from attnlimits.adamw.statistics import SELECTIONS, STATS, VARIABLES, cell_statistics
from attnlimits.heads.claims import Layout, claims_tables
from attnlimits.statistics import STATISTICS

CELL_DIMS: tuple[str, ...] = ("variant", "eps", "N", "d", "beta", "L", "H")
LAYOUT = Layout("adamw", CELL_DIMS, constants=("variable", "selection"))
_WHAT = {"x": "states X", "p": "backpropagated variables P", "theta": "parameters"}
_WHEN = {"worst": "worst step k <= K", "last": "after the last step K"}


def _long_name(name: str) -> str:
    """``<var>_<selection>_<stat>`` → a readable description (module ``adamw.statistics``)."""
    var, sel, stat = name.split("_", 2)
    what = "parameter error" if var == "theta" else STATISTICS[stat]
    return f"{what}, {_WHAT[var]}, {_WHEN[sel]}"


def grid_statistics(cells: Sequence[tuple[Cell, xr.Dataset]], weights: np.ndarray) -> xr.Dataset:
    """Every statistic of ``adamw.statistics`` for every (cell, store), over the cell dimensions
    and ``replicate``; ``limit_error`` (the limit's own error by halving) per cell."""
    if not cells:
        raise ValueError("no cells")
    coords = {
        dim: sorted({getattr(cell, dim) for cell, _ in cells}) for dim in CELL_DIMS
    }  # fmt: skip
    shape = tuple(len(v) for v in coords.values())
    replicates = np.asarray(weights).shape[0]
    data: dict[str, np.ndarray] = {}
    limit = np.full(shape, np.nan)
    for cell, store in cells:
        index = tuple(coords[dim].index(getattr(cell, dim)) for dim in CELL_DIMS)
        for name, value in cell_statistics(store, weights).items():
            data.setdefault(name, np.full((*shape, replicates), np.nan))[index] = value
        limit[index] = float(store.attrs["limit_error"])
    units = {"units": "1"}
    out = xr.Dataset(
        {
            name: ((*CELL_DIMS, "replicate"), value, {"long_name": _long_name(name), **units})
            for name, value in data.items()
        },
        coords={**coords, "replicate": np.arange(replicates)},
    )
    out["limit_error"] = (CELL_DIMS, limit, {"long_name": "limit's own error (halving)", **units})
    return out


def adamw_claims(stats: xr.Dataset, options: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """The tables of ``heads.claims`` for each (variable, selection), stacked (module docstring)."""
    parts: dict[str, list[pd.DataFrame]] = {}
    for var in VARIABLES:
        for sel in SELECTIONS:
            names = {f"{var}_{sel}_{q}": q for q in STATS}
            sub = stats[[*names, "limit_error"]].rename(names)
            constants = (("variable", var), ("selection", sel))
            for table, frame in claims_tables(sub, options, LAYOUT, constants).items():
                parts.setdefault(table, []).append(frame)
    return {
        table: pd.concat([f for f in frames if not f.empty] or frames[:1], ignore_index=True)
        for table, frames in parts.items()
    }
