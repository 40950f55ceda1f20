"""Tables of experiment ``adamw`` beyond the depth × heads and tokens fits (docs/mathematics.md,
``adamw``).

The d-slopes are those of the studies (``adamw.dims``).

From the grid statistics (``adamw.claims.grid_statistics``):

- ``cells``: one row per simulated cell, the worst-step and last-step errors of X, P and θ with
  their bootstrap intervals and the limit's own errors (the data of the d and ε figures);
- ``steps``: one row per cell and training step k, the error, bias and fluctuation of X and P and
  the parameter error after step k, with intervals, and the mean loss of the discrete model and the
  loss of the limit (the error-vs-k and training-curve figures);
- ``eps``: along every line of cells that differ only in Adam's ε, the worst-step error of X, P, θ,
  the implied constant C = err / (L⁻¹ + L^(−1/3) H^(−1/2)) of the predicted rate, its ratio to the
  largest ε's constant, the local slope d log err / d log ε towards the next larger ε, and whether
  the limit is accurate enough (err ≥ ``solver_margin`` × its own error by halving). As ε → 0 the
  standard update m̂/(√v̂ + ε) tends to sign(g) entry by entry: the limit's θ-paths stop being
  Lipschitz in t and its own error by halving stops shrinking, which the last column shows.

Cells whose error is below ``solver_margin`` × the limit's own error are excluded from the fits.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from attnlimits.adamw.grid import CELL_DIMS
from attnlimits.analysis.statistics import replicate_interval
from attnlimits.p1.rates import as_python

TRACKED: tuple[str, ...] = ("x", "p", "theta")
MIN_EPS = 2
#: Per-step statistics in ``steps``: (variable, statistic).
STEP_COLUMNS: tuple[tuple[str, str], ...] = (
    *((v, q) for v in ("x", "p") for q in ("err", "bias", "fluct")),
    ("theta", "err"),
)


def _own_error(var: str) -> str:
    """The limit's own error that bounds how well ``var`` can be measured."""
    return f"limit_error_{var}"


def _valid_cells(stats: xr.Dataset) -> list[dict[str, Any]]:
    """The coordinates of every simulated cell (not NaN on replicate 0)."""
    valid = stats["x_worst_err"].isel(replicate=0, drop=True).transpose(*CELL_DIMS).notnull()
    return [
        {dim: as_python(stats[dim].values[i]) for dim, i in zip(CELL_DIMS, index, strict=True)}
        for index in zip(*np.nonzero(valid.values), strict=True)
    ]


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = replicate_interval(np.asarray(values), level)
    return float(lo), float(hi)


def cells_table(stats: xr.Dataset, level: float) -> pd.DataFrame:
    """The ``cells`` table of the module docstring."""
    rows = []
    for key in _valid_cells(stats):
        cell = stats.sel(key)
        row: dict[str, Any] = dict(key)
        for var in TRACKED:
            for sel in ("worst", "last"):
                values = cell[f"{var}_{sel}_err"].values
                lo, hi = _interval(values, level)
                name = f"{var}_{sel}"
                row.update({name: values[0], f"{name}_low": lo, f"{name}_high": hi})
        for var in TRACKED:
            row[_own_error(var)] = float(cell[_own_error(var)])
        rows.append(row)
    return pd.DataFrame(rows)


def steps_table(stats: xr.Dataset, level: float) -> pd.DataFrame:
    """The ``steps`` table of the module docstring."""
    rows = []
    for key in _valid_cells(stats):
        cell = stats.sel(key)
        for k in cell["step"].values:
            at = cell.sel(step=k)
            row: dict[str, Any] = {**key, "step": int(k)}
            row["loss"] = float(at["loss"])
            row["loss_limit"] = float(at["loss_limit"])
            for var, q in STEP_COLUMNS:
                values = at[f"{var}_step_{q}"].values
                lo, hi = _interval(values, level)
                row.update({f"{var}_{q}": values[0], f"{var}_{q}_low": lo, f"{var}_{q}_high": hi})
            rows.append(row)
    return pd.DataFrame(rows)


def _lines(stats: xr.Dataset, swept: str, minimum: int):
    """(fixed coordinates, swept values) of every line of at least ``minimum`` valid cells."""
    valid = stats["x_worst_err"].isel(replicate=0, drop=True).notnull()
    others = [dim for dim in CELL_DIMS if dim != swept]
    for values in itertools.product(*(stats[dim].values for dim in others)):
        fixed = {dim: as_python(v) for dim, v in zip(others, values, strict=True)}
        line = valid.sel(fixed).values
        if line.sum() >= minimum:
            yield fixed, stats[swept].values[line]


def rate(L: float, H: float) -> float:
    """L⁻¹ + L^(−1/3) H^(−1/2), the rate of P1's bound (constants 1, docs/mathematics.md)."""
    return 1.0 / L + L ** (-1.0 / 3.0) * H ** (-0.5)


def eps_table(stats: xr.Dataset, options: Mapping[str, Any]) -> pd.DataFrame:
    """The ``eps`` table of the module docstring."""
    level = float(options["level"])
    margin = float(options["solver_margin"])
    rows = []
    for fixed, epss in _lines(stats, "eps", MIN_EPS):
        line = stats.sel(fixed)
        scale = rate(fixed["L"], fixed["H"])
        for var in TRACKED:
            top = float(line[f"{var}_worst_err"].sel(eps=epss.max(), replicate=0))
            previous = None
            for eps in sorted(epss, reverse=True):
                cell = line.sel(eps=eps)
                values = cell[f"{var}_worst_err"].values
                lo, hi = _interval(values, level)
                own = float(cell[_own_error(var)])
                slope = (
                    np.log(values[0] / previous[1]) / np.log(eps / previous[0])
                    if previous is not None
                    else np.nan
                )
                rows.append(
                    {
                        **fixed,
                        "eps": float(eps),
                        "variable": var,
                        "err": values[0],
                        "err_low": lo,
                        "err_high": hi,
                        "constant": values[0] / scale,
                        "ratio_to_largest_eps": values[0] / top,
                        "local_slope_eps": slope,
                        "limit_error": own,
                        "limit_accurate": bool(values[0] >= margin * own),
                    }
                )
                previous = (eps, values[0])
    return pd.DataFrame(rows)
