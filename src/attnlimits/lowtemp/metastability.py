"""The metastable window of experiment ``lowtemp`` (MODELS.md, ``lowtemp``, "Predictions").

From a run's series W2(μ^β_t, T#μ₀) over the record times (``w2_target``), per β: the window
[t_in, t_out] in which the flow stays within ε of the push-forward, ε = ``fraction`` ·
W2(μ₀, T#μ₀) (the distance at t = 0, so that the threshold is scale-free):

- t_in: the first time W2 < ε (0 if it starts below), t_out: the first later time W2 ≥ ε again;
  both crossings interpolated linearly in log W2 between the two record times around them (the
  record step sets the resolution otherwise);
- *closed* when t_out is reached before the horizon; else *open* (t_out = the horizon, a lower
  bound of the window's end) or *never entered* (no window: NaN).

The length t_out − t_in of the closed windows is fitted against log β (t-interval, ``fits.
line_fit``). Derived here from the two bounds of P3's abstract: W2(μ^β_t, T#μ₀) ≤ C s(β) e^(Ct) +
C' e^(−ct) is below ε from t_in ≈ log(C'/ε)/c (independent of β) to t_out ≈ log(ε/(C s(β)))/C ≈
log β/(2C), so the window is at least of length ≈ log β/(2C) + const: it grows with log β (a
positive slope; the bound is one-sided, so faster growth also agrees).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from attnlimits.analysis import fits

WINDOW_COLUMNS = [
    "beta", "threshold", "t_in", "t_out", "length", "entered", "closed", "w2_min",
]  # fmt: skip


def _crossing(t: np.ndarray, y: np.ndarray, i: int, level: float) -> float:
    """The time between t[i−1] and t[i] where log y crosses log ``level`` (linear in log y)."""
    a, b = np.log(y[i - 1]), np.log(y[i])
    if not (np.isfinite(a) and np.isfinite(b)) or a == b:
        return float(t[i])
    return float(t[i - 1] + (np.log(level) - a) / (b - a) * (t[i] - t[i - 1]))


def window(t: np.ndarray, y: np.ndarray, level: float) -> dict[str, float | bool]:
    """The window of one series (module docstring): t_in, t_out, length, entered, closed."""
    below = y < level
    if not below.any():
        return {"t_in": np.nan, "t_out": np.nan, "length": np.nan, "entered": False,
                "closed": False}  # fmt: skip
    first = int(np.argmax(below))
    t_in = float(t[0]) if first == 0 else _crossing(t, y, first, level)
    after = np.flatnonzero(~below[first:])
    if len(after) == 0:
        t_out, closed = float(t[-1]), False
    else:
        t_out, closed = _crossing(t, y, first + int(after[0]), level), True
    return {"t_in": t_in, "t_out": t_out, "length": t_out - t_in, "entered": True,
            "closed": closed}  # fmt: skip


def windows(ds: xr.Dataset, fraction: float) -> pd.DataFrame:
    """One row per β of the run ``ds``: its window at ε = ``fraction`` · W2(μ₀, T#μ₀)."""
    t = ds["time"].values.astype(np.float64)
    level = fraction * float(ds["hardmax_w2_target"].values[0])
    rows = []
    for beta in ds["beta"].values:
        y = ds["w2_target"].sel(beta=beta).values.astype(np.float64)
        rows.append({"beta": float(beta), "threshold": level, **window(t, y, level),
                     "w2_min": float(np.nanmin(y))})  # fmt: skip
    return pd.DataFrame(rows, columns=WINDOW_COLUMNS)


def window_fits(table: pd.DataFrame, level: float) -> dict[str, fits.LineFit]:
    """Line fits of t_in, t_out and the length against log β over the closed windows."""
    closed = table[table["closed"]]
    x = np.log(closed["beta"].to_numpy(np.float64))
    return {name: fits.line_fit(x, closed[name].to_numpy(np.float64), level)
            for name in ("t_in", "t_out", "length")}  # fmt: skip
