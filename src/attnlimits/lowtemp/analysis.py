"""Rates of experiment ``lowtemp`` from a run's store (docs/mathematics.md, ``lowtemp``,
predictions).

- ``beta_slopes``: at each record time t > 0, the line fit of log W2(μ^β_t, μ^∞_t) against log β
  (predicted slope −1/2 up to the log) and against log s(β), s(β) = sqrt(log(β+1)/β) (predicted
  slope 1: W2 ≲ s(β) e^{Ct}), with t-intervals (``fits.line_fit``; the data are deterministic, so
  the interval measures the departure from a power law, not sampling noise). The claims engine
  judges the rows (``lowtemp.claims``).
- ``best_times``: per β the time t*(β) that minimises W2(μ^β_t, T#μ₀) over the record grid,
  refined by the vertex of the parabola through the minimum and its two neighbours; and the line
  fit of t* against log β over the βs whose t* lies inside the horizon (predicted: t* grows like
  log β, i.e. a positive slope).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from attnlimits.analysis import fits


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
            rows.append(
                {
                    "time": float(t), "quantity": quantity, "regressor": regressor,
                    "predicted": predicted, "slope": fit.slope, "intercept": fit.intercept,
                    "ci_low": fit.ci_low,
                    "ci_high": fit.ci_high, "n_points": fit.n_points,
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
    inside = table[~table["at_horizon"]]  # t* at the horizon is only a lower bound: left out
    return table, fits.line_fit(np.log(inside["beta"]), inside["t_star"], level)


#: Largest |imaginary part| of an eigenvalue of V that still counts as real.
REAL_TOL = 1e-12


def spectrum(v: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """V's eigenvalues, largest first, and the matrix E of its eigenvectors as columns, in the
    same order (V = E diag(λ) E⁻¹); None when the spectrum is not real (no real eigendirections,
    e.g. a rotation part: then there is no top eigendirection to collapse onto)."""
    values, vectors = np.linalg.eig(np.asarray(v, dtype=np.float64))
    if np.abs(values.imag).max() > REAL_TOL:
        return None
    order = np.argsort(-values.real, kind="stable")
    return values.real[order], vectors.real[:, order]


def off_axis_moment(particles: np.ndarray, weights: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Σ_i w_i |c_⊥,i|², c = E⁻¹ z the eigen-coordinates of the particles z (…, N, d) and c_⊥
    all but the top one: the mass left off V's top eigendirection (``spectrum``); NaN when V's
    spectrum is not real."""
    found = spectrum(v)
    if found is None:
        return np.full(np.shape(particles)[:-2], np.nan)
    coords = np.asarray(particles) @ np.linalg.inv(found[1]).T
    return np.einsum("...nk,n->...", coords[..., 1:] ** 2, np.asarray(weights))


def predicted_phase_rate(variant: str, values: np.ndarray | None, gap_tol: float = 1e-9) -> float:
    """The decay rate of ``off_axis_moment`` at long times, for the plain flow in z.

    In the eigenbasis of V, ż = V(z_lead − z) with z_lead the rescaled leader; the scores in z are
    zᵀ e^{tVᵀ} QᵀK e^{tV} z', dominated by the top eigen-coordinate once e^{(λ₁−λ₂)t} ≫ 1, so every
    leader sits at an end of the top eigendirection and the other coordinates relax to the
    leader's at rate λ₂: the moment decays like e^{−2λ₂ t}. Without a gap (λ₁ = λ₂, e.g. V = I)
    there is no preferred direction and no collapse: rate 0. No derivation for ``consensus`` or
    for a spectrum that is not real (``values`` None): NaN.
    """
    if variant != "plain" or values is None:
        return float("nan")
    if values[0] - values[1] <= gap_tol:
        return 0.0
    return float(-2.0 * values[1])


def phase_rates(ds: xr.Dataset, variant: str, window: tuple[float, float], level: float = 0.95):
    """Per β (and β = inf for the hardmax flow): the fitted rate of log ``off_axis_moment``
    against t over ``window``, against ``predicted_phase_rate``; also the moment over time."""
    v = ds["head_v"].values
    found = spectrum(v)
    values = found[0] if found is not None else np.full(2, np.nan)
    w = ds["weights"].values
    moments = {float(b): off_axis_moment(ds["particles"].sel(beta=b).values, w, v)
               for b in ds["beta"].values}  # fmt: skip
    moments[float("inf")] = off_axis_moment(ds["hardmax_particles"].values, w, v)
    t = ds["time"].values.astype(np.float64)
    inside = (t >= window[0]) & (t <= window[1])
    predicted = predicted_phase_rate(variant, None if found is None else values)
    rows, curves = [], []
    for beta, moment in moments.items():
        fit = fits.line_fit(t[inside], np.log(moment[inside]), level)
        rows.append(
            {
                "beta": beta, "lambda_1": values[0], "lambda_2": values[1],
                "predicted": predicted, "rate": fit.slope, "ci_low": fit.ci_low,
                "ci_high": fit.ci_high, "moment_start": float(moment[0]),
                "moment_end": float(moment[-1]), "n_points": fit.n_points,
            }
        )  # fmt: skip
        curves += [
            {"beta": beta, "time": float(s), "moment": float(m)}
            for s, m in zip(t, moment, strict=True)
        ]
    return pd.DataFrame(rows), pd.DataFrame(curves)


def terminal_rate(ds: xr.Dataset, window: tuple[float, float], floor: float, level: float = 0.95):
    """The fitted rate c' of log W2(μ^∞_t, T#μ₀) against t over ``window`` (predicted: < 0,
    W2 ≲ e^{−ct}), on the points above ``floor`` (the round-off level of the distance)."""
    t = ds["time"].values.astype(np.float64)
    y = ds["hardmax_w2_target"].values
    use = (t >= window[0]) & (t <= window[1]) & (y > floor)
    return fits.line_fit(t[use], np.log(y[use]), level)
