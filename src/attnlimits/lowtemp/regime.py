"""The mean-field regime in N, from the data (docs/mathematics.md, "The mean-field regime"; the N
sweep).

For each (variant, head, t) the N sweep (``convergence``) and the main run give
W2(μ^{β,N}_t, μ^{∞,N}_t) per particle family f and N at the main run's β's. The **local slope**
of a pair of neighbouring β's, s_i(f, N) = Δ log W2 / Δ log β (``fits.local_slopes``), is
*converged at N* when it no longer depends on N nor on the family from N on:

    spread_i(N) = max − min of s_i(f, N') over every family f and every N' ≥ N in the sweep,
    N*_i = the smallest N of the sweep below its largest with spread_i(N) ≤ tol,

and pair i is converged at N iff N ≥ N*_i (NaN, never, when no N of the sweep qualifies: at least
two N's must agree, so the largest N alone never shows convergence). The regime boundary is N*
as a function of β (the pair's larger β), replacing the guess N ≥ factor β^(k/2) (the *power*
rule, still available: ``regime.premise``). A β-slope is then fitted only over the *converged
β's* at the main run's N: the leading block β_0 < … < β_j whose pairs are all converged
(:func:`converged_betas`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from attnlimits.analysis import fits
from attnlimits.lowtemp.convergence_grid import SweepKey, is_main
from attnlimits.lowtemp.grid import RunKey

GROUP = ["variant", "head", "time"]
SERIES_COLUMNS = [*GROUP, "family", "N", "beta", "w2_hardmax", "coupling_hardmax"]
SLOPE_COLUMNS = [*GROUP, "family", "N", "beta_low", "beta_high", "local_slope", "quantity"]
FIT_COLUMNS = [*GROUP, "family", "N", "slope", "ci_low", "ci_high", "n_points", "quantity"]
REGIME_COLUMNS = [
    *GROUP, "beta_low", "beta_high", "N_star", "N_max", "families", "spread_N_max",
    "slope_N_max", "N_main", "converged_at_main", "N_power_rule", "power_rule_admits",
]  # fmt: skip


def _at(ds: xr.Dataset, name: str, times: Sequence[float]) -> np.ndarray:
    """(beta, time) values of ``name`` at the record times nearest ``times``."""
    t = ds["time"].values.astype(np.float64)
    index = [int(np.argmin(np.abs(t - s))) for s in times]
    return ds[name].values[:, index]


def sweep_series(
    runs: Sequence[tuple[RunKey, xr.Dataset]],
    sweeps: Sequence[tuple[SweepKey, xr.Dataset]],
    lowtemp: Mapping[str, Any],
) -> pd.DataFrame:
    """W2 and its coupling bound per (variant, head, t, family, N, β): the sweep's stores, and the
    main run's for the grid family at its size (``convergence_grid.is_main``)."""
    conv, times = lowtemp["convergence"], [float(t) for t in lowtemp["fits"]["times"]]
    main = [
        (SweepKey(k.head, k.variant, "grid", int(lowtemp["measure"]["size"])), ds)
        for k, ds in runs
        if k.head in conv["heads"] and k.variant in conv["variants"]
    ]
    use_main = any(is_main(lowtemp, f, s) for f in conv["families"] for s in conv["sizes"])
    rows = []
    for key, ds in [*sweeps, *(main if use_main else [])]:
        w2, coupling = _at(ds, "w2_hardmax", times), _at(ds, "coupling_hardmax", times)
        for b, beta in enumerate(ds["beta"].values):
            for i, t in enumerate(times):
                rows.append(
                    (key.variant, key.head, t, key.family, int(ds.attrs["particle_count"]),
                     float(beta), w2[b, i], coupling[b, i])
                )  # fmt: skip
    return pd.DataFrame(rows, columns=SERIES_COLUMNS)


def _quantity(group: pd.DataFrame) -> str:
    """W2 where every member has it exactly, else the identity-coupling bound for all."""
    return "w2_hardmax" if group["w2_hardmax"].notna().all() else "coupling_hardmax"


def local_slopes(series: pd.DataFrame) -> pd.DataFrame:
    """One row per (variant, head, t, family, N, pair of neighbouring β's): the local slope."""
    rows = []
    for (variant, head, t), group in series.groupby(GROUP, sort=False):
        quantity = _quantity(group)
        for (family, n), cell in group.groupby(["family", "N"], sort=False):
            cell = cell.sort_values("beta")
            beta = cell["beta"].to_numpy(np.float64)
            slopes = fits.local_slopes(beta, cell[quantity].to_numpy(np.float64))
            for i, s in enumerate(slopes):
                rows.append(
                    {
                        "variant": variant, "head": head, "time": t, "family": family, "N": n,
                        "beta_low": beta[i], "beta_high": beta[i + 1], "local_slope": float(s),
                        "quantity": quantity,
                    }
                )  # fmt: skip
    return pd.DataFrame(rows, columns=SLOPE_COLUMNS)


def n_fits(series: pd.DataFrame, level: float) -> pd.DataFrame:
    """The β-slope over every β per (variant, head, t, family, N): log W2 against log β."""
    rows = []
    for (variant, head, t, family, n), cell in series.groupby([*GROUP, "family", "N"], sort=False):
        quantity = _quantity(series[(series["variant"] == variant) & (series["head"] == head)])
        fit = fits.line_fit(np.log(cell["beta"]), np.log(cell[quantity]), level)
        rows.append(
            {
                "variant": variant, "head": head, "time": t, "family": family, "N": n,
                "slope": fit.slope, "ci_low": fit.ci_low, "ci_high": fit.ci_high,
                "n_points": fit.n_points, "quantity": quantity,
            }
        )  # fmt: skip
    return pd.DataFrame(rows, columns=FIT_COLUMNS)


def boundary(slopes: pd.DataFrame, tol: float, n_main: int, factor: float, k: int) -> pd.DataFrame:
    """Per (variant, head, t, pair): N*, the spread at the largest N, whether the pair is
    converged at the main run's N, and the N the power rule asks for, factor β_high^(k/2)
    (module docstring)."""
    rows = []
    keys = [*GROUP, "beta_low", "beta_high"]
    for (variant, head, t, lo, hi), cell in slopes.groupby(keys, sort=False):
        sizes = sorted(cell["N"].unique())
        spreads = []
        for n in sizes:
            s = cell.loc[cell["N"] >= n, "local_slope"].to_numpy(np.float64)
            spreads.append(float(np.ptp(s)) if np.isfinite(s).all() else np.nan)
        found = [n for n, sp in zip(sizes[:-1], spreads[:-1], strict=True) if sp <= tol]
        n_star = float(found[0]) if found else np.nan
        largest = cell[cell["N"] == sizes[-1]]["local_slope"]
        rows.append(
            {
                "variant": variant, "head": head, "time": t, "beta_low": lo, "beta_high": hi,
                "N_star": n_star, "N_max": int(sizes[-1]), "families": cell["family"].nunique(),
                "spread_N_max": float(np.ptp(largest)) if len(largest) else np.nan,
                "slope_N_max": float(largest.mean()) if len(largest) else np.nan,
                "N_main": n_main, "converged_at_main": bool(n_star <= n_main),
                "N_power_rule": factor * hi ** (k / 2),
                "power_rule_admits": bool(n_main >= factor * hi ** (k / 2)),
            }
        )  # fmt: skip
    return pd.DataFrame(rows, columns=REGIME_COLUMNS)


def converged_betas(
    regime: pd.DataFrame, variant: str, head: str, time: float
) -> list[float] | None:
    """The leading block of β's whose pairs are all converged at the main run's N (module
    docstring); None when the sweep does not cover (variant, head, time)."""
    cell = regime[
        (regime["variant"] == variant)
        & (regime["head"] == head)
        & np.isclose(regime["time"].to_numpy(np.float64), time)
    ].sort_values("beta_low")
    if cell.empty:
        return None
    betas = [float(cell["beta_low"].iloc[0])]
    for row in cell.itertuples():
        if not row.converged_at_main:
            break
        betas.append(float(row.beta_high))
    return betas if len(betas) > 1 else []
