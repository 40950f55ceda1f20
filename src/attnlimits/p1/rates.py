"""Rate analysis of P1's depth × heads and tokens grids (docs/mathematics.md, ``heads``, ``adamw``
and "How rates are fitted"), shared by the experiments ``heads`` and ``adamw``.

From per-cell statistics (:mod:`attnlimits.analysis.statistics`) over the cell dimensions and
``replicate``, :func:`claims_tables` finds the grids present, fits the rates and returns the tables:

- ``claims``: one row per claim and grid, with the fitted exponent, its interval and the evidence
  the verdict engine needs (:mod:`attnlimits.analysis.claims`);
- ``slopes``: every power-law fit (err vs L per H, err vs H per L, bias vs L at the largest H,
  the joint fluctuation fit, err_inf and err vs N);
- ``lines``: those fits evaluated along their swept parameter, with bootstrap bands (for plots);
- ``points``: the data of every grid cell, with bootstrap intervals and exclusion marks;
- ``two_term``: the two-term laws a L^(−p) + b L^(−q) H^(−r) (bound, CLT, free exponents);
- ``local_slopes``: slopes between neighbouring grid points.

A depth × heads grid is a fixed setting of the other cell dimensions with a full L × H block of
cells, at least 3 values of L and 2 of H; a tokens grid is a fixed setting of the others with at
least 3 values of N.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from attnlimits.analysis import fits
from attnlimits.analysis.statistics import CELL_DIMS, replicate_interval
from attnlimits.analysis.tables import line_rows

QUANTITIES = ("err", "err_inf", "bias", "bias_raw", "noise_floor", "fluct")
MIN_DEPTHS, MIN_HEADS, MIN_TOKENS = 3, 2, 3
#: Number of points of each fitted line in the ``lines`` table.
LINE_POINTS = 25
#: Bootstrap replicates used for the intervals of the two-term fits (nonlinear, slower).
TWO_TERM_REPLICATES = 100
#: Reference exponents per (quantity, swept parameter), drawn as guides in the figures.
REFERENCE_SLOPES: dict[tuple[str, str], tuple[float, ...]] = {
    ("err", "L"): (-1.0, -1.0 / 3.0),
    ("err", "H"): (-0.5,),
    ("bias", "L"): (-1.0,),
    ("fluct", "L"): (-0.5, -1.0 / 3.0),
    ("fluct", "H"): (-0.5,),
    ("err_inf", "N"): (0.0,),
    ("err", "N"): (0.0,),
}


@dataclass(frozen=True)
class Layout:
    """The cell dimensions of an experiment's statistics and the key columns of its tables.

    ``cell_dims`` hold N, d, β, L and H and the experiment's own leading dimensions (heads: mask,
    normalisation); ``constants`` name key columns that are constant over one call of
    :func:`claims_tables` (e.g. which variable of a trained model the statistics describe).
    """

    experiment: str
    cell_dims: tuple[str, ...]
    constants: tuple[str, ...] = ()

    @property
    def keys(self) -> list[str]:
        return ["grid", *self.constants, *self.cell_dims]

    @property
    def depth_fixed(self) -> list[str]:
        """The dimensions fixed along a depth × heads grid."""
        return [dim for dim in self.cell_dims if dim not in ("L", "H")]

    @property
    def tokens_fixed(self) -> list[str]:
        """The dimensions fixed along a tokens grid."""
        return [dim for dim in self.cell_dims if dim != "N"]

    def columns(self) -> dict[str, list[str]]:
        keys = self.keys
        return {
            "claims": [
                "experiment", "claim", *keys, "quantity", "swept", "predicted", "fitted",
                "ci_low", "ci_high", "n_points", "n_excluded", "fine_slope", "fine_low",
                "fine_high",
            ],
            "slopes": [
                *keys, "quantity", "swept", "fit", "slope", "ci_low", "ci_high", "intercept",
                "intercept_low", "intercept_high", "n_points", "n_excluded",
            ],
            "lines": [*keys, "quantity", "swept", "fit", "x", "y", "y_low", "y_high"],
            "points": [
                *keys,
                *itertools.chain.from_iterable((q, f"{q}_low", f"{q}_high") for q in QUANTITIES),
                "limit_error", "excluded_solver", "bias_below_snr",
            ],
            "two_term": [
                *keys, "quantity", "form",
                *itertools.chain.from_iterable((k, f"{k}_low", f"{k}_high") for k in "abpqr"),
                "free", "rms_log", "aic", "delta_aic", "supported", "n_points", "n_excluded",
            ],
            "local_slopes": [
                *keys, "quantity", "swept", "x_low", "x_high", "slope", "ci_low", "ci_high",
            ],
        }  # fmt: skip


HEADS_LAYOUT = Layout("heads", CELL_DIMS)
KEYS = HEADS_LAYOUT.keys
COLUMNS: dict[str, list[str]] = HEADS_LAYOUT.columns()


@dataclass(frozen=True)
class Grid:
    """A block of cells: ``fixed`` cell coordinates and the sorted values of the ``swept`` ones."""

    name: str
    fixed: dict[str, Any]
    swept: dict[str, np.ndarray]
    layout: Layout = HEADS_LAYOUT
    constants: tuple[tuple[str, Any], ...] = ()

    def keys(self, **extra: Any) -> dict[str, Any]:
        """Key columns of a table row: fixed coordinates, ``extra`` ones, NA for swept ones."""
        out: dict[str, Any] = {"grid": self.name, **dict(self.constants)}
        out.update(dict.fromkeys(self.layout.cell_dims, pd.NA))
        out.update(self.fixed)
        out.update(extra)
        return out

    def cells(self, stats: xr.Dataset) -> xr.Dataset:
        """The grid's cells of ``stats``, dims (*swept, replicate)."""
        sub = stats.sel(self.fixed).sel({k: v for k, v in self.swept.items()})
        return sub.transpose(*self.swept, "replicate", ...)


def with_flags(stats: xr.Dataset, options: Mapping[str, Any]) -> xr.Dataset:
    """Add ``excluded_solver`` (err < solver_margin × limit_error, replicate 0) and
    ``bias_below_snr`` (bias ≤ bias_min_snr × noise_floor, replicate 0) over the cell dims."""
    first = stats.isel(replicate=0, drop=True)
    limit = stats["limit_error"] if "limit_error" in stats else xr.zeros_like(first["err"])
    excluded = (first["err"] < options["solver_margin"] * limit).fillna(False)
    below = ~(first["bias"] > options["bias_min_snr"] * first["noise_floor"])
    return stats.assign(excluded_solver=excluded, bias_below_snr=below)


def as_python(value: Any) -> Any:
    """Plain Python scalar of a numpy coordinate value."""
    return value.item() if hasattr(value, "item") else value


def _combos(stats: xr.Dataset, dims: list[str]):
    for values in itertools.product(*(stats[dim].values for dim in dims)):
        yield {dim: as_python(v) for dim, v in zip(dims, values, strict=True)}


def find_grids(
    stats: xr.Dataset,
    layout: Layout = HEADS_LAYOUT,
    constants: tuple[tuple[str, Any], ...] = (),
) -> list[Grid]:
    """Depth × heads grids, then tokens grids, present in ``stats`` (module docstring)."""
    if "present" in stats:  # the cells that were run, recorded (the consolidated heads store)
        valid = stats["present"]
    else:
        valid = stats["err"].isel(replicate=0, drop=True).notnull()
    grids = []
    for fixed in _combos(stats, layout.depth_fixed):
        block = valid.sel(fixed).transpose("L", "H").values
        rows = block.sum(axis=1) >= MIN_HEADS
        cols = block[rows].all(axis=0) if rows.any() else np.zeros(block.shape[1], bool)
        rows &= block[:, cols].all(axis=1)
        if rows.sum() >= MIN_DEPTHS and cols.sum() >= MIN_HEADS:
            swept = {"L": np.sort(stats["L"].values[rows]), "H": np.sort(stats["H"].values[cols])}
            grids.append(Grid("depth_heads", fixed, swept, layout, constants))
    for fixed in _combos(stats, layout.tokens_fixed):
        line = valid.sel(fixed).values
        if line.sum() >= MIN_TOKENS:
            swept = {"N": np.sort(stats["N"].values[line])}
            grids.append(Grid("tokens", fixed, swept, layout, constants))
    return grids


class _Tables:
    """Row collector for the tables of :data:`COLUMNS`."""

    def __init__(self, options: Mapping[str, Any], layout: Layout = HEADS_LAYOUT):
        self.options = options
        self.layout = layout
        self.columns = layout.columns()
        self.level = float(options["level"])
        self.rows: dict[str, list[dict[str, Any]]] = {name: [] for name in self.columns}

    def frames(self) -> dict[str, pd.DataFrame]:
        out = {}
        for name, rows in self.rows.items():
            frame = pd.DataFrame(rows, columns=self.columns[name])
            for col in ("N", "d", "L", "H"):
                frame[col] = frame[col].astype("Int64")
            out[name] = frame
        return out

    def points(self, grid: Grid, cells: xr.Dataset) -> None:
        stacked = cells.stack(point=list(grid.swept))
        for j in range(stacked.sizes["point"]):
            cell = stacked.isel(point=j)
            row = grid.keys(**{dim: as_python(cell[dim].values) for dim in grid.swept})
            for q in QUANTITIES:
                values = cell[q].values
                lo, hi = replicate_interval(values, self.level)
                row.update({q: values[0], f"{q}_low": float(lo), f"{q}_high": float(hi)})
            row["limit_error"] = float(cell["limit_error"]) if "limit_error" in cell else np.nan
            row["excluded_solver"] = bool(cell["excluded_solver"])
            row["bias_below_snr"] = bool(cell["bias_below_snr"])
            self.rows["points"].append(row)

    def power_law(
        self,
        grid: Grid,
        series: xr.Dataset,
        quantity: str,
        swept: list[str],
        exclude: xr.DataArray,
        fixed: Mapping[str, Any] | None = None,
        fit_name: str = "power_law",
    ) -> fits.PowerLawFit:
        """Fit ``quantity`` of ``series`` (dims (*swept, replicate)) in every swept parameter;
        record it in ``slopes`` and its lines in ``lines``."""
        fixed = dict(fixed or {})
        stacked = series[quantity].stack(point=swept).transpose("replicate", "point")
        x = np.column_stack([stacked[dim].values.astype(np.float64) for dim in swept])
        y = stacked.values
        excl = exclude.stack(point=swept).transpose("point").values
        fit = fits.power_law_fit_multi(x, y, excl, self.level)
        n_excluded = len(excl) - fit.n_points
        keys = grid.keys(**fixed)
        for i, dim in enumerate(swept):
            self.rows["slopes"].append(
                {
                    **keys,
                    "quantity": quantity,
                    "swept": dim,
                    "fit": fit_name,
                    "slope": fit.slopes[i],
                    "ci_low": fit.ci[i, 0],
                    "ci_high": fit.ci[i, 1],
                    "intercept": fit.intercept,
                    "intercept_low": fit.intercept_ci[0],
                    "intercept_high": fit.intercept_ci[1],
                    "n_points": fit.n_points,
                    "n_excluded": n_excluded,
                }
            )
        if fit.n_points and np.isfinite(fit.intercept):
            self._lines(grid, fit, quantity, swept, x, fixed, fit_name)
        return fit

    def _lines(
        self,
        grid: Grid,
        fit: fits.PowerLawFit,
        quantity: str,
        swept: list[str],
        x: np.ndarray,
        fixed: dict[str, Any],
        fit_name: str,
    ) -> None:
        """Lines of ``fit`` along each swept parameter, the others at each of their used values."""
        used = x[fit.used]
        for i, dim in enumerate(swept):
            along = np.geomspace(used[:, i].min(), used[:, i].max(), LINE_POINTS)
            others = np.unique(np.delete(used, i, axis=1), axis=0)
            for other in others:
                xs = np.insert(np.tile(other, (LINE_POINTS, 1)), i, along, axis=1)
                lo, hi = fit.band(xs)
                extra = {d: as_python(v) for d, v in zip(np.delete(swept, i), other, strict=True)}
                keys = grid.keys(**fixed, **extra)
                self.rows["lines"] += line_rows(
                    keys, quantity, dim, fit_name, along, fit.predict(xs), lo, hi
                )

    def claim(
        self,
        grid: Grid,
        claim: str,
        quantity: str,
        swept: str,
        fit: fits.PowerLawFit | fits.CorrectedPowerLawFit,
        index: int,
        predicted: float,
        fine: tuple[float, float, float],
        fixed: Mapping[str, Any] | None = None,
    ) -> None:
        """A claims row: the fit's exponent ``index`` against ``predicted``, and ``fine``, the
        local slope (with its interval) at the fine end of the grid along ``swept``."""
        self.rows["claims"].append(
            {
                "experiment": self.layout.experiment,
                "claim": claim,
                **grid.keys(**dict(fixed or {})),
                "quantity": quantity,
                "swept": swept,
                "predicted": predicted,
                "fitted": fit.slopes[index],
                "ci_low": fit.ci[index, 0],
                "ci_high": fit.ci[index, 1],
                "n_points": fit.n_points,
                "n_excluded": len(fit.used) - fit.n_points,
                "fine_slope": fine[0],
                "fine_low": fine[1],
                "fine_high": fine[2],
            }
        )

    def local(
        self, grid: Grid, series: xr.Dataset, quantity: str, swept: str, fixed: Mapping[str, Any]
    ) -> None:
        """Local slopes of ``quantity`` along ``swept`` (``series`` dims (swept, replicate))."""
        x = series[swept].values.astype(np.float64)
        slopes = fits.local_slopes(x, series[quantity].transpose("replicate", swept).values)
        lo, hi = replicate_interval(slopes, self.level)
        keys = grid.keys(**fixed)
        for j in range(len(x) - 1):
            self.rows["local_slopes"].append(
                {
                    **keys,
                    "quantity": quantity,
                    "swept": swept,
                    "x_low": x[j],
                    "x_high": x[j + 1],
                    "slope": slopes[0, j],
                    "ci_low": lo[j],
                    "ci_high": hi[j],
                }
            )

    def two_term(self, grid: Grid, cells: xr.Dataset, quantity: str = "err") -> None:
        """Bound, CLT and free-exponent two-term laws of ``quantity`` on the L × H grid, with the
        terms added (as in docs/mathematics.md) and in quadrature (``*_quadrature``)."""
        stacked = cells[[quantity, "excluded_solver"]].stack(point=["L", "H"])
        L = stacked["L"].values.astype(np.float64)
        H = stacked["H"].values.astype(np.float64)
        y = stacked[quantity].transpose("replicate", "point").values
        exclude = stacked["excluded_solver"].values
        replicates = int(self.options.get("two_term_bootstrap", TWO_TERM_REPLICATES))
        forms = {name: (exps, ()) for name, exps in fits.TWO_TERM_FORMS.items()}
        forms["free"] = (fits.TWO_TERM_FORMS["bound"], fits.EXPONENTS)
        results = {
            (name if combine == "sum" else f"{name}_quadrature"): fits.two_term_fit(
                L, H, y, **exps, free=free, exclude=exclude, level=self.level,
                replicates=replicates, combine=combine,
            )
            for combine in fits.COMBINATIONS
            for name, (exps, free) in forms.items()
        }  # fmt: skip
        best = min(results.values(), key=lambda f: f.aic if np.isfinite(f.aic) else np.inf).aic
        for name, fit in results.items():
            row = {**grid.keys(), "quantity": quantity, "form": name}
            for k in "abpqr":
                row.update({k: fit.params[k], f"{k}_low": fit.ci[k][0], f"{k}_high": fit.ci[k][1]})
            row.update(
                free=",".join(fit.free),
                rms_log=fit.rms_log,
                aic=fit.aic,
                delta_aic=fit.aic - best,
                supported=bool(fit.aic == best),
                n_points=fit.n_points,
                n_excluded=len(fit.used) - fit.n_points,
            )
            self.rows["two_term"].append(row)


#: The row collector, for the tables of other analyses of the same grids (``heads``' search of
#: worst-case inputs).
Tables = _Tables


def _depth_heads(tables: _Tables, grid: Grid, stats: xr.Dataset) -> None:
    """Fits and claims of a depth × heads grid."""
    cells = grid.cells(stats)
    tables.points(grid, cells)
    solver = cells["excluded_solver"]
    for h in grid.swept["H"]:
        series = cells.sel(H=h)
        tables.power_law(grid, series, "err", ["L"], solver.sel(H=h), {"H": as_python(h)})
        tables.local(grid, series, "err", "L", {"H": as_python(h)})
    for ell in grid.swept["L"]:
        series = cells.sel(L=ell)
        tables.power_law(grid, series, "err", ["H"], solver.sel(L=ell), {"L": as_python(ell)})
        tables.local(grid, series, "fluct", "H", {"L": as_python(ell)})

    top = {"H": as_python(grid.swept["H"][-1])}
    series = cells.sel(top)
    exclude = series["excluded_solver"] | series["bias_below_snr"]
    fit = tables.power_law(grid, series, "bias", ["L"], exclude, top)
    bias = series["bias"].transpose("replicate", "L").values
    fine = fits.fine_end_slope(series["L"].values, bias, exclude.values, tables.level)
    tables.claim(grid, "bias_L", "bias", "L", fit, 0, -1.0, fine, top)
    corrected = fits.corrected_power_law_fit(
        series["L"].values, bias, exclude.transpose("L").values, tables.level
    )
    tables.claim(grid, "bias_L_corrected", "bias", "L", corrected, 0, -1.0, fine, top)
    tables.local(grid, series, "bias", "L", top)

    fit = tables.power_law(grid, cells, "fluct", ["L", "H"], solver, fit_name="joint")
    last_l, last_h = cells.isel(L=-1), cells.isel(H=-1)
    fine_h = fits.fine_end_slope(
        last_l["H"].values,
        last_l["fluct"].transpose("replicate", "H").values,
        last_l["excluded_solver"].transpose("H").values,
        tables.level,
    )
    fine_l = fits.fine_end_slope(
        last_h["L"].values,
        last_h["fluct"].transpose("replicate", "L").values,
        last_h["excluded_solver"].transpose("L").values,
        tables.level,
    )
    tables.claim(grid, "fluct_H", "fluct", "H", fit, 1, -0.5, fine_h)
    tables.claim(grid, "fluct_L_bound", "fluct", "L", fit, 0, -1.0 / 3.0, fine_l)
    tables.claim(grid, "fluct_L_clt", "fluct", "L", fit, 0, -0.5, fine_l)
    tables.two_term(grid, cells)


def _tokens(tables: _Tables, grid: Grid, stats: xr.Dataset) -> None:
    """Fits and claims of a tokens grid: err_inf and err must not grow with N."""
    cells = grid.cells(stats)
    tables.points(grid, cells)
    for claim, quantity in (("e_inf_N", "err_inf"), ("err_N", "err")):
        fit = tables.power_law(grid, cells, quantity, ["N"], cells["excluded_solver"])
        fine = fits.fine_end_slope(
            cells["N"].values,
            cells[quantity].transpose("replicate", "N").values,
            cells["excluded_solver"].transpose("N").values,
            tables.level,
        )
        tables.claim(grid, claim, quantity, "N", fit, 0, 0.0, fine)
        tables.local(grid, cells, quantity, "N", {})


def claims_tables(
    stats: xr.Dataset,
    options: Mapping[str, Any],
    layout: Layout = HEADS_LAYOUT,
    constants: tuple[tuple[str, Any], ...] = (),
) -> dict[str, pd.DataFrame]:
    """The fitted tables of every grid of ``stats`` (cell statistics over ``layout.cell_dims``
    and ``replicate``, with ``limit_error``), flags added; ``options`` as ``heads.fits``."""
    stats = with_flags(stats.drop_vars(["weights", "seed"], errors="ignore").load(), options)
    tables = _Tables(options, layout)
    for grid in find_grids(stats, layout, constants):
        (_depth_heads if grid.name == "depth_heads" else _tokens)(tables, grid, stats)
    return tables.frames()
