"""Rates of experiment ``lowtemp`` from a run's store (MODELS.md, ``lowtemp``, "Predictions").

- ``beta_slopes``: at each record time t > 0, the line fit of log W2(μ^β_t, μ^∞_t) against log β
  (predicted slope −1/2 up to the log) and against log s(β), s(β) = sqrt(log(β+1)/β) (predicted
  slope 1: W2 ≲ s(β) e^{Ct}), with t-intervals (``fits.line_fit``; the data are deterministic, so
  the interval measures the departure from a power law, not sampling noise). The verdict is that
  of ``fits.verdict`` on the interval.
- ``best_times``: per β the time t*(β) that minimises W2(μ^β_t, T#μ₀) over the record grid,
  refined by the vertex of the parabola through the minimum and its two neighbours; and the line
  fit of t* against log β (predicted: t* grows like log β, i.e. a positive slope).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from attnlimits import fits


def shape(beta: np.ndarray) -> np.ndarray:
    """s(β) = sqrt(log(β+1)/β), the predicted shape of W2(μ^β_t, μ^∞_t) in β."""
    beta = np.asarray(beta, dtype=np.float64)
    return np.sqrt(np.log1p(beta) / beta)


def beta_slopes(ds: xr.Dataset, quantity: str = "w2_hardmax", level: float = 0.95) -> pd.DataFrame:
    """One row per (time, regressor) of the module docstring."""
    beta = ds["beta"].values.astype(np.float64)
    rows = []
    for t in ds["time"].values[1:]:
        y = np.log(ds[quantity].sel(time=t).values)
        regressors = (("log_beta", np.log(beta), -0.5), ("log_shape", np.log(shape(beta)), 1.0))
        for regressor, x, predicted in regressors:
            fit = fits.line_fit(x, y, level)
            verdict = fits.verdict(predicted, fit.ci_low, fit.ci_high)
            if regressor == "log_shape":  # larger slope = faster decay in β: mirror the verdict
                verdict = {"sharper": "violated", "violated": "sharper"}.get(verdict, verdict)
            rows.append(
                {
                    "time": float(t), "quantity": quantity, "regressor": regressor,
                    "predicted": predicted, "slope": fit.slope, "ci_low": fit.ci_low,
                    "ci_high": fit.ci_high, "verdict": verdict, "n_points": fit.n_points,
                }
            )  # fmt: skip
    return pd.DataFrame(rows)


def _vertex(t: np.ndarray, y: np.ndarray, i: int) -> float:
    """The minimiser of the parabola through (t, y) at i−1, i, i+1 (t[i] at the grid's ends)."""
    if i == 0 or i == len(t) - 1:
        return float(t[i])
    a, b, c = np.polyfit(t[i - 1 : i + 2], y[i - 1 : i + 2], 2)
    return float(-b / (2 * a)) if a > 0 else float(t[i])


def best_times(ds: xr.Dataset, level: float = 0.95) -> tuple[pd.DataFrame, fits.LineFit]:
    """t*(β) per β (module docstring) and the line fit of t* against log β."""
    t = ds["time"].values.astype(np.float64)
    rows = []
    for beta in ds["beta"].values:
        y = ds["w2_target"].sel(beta=beta).values
        i = int(np.nanargmin(y))
        rows.append(
            {
                "beta": float(beta), "t_star": _vertex(t, y, i), "t_grid": float(t[i]),
                "w2_min": float(y[i]), "at_horizon": bool(i == len(t) - 1),
            }
        )  # fmt: skip
    table = pd.DataFrame(rows)
    return table, fits.line_fit(np.log(table["beta"]), table["t_star"], level)
