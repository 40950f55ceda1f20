"""Grid statistics and claims of experiment ``adamw`` (MODELS.md, ``adamw`` and "Rate fitting").

``grid_statistics`` gathers the cell statistics (``adamw.statistics``) of every cell store into one
dataset over (variant, eps, N, d, beta, L, H, replicate), NaN outside the configured grids.
``adamw_claims`` fits them with the machinery of ``heads`` (``heads.claims.claims_tables``): for
each tracked variable (``x`` the forward states, ``p`` the backpropagated variables) and each step
selection (``worst``: max over k ≤ K, the theorem's quantity; ``last``: after step K) the same
claims as ``heads`` (bias exponent in L at the largest H, fluctuation exponent in H of the joint
fit, e_∞ and err not growing with N), with the columns ``variable`` and ``selection`` telling them
apart; ``claims`` also holds the block-wise d-claims of ``adamw.sweeps``, which adds the tables
``dims``, ``eps``, ``cells`` and ``steps``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from attnlimits.adamw import sweeps
from attnlimits.adamw.grid import CELL_DIMS, Cell
from attnlimits.adamw.runs import LIMIT_ERRORS
from attnlimits.adamw.statistics import (
    SELECTIONS,
    STATS,
    STORE_VARIABLES,
    VARIABLES,
    cell_statistics,
    step_statistics,
)
from attnlimits.analysis.statistics import STATISTICS
from attnlimits.p1.claims import CLAIMS as P1_CLAIMS
from attnlimits.p1.claims import DIMENSION_CLAIM
from attnlimits.p1.rates import Layout, claims_tables

LAYOUT = Layout("adamw", CELL_DIMS, constants=("variable", "selection"))
#: P1's claims, for the states X and the backpropagated variables P, and the d-claim.
CLAIMS = (*P1_CLAIMS, DIMENSION_CLAIM)
_WHAT = {"x": "states X", "p": "backpropagated variables P", "theta": "parameters"}
_WHEN = {"worst": "worst step k <= K", "last": "after the last step K", "step": "after step k"}


def _long_name(name: str) -> str:
    """``<var>_<selection>_<stat>`` → a readable description (module ``adamw.statistics``)."""
    var, sel, stat = name.split("_", 2)
    what = "parameter error" if var == "theta" else STATISTICS[stat]
    return f"{what}, {_WHAT[var]}, {_WHEN[sel]}"


def grid_statistics(cells: Sequence[tuple[Cell, xr.Dataset]], weights: np.ndarray) -> xr.Dataset:
    """Every statistic of ``adamw.statistics`` for every (cell, store), over the cell dimensions
    and ``replicate`` (per-step ones also over ``step``); per cell the limit's own errors by
    halving (``runs.LIMIT_ERRORS``: ``limit_error_<var>`` per variable) and the training curves
    (``loss``: mean over seeds of the discrete loss, ``loss_limit``: the limit's), over ``step``."""
    if not cells:
        raise ValueError("no cells")
    coords = {
        dim: sorted({getattr(cell, dim) for cell, _ in cells}) for dim in CELL_DIMS
    }  # fmt: skip
    shape = tuple(len(v) for v in coords.values())
    steps = cells[0][1].sizes["step"]
    if any(store.sizes["step"] != steps for _, store in cells):
        raise ValueError("the cell stores have different numbers of training steps")
    replicates = np.asarray(weights).shape[0]
    data: dict[str, np.ndarray] = {}
    per_step: dict[str, np.ndarray] = {}
    curves = {name: np.full((*shape, steps), np.nan) for name in ("loss", "loss_limit")}
    own = {name: np.full(shape, np.nan) for name in LIMIT_ERRORS}
    for cell, lazy in cells:
        store = lazy[[*STORE_VARIABLES, "loss", "loss_limit"]].load()  # read once, used twice
        index = tuple(coords[dim].index(getattr(cell, dim)) for dim in CELL_DIMS)
        for name, value in cell_statistics(store, weights).items():
            if name not in data:  # allocated once (a grid-sized array per variable)
                data[name] = np.full((*shape, replicates), np.nan)
            data[name][index] = value
        for name, value in step_statistics(store, weights).items():
            if name not in per_step:
                per_step[name] = np.full((*shape, steps, replicates), np.nan)
            per_step[name][index] = value
        curves["loss"][index] = store["loss"].mean("seed").values
        curves["loss_limit"][index] = store["loss_limit"].values
        for name in own:
            own[name][index] = float(store.attrs[name])
    units = {"units": "1"}
    names = {
        "loss": "loss J, mean over seeds",
        "loss_limit": "loss J of the limit",
        "limit_error": "limit's own error in X and P (halving)",
        "limit_error_x": "limit's own error in X (halving)",
        "limit_error_p": "limit's own error in P (halving)",
        "limit_error_theta": "limit's own error in theta (halving)",
    }
    variables = {
        name: ((*CELL_DIMS, "replicate"), value, {"long_name": _long_name(name), **units})
        for name, value in data.items()
    }
    for name, value in per_step.items():
        attrs = {"long_name": _long_name(name), **units}
        variables[name] = ((*CELL_DIMS, "step", "replicate"), value, attrs)
    for name, value in curves.items():
        variables[name] = ((*CELL_DIMS, "step"), value, {"long_name": names[name], **units})
    for name, value in own.items():
        variables[name] = (CELL_DIMS, value, {"long_name": names[name], **units})
    return xr.Dataset(
        variables,
        coords={**coords, "step": np.arange(steps), "replicate": np.arange(replicates)},
    )


def adamw_claims(stats: xr.Dataset, options: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """The tables of ``heads.claims`` for each (variable, selection), stacked, with the block-wise
    d-claims added to ``claims``; and the tables of ``adamw.sweeps`` (module docstrings)."""
    parts: dict[str, list[pd.DataFrame]] = {}
    for var in VARIABLES:
        for sel in SELECTIONS:
            names = {f"{var}_{sel}_{q}": q for q in STATS}
            own = f"limit_error_{var}"  # each variable against the limit's own error in it
            sub = stats[[*names, own]].rename({**names, own: "limit_error"})
            constants = (("variable", var), ("selection", sel))
            for table, frame in claims_tables(sub, options, LAYOUT, constants).items():
                parts.setdefault(table, []).append(frame)
    tables = {
        table: pd.concat([f for f in frames if not f.empty] or frames[:1], ignore_index=True)
        for table, frames in parts.items()
    }
    dims, dim_claims = sweeps.dims_tables(stats, options)
    if dim_claims:
        claims = pd.DataFrame(dim_claims, columns=tables["claims"].columns)
        tables["claims"] = pd.concat(
            [f for f in (tables["claims"], claims) if not f.empty], ignore_index=True
        )
    level = float(options["level"])
    return {
        **tables,
        "dims": dims,
        "eps": sweeps.eps_table(stats, options),
        "cells": sweeps.cells_table(stats, level),
        "steps": sweeps.steps_table(stats, level),
    }
