"""Statistics, fits and claims of the worst-case-input search of experiment ``heads`` (the stores
of :mod:`attnlimits.heads.adversarial`).

Per cell and bootstrap replicate (seed weights w_s of ``analysis.statistics.replicate_weights``;
replicate 0 the sample), with e₂(X, s) stored per seed s and input X:

- ``err_adv`` = max over every input the search reached (starts and ends of all restarts) of
  (Σ_s w_s e₂(X, s)²)^(1/2): the supremum over inputs of the L² error over the heads, which P1's
  rate bounds;
- ``err_random``: the same over the S test inputs only (the random-input analogue);
- ``err_random_cell``: the cell error of docs/mathematics.md (``heads``) at the test inputs,
  (Σ_s w_s max_X e₂²)^(1/2), the ``err`` of the random-input grid at the same cell and seeds;
- ``ratio`` = err_adv / err_random; ``const_adv`` and ``const_random``: the errors over the
  theorem's rate L⁻¹ + L^(−1/3) H^(−1/2), the constant C of the bound.

The convergence check (replicate 0): ``err_half``, the search from the test inputs and the first
half of the random restarts, stopped after half the steps; ``gain`` = err_adv / err_half − 1
(``gain_steps``: all steps, half the restarts; ``gain_restarts``: all restarts, half the steps),
``converged`` when ``gain`` ≤ ``adversarial.tolerance``. A claim on a grid with a cell not
converged is unresolved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from attnlimits.analysis import fits
from attnlimits.analysis.statistics import CELL_DIMS, replicate_interval, replicate_weights
from attnlimits.p1.rates import Grid, Tables, as_python, find_grids
from attnlimits.storage import open_dataset

#: The per-replicate quantities of a cell (module docstring).
QUANTITIES = ("err_adv", "err_random", "err_random_cell", "ratio", "const_adv", "const_random")
#: The quantities whose exponents in L and H are fitted side by side.
COMPARED = ("err_adv", "err_random", "ratio")
CHECK_COLUMNS = ["err_half", "gain", "gain_steps", "gain_restarts", "tolerance", "converged"]
POINT_COLUMNS = [
    "grid", *CELL_DIMS,
    *(c for q in QUANTITIES for c in (q, f"{q}_low", f"{q}_high")),
    "limit_error", "excluded_solver", *CHECK_COLUMNS,
]  # fmt: skip


def bound_rate(L: Any, H: Any) -> Any:
    """The rate of P1's bound, L⁻¹ + L^(−1/3) H^(−1/2)."""
    return 1.0 / L + L ** (-1.0 / 3.0) * H ** (-0.5)


def cell_replicates(ds: xr.Dataset, weights: np.ndarray) -> dict[str, np.ndarray]:
    """The quantities of the module docstring of one search store, per replicate (B+1,), and
    the convergence check (scalars)."""
    squares = {
        name: ds[name].transpose("seed", "restart").values.astype(np.float64) ** 2
        for name in ("e2", "e2_start")
    }
    tests = int(ds.attrs["test_inputs"])
    end, start = weights @ squares["e2"], weights @ squares["e2_start"]  # (B+1, K)
    adv = np.sqrt(np.maximum(end.max(1), start.max(1)))
    random = np.sqrt(start[:, :tests].max(1))
    random_cell = np.sqrt(weights @ squares["e2_start"][:, :tests].max(1))
    rate = bound_rate(float(ds.attrs["L"]), float(ds.attrs["H"]))
    half_restarts = tests + (ds.sizes["restart"] - tests) // 2
    objective_half = ds["objective_half"].values
    half = float(objective_half[:half_restarts].max())
    return {
        "err_adv": adv,
        "err_random": random,
        "err_random_cell": random_cell,
        "ratio": adv / random,
        "const_adv": adv / rate,
        "const_random": random / rate,
        "err_half": half,
        "gain": float(adv[0]) / half - 1.0,
        "gain_steps": float(np.sqrt(end[0, :half_restarts].max())) / half - 1.0,
        "gain_restarts": float(objective_half.max()) / half - 1.0,
        "limit_error": float(ds["limit_error"].max()),
    }


def adversarial_statistics(
    cells: Sequence[Mapping[str, Any]], stores: Sequence[str | Path], options: Mapping[str, Any]
) -> xr.Dataset:
    """The quantities of every search store over the cell dimensions and ``replicate``, with
    ``limit_error``, the convergence check and ``present``; ``cells`` the key fields of each store,
    ``options`` the fit options (``bootstrap``, ``bootstrap_seed``) and ``tolerance``."""
    coords = {dim: sorted({cell[dim] for cell in cells}) for dim in CELL_DIMS}
    shape = [len(values) for values in coords.values()]
    replicates = int(options["bootstrap"]) + 1
    data: dict[str, np.ndarray] = {q: np.full([*shape, replicates], np.nan) for q in QUANTITIES}
    scalars = ("limit_error", *CHECK_COLUMNS[:4])
    data.update({name: np.full(shape, np.nan) for name in scalars})
    present = np.zeros(shape, dtype=bool)
    for cell, store in zip(cells, stores, strict=True):
        ds = open_dataset(store, chunks=None)
        ds.attrs.update(L=cell["L"], H=cell["H"])
        weights = replicate_weights(ds.sizes["seed"], replicates - 1, options["bootstrap_seed"])
        found = cell_replicates(ds, weights)
        at = tuple(coords[dim].index(cell[dim]) for dim in CELL_DIMS)
        for name, value in found.items():
            data[name][at] = value
        present[at] = True
    dims = list(CELL_DIMS)
    variables = {q: ([*dims, "replicate"], data[q]) for q in QUANTITIES}
    variables.update({name: (dims, data[name]) for name in scalars})
    stats = xr.Dataset(variables, coords=coords)
    stats["present"] = (dims, present)
    stats["converged"] = present & (stats["gain"] <= float(options["tolerance"]))
    return stats


def _flags(stats: xr.Dataset, options: Mapping[str, Any]) -> xr.Dataset:
    """``excluded_solver`` as in the random-input grid (``p1.rates.with_flags``): the random-input
    error (the smaller) within ``solver_margin`` of the limit solve's own error."""
    first = stats["err_random"].isel(replicate=0, drop=True)
    excluded = (first < options["solver_margin"] * stats["limit_error"]).fillna(False)
    return stats.assign(excluded_solver=excluded)


def _points(grid: Grid, cells: xr.Dataset, options: Mapping[str, Any]) -> list[dict[str, Any]]:
    level, rows = float(options["level"]), []
    stacked = cells.stack(point=["L", "H"])
    for j in range(stacked.sizes["point"]):
        cell = stacked.isel(point=j)
        row = grid.keys(L=as_python(cell["L"].values), H=as_python(cell["H"].values))
        for q in QUANTITIES:
            values = cell[q].values
            lo, hi = replicate_interval(values, level)
            row.update({q: values[0], f"{q}_low": float(lo), f"{q}_high": float(hi)})
        row["limit_error"] = float(cell["limit_error"])
        row["excluded_solver"] = bool(cell["excluded_solver"])
        row.update({name: float(cell[name]) for name in CHECK_COLUMNS[:4]})
        row["tolerance"] = float(options["tolerance"])
        row["converged"] = bool(cell["converged"])
        rows.append(row)
    return rows


def _fine(cells: xr.Dataset, quantity: str, along: str, level: float) -> tuple[float, ...]:
    """The local slope of ``quantity`` at the fine end of ``along``, the other axis at its
    largest value."""
    other = "H" if along == "L" else "L"
    line = cells.isel({other: -1})
    return fits.fine_end_slope(
        line[along].values,
        line[quantity].transpose("replicate", along).values,
        line["excluded_solver"].transpose(along).values,
        level,
    )


def _grid(tables: Tables, grid: Grid, stats: xr.Dataset) -> list[dict[str, Any]]:
    """Fits and claims of one depth × heads grid; the ``resolved``/``note`` of its claims."""
    cells = grid.cells(stats)
    solver = cells["excluded_solver"]
    for quantity in COMPARED:
        for swept, other in (("L", "H"), ("H", "L")):
            for value in grid.swept[other]:
                fixed = {other: as_python(value)}
                series = cells.sel(fixed)
                tables.power_law(grid, series, quantity, [swept], solver.sel(fixed), fixed)
    joint = {
        q: tables.power_law(grid, cells, q, ["L", "H"], solver, fit_name="joint")
        for q in ("const_adv", "const_random", "ratio")
    }
    for claim, quantity in (("adv_bound", "const_adv"), ("adv_ratio", "ratio")):
        for index, swept in enumerate(("L", "H")):
            fine = _fine(cells, quantity, swept, tables.level)
            fit = joint[quantity]
            tables.claim(grid, f"{claim}_{swept}", quantity, swept, fit, index, 0.0, fine)
    converged = cells["converged"].stack(point=["L", "H"])
    missed = [
        f"L={as_python(converged['L'].values[j])}, H={as_python(converged['H'].values[j])}"
        for j in np.flatnonzero(~converged.values)
    ]
    resolved = not missed
    note = (
        ""
        if resolved
        else ("search not converged (gain above adversarial.tolerance) at " + "; ".join(missed))
    )
    return [{"resolved": resolved, "note": note}] * 4


def exponents_table(slopes: pd.DataFrame) -> pd.DataFrame:
    """The power-law exponents of :data:`COMPARED` side by side: one row per grid, swept
    parameter and value of the other, with ``<quantity>``, ``_low``, ``_high`` columns."""
    fitted = slopes[slopes["fit"] == "power_law"]
    keys = [c for c in slopes.columns if c in ("grid", *CELL_DIMS)] + ["swept"]
    rows = []
    for _, group in fitted.groupby(keys, dropna=False, sort=False):
        row = {k: group.iloc[0][k] for k in keys}
        for q in COMPARED:
            found = group[group["quantity"] == q]
            for column, name in (("slope", q), ("ci_low", f"{q}_low"), ("ci_high", f"{q}_high")):
                row[name] = float(found.iloc[0][column]) if len(found) else np.nan
        row["n_points"] = int(group["n_points"].min())
        rows.append(row)
    columns = [*keys, *(c for q in COMPARED for c in (q, f"{q}_low", f"{q}_high")), "n_points"]
    frame = pd.DataFrame(rows, columns=columns)
    for col in ("N", "d", "L", "H"):
        frame[col] = frame[col].astype("Int64")
    return frame


def adversarial_tables(stats: xr.Dataset, options: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """The tables of the search (``adversarial``, ``adversarial_exponents``,
    ``adversarial_slopes``, ``adversarial_lines``) and its ``claims`` rows (with ``resolved``,
    ``note``); ``options`` the fit options with ``tolerance``."""
    stats = _flags(stats, options)
    tables = Tables(options)
    points, checks = [], []
    for grid in find_grids(stats):
        if grid.name == "depth_heads":
            points += _points(grid, grid.cells(stats), options)
            checks += _grid(tables, grid, stats)
    frames = tables.frames()
    claims = frames["claims"].assign(
        resolved=pd.Series([c["resolved"] for c in checks], dtype=object),
        note=pd.Series([c["note"] for c in checks], dtype=object),
    )
    point_frame = pd.DataFrame(points, columns=POINT_COLUMNS)
    for col in ("N", "d", "L", "H"):
        point_frame[col] = point_frame[col].astype("Int64")
    return {
        "claims": claims,
        "adversarial": point_frame,
        "adversarial_exponents": exponents_table(frames["slopes"]),
        "adversarial_slopes": frames["slopes"],
        "adversarial_lines": frames["lines"],
    }


def adversarial_report(
    cells: Sequence[Mapping[str, Any]],
    stores: Sequence[str | Path],
    options: Mapping[str, Any],
    claims: pd.DataFrame,
) -> dict[str, pd.DataFrame]:
    """The tables of :func:`adversarial_tables` of the search stores, its claims rows after
    ``claims`` (those of the random-input grids, unchanged)."""
    found = adversarial_tables(adversarial_statistics(cells, stores, options), options)
    return {**found, "claims": pd.concat([claims, found["claims"]], ignore_index=True)}
