"""Laws of the joint (L, m) and (L, N) grids, fitted by weighted nonlinear least squares.

docs/mathematics.md, experiment ``sde``, predictions (depth and width), and "How rates are fitted":
the mean-square error E(L, x) of a joint grid (x = m, or N) against one reference is modelled as a
combination with coefficients θ of basis functions of L and g = 1/x (g = 0 at infinite width):

    theorem:  θ₁ log L / L + θ₂ g                  (P2, Theorem 1.1: c (log L / L + 1/m))
    nolog:    θ₁ / L + θ₂ g                        (strong order 1/2 without the log)
    log:      (θ₀ + θ₁ log L) / L + θ₂ g           (both, the log's share free)
    cross:    (θ₀ + θ₁ log L) / L + θ₂ g + θ₃ g/L  (the limits do not commute: a cross term)

Each law is fitted in log space, Σ_j w_j (log model_j − log E_j)², w = 1/Var_b(log E_b)
(``fits.log_weights``), by ``scipy.optimize.least_squares`` from the weighted linear fit of the
relative residuals (model/E − 1, linear in θ), and refitted on bootstrap replicates (same
weights, started from the point estimate) for percentile intervals. AIC = n log(RSS_w/n) + 2k
as ``fits.TwoTermFit``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from attnlimits.analysis.fits import log_replicates, log_weights, usable_points
from attnlimits.analysis.statistics import replicate_interval

#: Basis functions of (L, g): their names, in the order of the coefficients of a law.
BASES = ("inv_L", "log_L", "g", "g_inv_L")
LAWS: dict[str, tuple[str, ...]] = {
    "theorem": ("log_L", "g"),
    "nolog": ("inv_L", "g"),
    "log": ("inv_L", "log_L", "g"),
    "cross": ("inv_L", "log_L", "g", "g_inv_L"),
}
#: Smallest model value the log is taken of (a law that goes negative is penalised there).
TINY = 1e-300


def basis(L: np.ndarray, g: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """The design (n, k) of the basis functions ``names``: 1/L, log L / L, g, g/L."""
    L, g = np.asarray(L, np.float64), np.asarray(g, np.float64)
    columns = {"inv_L": 1.0 / L, "log_L": np.log(L) / L, "g": g, "g_inv_L": g / L}
    return np.column_stack([columns[name] for name in names])


def _start(design: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """argmin_θ Σ_j w_j ((Aθ)_j / y_j − 1)², the linear fit of the relative residuals."""
    root = np.sqrt(w)[:, None]
    theta, *_ = np.linalg.lstsq(design / y[:, None] * root, root[:, 0], rcond=None)
    return theta


def _solve(design: np.ndarray, logy: np.ndarray, sw: np.ndarray, start: np.ndarray) -> np.ndarray:
    """θ minimising Σ_j (sw_j (log (Aθ)_j − log y_j))², from ``start``."""

    def residual(theta: np.ndarray) -> np.ndarray:
        return sw * (np.log(np.maximum(design @ theta, TINY)) - logy)

    def jacobian(theta: np.ndarray) -> np.ndarray:
        return sw[:, None] * design / np.maximum(design @ theta, TINY)[:, None]

    if np.any(design @ start <= 0):  # a start where the law is positive everywhere
        start = np.abs(start)
    return least_squares(residual, start, jac=jacobian, method="trf").x


@dataclass(frozen=True)
class LawFit:
    """A law fitted on a joint grid: ``theta`` (k,) on replicate 0, ``boot`` (B', k) the refits
    (NaN where a replicate has too few usable points), ``ci`` (k, 2), the weighted residual sum
    of squares ``rss``, ``aic``, the unweighted RMS of the log residuals ``rms_log``, the points
    used."""

    law: str
    names: tuple[str, ...]
    theta: np.ndarray
    boot: np.ndarray
    ci: np.ndarray
    rss: float
    aic: float
    rms_log: float
    used: np.ndarray

    @property
    def n_points(self) -> int:
        return int(self.used.sum())

    def predict(self, L: np.ndarray, g: np.ndarray, theta: np.ndarray | None = None) -> np.ndarray:
        """The law at (L, g), with ``theta`` (k,) or (B, k) (default: the point estimate)."""
        t = self.theta if theta is None else theta
        return basis(L, g, self.names) @ np.asarray(t).T

    def coefficient(self, name: str) -> np.ndarray:
        """Replicates (B'+1,) of the coefficient of basis ``name`` (0 where the law lacks it)."""
        values = np.vstack([self.theta, self.boot])
        if name not in self.names:
            return np.zeros(values.shape[0])
        return values[:, self.names.index(name)]


def fit_law(
    law: str,
    L: np.ndarray,
    g: np.ndarray,
    y: np.ndarray,
    exclude: np.ndarray | None = None,
    level: float = 0.95,
    replicates: int | None = None,
) -> LawFit:
    """Fit the law ``law`` (:data:`LAWS`) to ``y`` (B+1, n) over the grid points (L, g) (n,).

    Points not usable on replicate 0 (``fits.usable_points``) are left out; intervals come from
    refits on the first ``replicates`` bootstrap replicates (all if None). With fewer usable
    points than coefficients + 1 every result is NaN.
    """
    names = LAWS[law]
    y = np.asarray(y, np.float64)
    used = usable_points(y, exclude)
    k = len(names)
    count = y.shape[0] - 1 if replicates is None else min(int(replicates), y.shape[0] - 1)
    nan = np.full(k, np.nan)
    if used.sum() <= k:
        return LawFit(
            law, names, nan, np.full((count, k), np.nan), np.full((k, 2), np.nan),
            math.nan, math.nan, math.nan, used,
        )  # fmt: skip
    design = basis(L, g, names)[used]
    logy = log_replicates(y[:, used])
    w = log_weights(logy)
    sw = np.sqrt(w)
    theta = _solve(design, logy[0], sw, _start(design, y[0, used], w))
    boot = np.full((count, k), np.nan)
    for b in range(1, count + 1):
        ok = np.isfinite(logy[b])
        if ok.sum() > k:
            boot[b - 1] = _solve(design[ok], logy[b, ok], sw[ok], theta)
    lo, hi = replicate_interval(np.vstack([theta, boot]), level)
    resid = np.log(np.maximum(design @ theta, TINY)) - logy[0]
    n = int(used.sum())
    rss = float(np.sum((sw * resid) ** 2))
    aic = n * math.log(max(rss, TINY) / n) + 2 * k
    return LawFit(
        law, names, theta, boot, np.column_stack([lo, hi]), rss, aic,
        float(np.sqrt(np.mean(resid**2))), used,
    )  # fmt: skip


def log_share(fit: LawFit, L: float) -> np.ndarray:
    """Replicates of θ₁ log L / (θ₀ + θ₁ log L): the share of the log in the depth term at L."""
    a, b = fit.coefficient("inv_L"), fit.coefficient("log_L")
    with np.errstate(divide="ignore", invalid="ignore"):
        return b * math.log(L) / (a + b * math.log(L))


def cross_share(fit: LawFit, L: float, g: float) -> np.ndarray:
    """Replicates of the cross term's share of the law at (L, g): θ₃ g/L / model(L, g)."""
    values = np.vstack([fit.theta, fit.boot])
    model = basis(np.array([L]), np.array([g]), fit.names) @ values.T
    with np.errstate(divide="ignore", invalid="ignore"):
        return fit.coefficient("g_inv_L") * g / L / model[0]
