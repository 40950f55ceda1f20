"""The metastable window of experiment ``lowtemp`` (docs/mathematics.md, "The metastable window").

From a series W2(μ^β_t, T#μ₀) over the record times (``w2_target`` of a window job,
``window_runs``), per β and threshold fraction f: the window [t_in, t_out] in which the flow
stays within ε = f · W2(μ₀, T#μ₀) of the push-forward (the distance at t = 0, so that the
threshold is scale-free: f is the share of the initial distance still left):

- t_in: the first time W2 < ε (0 if it starts below), t_out: the first later time W2 ≥ ε again;
  both crossings interpolated linearly in log W2 between the two record times around them (the
  record step sets the resolution otherwise);
- *closed* when t_out is reached before the horizon; else *open* (t_out = the horizon, a lower
  bound of the window's end) or *never entered* (no window: NaN).

The same windows at two particle numbers or more (``window_table``): a β's window counts as
converged in N when its ends at each size differ from those at the next smaller size by at most
``n_tol`` relatively (``n_change``; a window entered or closed at one size and not at the other
differs by +inf). ``window_fits`` fits, over the closed windows converged in N at the largest
size, the length t_out − t_in and t_out against log β, and log t_out against log β (t-intervals,
``fits.line_fit``).

What to expect (derived here, identity head Q = K = V = I):

- ``plain``: in z = e^{−t}x the flow is ż = m_{β e^{2t}}[ν_t](z) − z, whose inverse temperature
  β e^{2t} grows without bound: the flow freezes onto a law near T#μ₀ and W2 to T#μ₀ falls to a
  plateau; the window, once entered, never closes.
- ``consensus``: ẋ = m_β[μ](x) − x first carries every particle onto its leader on the outer ring
  (radius r₀), like the hardmax flow; on a ring of radius r carrying a uniform law,
  m_β(x) = r I₁(βr²)/I₀(βr²) x/|x| ≈ (r − 1/(2βr)) x/|x|, so d(r²)/dt ≈ −1/β: the ring contracts,
  W2 to T#μ₀ ≈ r₀ − r, and the window closes at t_out ≈ β (2 r₀ ε − ε²) + const, a time linear
  in β (log-log slope 1, far faster than log β). The window's length grows with log β, as the
  two bounds of P3's abstract say (length ≳ log β/(2C)), and faster. The ring is a mean-field
  law only while its 4·size grid angles resolve the softmax's width 1/sqrt(β): the discrete sum
  over M angles differs from the integral by ≈ 2 I_M(βr²)/I₀(βr²) ≈ 2 e^{−M²/(2β)}, which must
  stay far below 1/(2β); beyond, the contraction slows and t_out depends on N (the N check).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from attnlimits.analysis import fits

WINDOW_COLUMNS = [
    "beta", "threshold", "t_in", "t_out", "length", "entered", "closed", "w2_min", "w2_end",
    "late_change",
]  # fmt: skip
#: The columns of the table ``metastability``.
TABLE_COLUMNS = [
    "variant", "head", "size", "N", "fraction", *WINDOW_COLUMNS, "n_change", "n_converged",
]  # fmt: skip
#: The columns of the table ``metastable_fits``.
FIT_COLUMNS = [
    "variant", "head", "size", "fraction", "quantity", "regressor", "slope", "intercept",
    "ci_low", "ci_high", "n_points", "betas",
]  # fmt: skip
#: The fitted quantities: (name, regressor, function of the table's rows).
FITTED = (
    ("length", "log_beta", lambda t: t["length"]),
    ("t_out", "log_beta", lambda t: t["t_out"]),
    ("log_t_out", "log_beta", lambda t: np.log(t["t_out"])),
)


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
    """One row per β of the window store ``ds``: its window at ε = ``fraction`` · W2(μ₀, T#μ₀),
    the smallest and the last W2 and ``late_change``, the relative change of W2 over the second
    half of the horizon (about 0 once the flow has frozen)."""
    t = ds["time"].values.astype(np.float64)
    level = fraction * float(ds["w2_start"].values)
    rows = []
    for beta in ds["beta"].values:
        y = ds["w2_target"].sel(beta=beta).values.astype(np.float64)
        rows.append({"beta": float(beta), "threshold": level, **window(t, y, level),
                     "w2_min": float(np.nanmin(y)), "w2_end": float(y[-1]),
                     "late_change": float((y[-1] - y[len(y) // 2]) / y[-1])})  # fmt: skip
    return pd.DataFrame(rows, columns=WINDOW_COLUMNS)


def _change(small: pd.DataFrame, large: pd.DataFrame) -> np.ndarray:
    """Per β, the largest relative change of t_in and t_out from ``small`` to ``large`` (the
    windows of two sizes, β in the same order); +inf where one is entered or closed and the other
    not, NaN where neither is entered."""
    same = (small["entered"].to_numpy() == large["entered"].to_numpy()) & (
        small["closed"].to_numpy() == large["closed"].to_numpy()
    )
    ends = [
        np.abs(large[c].to_numpy(np.float64) - small[c].to_numpy(np.float64))
        / np.abs(large[c].to_numpy(np.float64))
        for c in ("t_in", "t_out")
    ]
    with np.errstate(invalid="ignore", divide="ignore"):
        change = np.fmax(*ends)
    change = np.where(same, change, np.inf)
    return np.where(~small["entered"].to_numpy() & ~large["entered"].to_numpy(), np.nan, change)


def window_table(
    stores: Sequence[tuple[Any, xr.Dataset]], fractions: Sequence[float], n_tol: float
) -> pd.DataFrame:
    """The table ``metastability``: per (variant, head, size, fraction, β) of the window stores
    (keys with ``variant``, ``head``, ``size``) the window, its change from the next smaller
    N (``n_change``, NaN at the smallest) and whether that is at most ``n_tol``."""
    frames = []
    runs = dict.fromkeys((k.variant, k.head) for k, _ in stores)
    for variant, head in runs:
        sized = sorted(
            ((int(ds.attrs["particle_count"]), k.size, ds) for k, ds in stores
             if (k.variant, k.head) == (variant, head)),
            key=lambda item: item[0],
        )  # fmt: skip
        for fraction in fractions:
            previous = None
            for n, size, ds in sized:
                table = windows(ds, fraction)
                change = np.full(len(table), np.nan) if previous is None else _change(
                    previous, table
                )  # fmt: skip
                frames.append(
                    table.assign(
                        variant=variant, head=head, size=size, N=n, fraction=float(fraction),
                        n_change=change, n_converged=change <= n_tol,
                    )[TABLE_COLUMNS]
                )  # fmt: skip
                previous = table
    if not frames:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def fitted_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows a fit uses: closed windows converged in N (``n_converged``)."""
    return table[table["closed"].astype(bool) & table["n_converged"].astype(bool)]


def window_fits(table: pd.DataFrame, level: float) -> pd.DataFrame:
    """The table ``metastable_fits``: per (variant, head, size, fraction) of ``table``
    (``window_table``) other than the smallest size, the line fits of :data:`FITTED` against log β
    over :func:`fitted_rows`."""
    rows = []
    for (variant, head, size, fraction), part in table.groupby(
        ["variant", "head", "size", "fraction"], sort=False
    ):
        used = fitted_rows(part)
        if part["n_change"].isna().all():
            continue  # the smallest size: nothing to check it against
        x = np.log(used["beta"].to_numpy(np.float64))
        betas = ", ".join(f"{b:g}" for b in used["beta"])
        for name, regressor, values in FITTED:
            fit = fits.line_fit(x, np.asarray(values(used), dtype=np.float64), level)
            rows.append({
                "variant": variant, "head": head, "size": size, "fraction": fraction,
                "quantity": name, "regressor": regressor, "slope": fit.slope,
                "intercept": fit.intercept, "ci_low": fit.ci_low, "ci_high": fit.ci_high,
                "n_points": fit.n_points, "betas": betas,
            })  # fmt: skip
    return pd.DataFrame(rows, columns=FIT_COLUMNS)


def n_errors(table: pd.DataFrame, values: Any) -> pd.Series:
    """Per row of the largest size of ``table`` (one (variant, head, fraction)), the absolute
    change of ``values(rows)`` from the next smaller size, at the same β (NaN without one)."""
    sizes = sorted(table["N"].unique())
    big = table[table["N"] == sizes[-1]].set_index("beta")
    if len(sizes) < 2:
        return pd.Series(np.nan, index=big.index)
    small = table[table["N"] == sizes[-2]].set_index("beta").reindex(big.index)
    return (values(big) - values(small)).abs()


def local_slopes(x: np.ndarray, y: np.ndarray, err: np.ndarray) -> pd.DataFrame:
    """The slopes (y_{i+1} − y_i)/(x_{i+1} − x_i) between neighbouring points, with the interval
    that the errors ``err`` of the y's allow (slope ± (err_i + err_{i+1})/(x_{i+1} − x_i))."""
    dx, dy, de = np.diff(x), np.diff(y), err[:-1] + err[1:]
    return pd.DataFrame({"slope": dy / dx, "low": (dy - de) / dx, "high": (dy + de) / dx})
