"""Rate fitting on bootstrap replicates (docs/mathematics.md, "How rates are fitted").

Every fit takes the quantity on all replicates, ``y`` of shape (B+1, n): row 0 is the point
estimate, rows 1..B are bootstrap replicates over seeds (see :mod:`attnlimits.analysis.statistics`).
Weights are 1/Var_b(log y_b) over replicates 1..B, computed once and reused for the refit of every
replicate; intervals are percentile intervals of those refits.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats
from scipy.optimize import least_squares, nnls

from attnlimits.analysis.statistics import percentile_interval, replicate_interval

#: Variance floor of log y, relative to the median positive variance, and absolute.
RELATIVE_VARIANCE_FLOOR = 1e-3
ABSOLUTE_VARIANCE_FLOOR = 1e-12


def log_replicates(y: np.ndarray) -> np.ndarray:
    """log y on every replicate, NaN where y is not finite and positive."""
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isfinite(y) & (y > 0), np.log(np.where(y > 0, y, 1.0)), np.nan)


def log_weights(logy: np.ndarray) -> np.ndarray:
    """Weights 1/Var_b(log y_b) over replicates 1..B, the variance floored (see module constants).

    With no replicates, or no positive variance, every weight is 1.
    """
    boot = logy[1:]
    n = logy.shape[1]
    counts = np.sum(np.isfinite(boot), axis=0)
    if boot.shape[0] < 2:
        return np.ones(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        var = np.where(counts >= 2, np.nanvar(boot, axis=0, ddof=1), np.nan)
    positive = var[np.isfinite(var) & (var > 0)]
    if positive.size == 0:
        return np.ones(n)
    floor = max(RELATIVE_VARIANCE_FLOOR * float(np.median(positive)), ABSOLUTE_VARIANCE_FLOOR)
    var = np.where(np.isfinite(var), np.maximum(var, floor), np.max(positive))
    return 1.0 / var


def usable_points(y: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """Points kept in a fit: y finite and positive on replicate 0, and not in ``exclude``."""
    y0 = np.asarray(y, dtype=np.float64)[0]
    keep = np.isfinite(y0) & (y0 > 0)
    if exclude is not None:
        keep &= ~np.asarray(exclude, dtype=bool)
    return keep


def _weighted_lstsq(design: np.ndarray, logy: np.ndarray, w: np.ndarray) -> np.ndarray:
    """argmin_β Σ_j w_j (log y_j − (Aβ)_j)², for each column of ``logy`` (n, m) → (k, m)."""
    root = np.sqrt(w)[:, None]
    coef, *_ = np.linalg.lstsq(design * root, logy * root, rcond=None)
    return coef


class _SlopeSummary:
    """Read-outs shared by the fits: needs ``slopes`` (k,), ``ci`` (k, 2) and ``used``."""

    slopes: np.ndarray
    ci: np.ndarray
    used: np.ndarray

    @property
    def n_points(self) -> int:
        return int(np.sum(self.used))

    @property
    def slope(self) -> float:
        """The single slope of a one-variable fit."""
        return float(self.slopes[0])

    @property
    def ci_low(self) -> float:
        return float(self.ci[0, 0])

    @property
    def ci_high(self) -> float:
        return float(self.ci[0, 1])


@dataclass(frozen=True)
class PowerLawFit(_SlopeSummary):
    """log y = c + Σ_k p_k log x_k, fitted on replicate 0 and refitted on every bootstrap replicate.

    ``slopes`` (k,), ``intercept``; ``boot_slopes`` (B, k) and ``boot_intercepts`` (B,) hold the
    refits (NaN where a replicate had too few usable points); ``ci`` (k, 2) and
    ``intercept_ci`` (2,) are percentile intervals at ``level``; ``used`` marks the points fitted.
    """

    slopes: np.ndarray
    intercept: float
    ci: np.ndarray
    intercept_ci: np.ndarray
    boot_slopes: np.ndarray
    boot_intercepts: np.ndarray
    used: np.ndarray
    level: float
    weights: np.ndarray = field(repr=False)
    log_x: bool = True  # False: an exponential fit, log y = c + Σ_k p_k x_k

    def predict(self, x: np.ndarray) -> np.ndarray:
        """exp(c + Σ_k p_k log x_k) for ``x`` of shape (n,) (one variable) or (n, k)."""
        design = _log_design(x, len(self.slopes), self.log_x)
        return np.exp(self.intercept + design[:, 1:] @ self.slopes)

    def band(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise percentile band at ``level`` of the bootstrap fitted lines at ``x``."""
        logx = _log_design(x, len(self.slopes), self.log_x)[:, 1:]
        lines = self.boot_intercepts[:, None] + self.boot_slopes @ logx.T  # (B, n)
        lo, hi = percentile_interval(lines, self.level)
        return np.exp(lo), np.exp(hi)


def _log_design(x: np.ndarray, k: int | None = None, log_x: bool = True) -> np.ndarray:
    """Design [1, log x_1, …, log x_k] ([1, x_1, …] if not ``log_x``); x (n,) or (n, k)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if k is not None and x.shape[1] != k:
        raise ValueError(f"expected {k} variables, got {x.shape[1]}")
    return np.column_stack([np.ones(x.shape[0]), np.log(x) if log_x else x])


def power_law_fit_multi(
    x: np.ndarray,
    y: np.ndarray,
    exclude: np.ndarray | None = None,
    level: float = 0.95,
    log_x: bool = True,
) -> PowerLawFit:
    """Weighted least squares fit of log y = c + Σ_k p_k log x_k, bootstrap intervals.

    With ``log_x=False`` it fits log y = c + Σ_k p_k x_k instead (exponential rates).

    ``x`` (n, k) positive grid values, ``y`` (B+1, n) replicates. Points not usable on replicate 0
    (:func:`usable_points`) are dropped; a bootstrap replicate is refitted with the same weights on
    the kept points where it is finite and positive (NaN if fewer than k+1 remain). With fewer than
    k+1 usable points every result is NaN.
    """
    y = np.asarray(y, dtype=np.float64)
    design = _log_design(x, log_x=log_x)
    k = design.shape[1]
    if y.ndim != 2 or y.shape[1] != design.shape[0]:
        raise ValueError(f"y must be (B+1, {design.shape[0]}), got {y.shape}")
    used = usable_points(y, exclude)
    logy = log_replicates(y)
    weights = np.zeros(y.shape[1])
    coef = np.full((k, y.shape[0]), np.nan)
    if used.sum() >= k and np.linalg.matrix_rank(design[used]) == k:
        weights[used] = log_weights(logy[:, used])
        a, lw, ly = design[used], weights[used], logy[:, used]
        complete = np.all(np.isfinite(ly), axis=1)
        coef[:, complete] = _weighted_lstsq(a, ly[complete].T, lw)
        for b in np.nonzero(~complete)[0]:
            ok = np.isfinite(ly[b])
            if ok.sum() >= k and np.linalg.matrix_rank(a[ok]) == k:
                coef[:, b] = _weighted_lstsq(a[ok], ly[b, ok][:, None], lw[ok])[:, 0]
    lo, hi = replicate_interval(coef, level, axis=1)
    return PowerLawFit(
        slopes=coef[1:, 0].copy(),
        intercept=float(coef[0, 0]),
        ci=np.column_stack([lo[1:], hi[1:]]),
        intercept_ci=np.array([lo[0], hi[0]]),
        boot_slopes=coef[1:, 1:].T.copy(),
        boot_intercepts=coef[0, 1:].copy(),
        used=used,
        level=level,
        weights=weights,
        log_x=log_x,
    )


def power_law_fit(
    x: np.ndarray,
    y: np.ndarray,
    exclude: np.ndarray | None = None,
    level: float = 0.95,
) -> PowerLawFit:
    """One-variable :func:`power_law_fit_multi`: log y = c + p log x, ``x`` (n,), ``y`` (B+1, n)."""
    return power_law_fit_multi(np.asarray(x, dtype=np.float64)[:, None], y, exclude, level)


@dataclass(frozen=True)
class CorrectedPowerLawFit(_SlopeSummary):
    """y ≈ A x^s (1 + c/x): a power law with its next-order correction (see
    :func:`corrected_power_law_fit`). ``slopes`` (1,) holds s, ``ci`` (1, 2) its interval, as in
    :class:`PowerLawFit`; ``correction`` c and its interval ``correction_ci``."""

    slopes: np.ndarray
    ci: np.ndarray
    log_amplitude: float
    correction: float
    correction_ci: tuple[float, float]
    used: np.ndarray

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return np.exp(self.log_amplitude) * x**self.slope * (1.0 + self.correction / x)


def corrected_power_law_fit(
    x: np.ndarray,
    y: np.ndarray,
    exclude: np.ndarray | None = None,
    level: float = 0.95,
) -> CorrectedPowerLawFit:
    """Fit log y = log A + s log x + log(1 + c/x) by weighted nonlinear least squares.

    The leading exponent s of an error with an expansion A x^s + A c x^(s−1) + …, e.g. the bias
    a/L + c'/L² of a first-order scheme: where the plain power law of :func:`power_law_fit` mixes
    the two terms on a pre-asymptotic grid, this fit separates them. Weights 1/Var_b(log y_b) as
    everywhere; intervals from refits on every bootstrap replicate; c > −min(x) keeps the model
    positive. Needs at least 4 usable points (NaN otherwise).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    used = usable_points(y, exclude)
    nan2 = np.full((1, 2), np.nan)
    if used.sum() < 4:
        return CorrectedPowerLawFit(
            np.array([np.nan]), nan2, np.nan, np.nan, (np.nan, np.nan), used
        )
    xu, logy = x[used], log_replicates(y[:, used])
    sw = np.sqrt(log_weights(logy))
    plain = power_law_fit(xu, y[:, used], level=level)
    lower = [-np.inf, -np.inf, -float(np.min(xu)) * (1.0 - 1e-9)]

    def solve(ly: np.ndarray, ok: np.ndarray, start: np.ndarray) -> np.ndarray:
        def residual(theta: np.ndarray) -> np.ndarray:
            model = theta[0] + theta[1] * np.log(xu[ok]) + np.log1p(theta[2] / xu[ok])
            return sw[ok] * (model - ly[ok])

        start = np.maximum(start, np.array(lower) + 1e-6)
        return least_squares(residual, start, bounds=(lower, np.inf), method="trf").x

    theta0 = solve(logy[0], np.ones(len(xu), bool), np.array([plain.intercept, plain.slope, 0.0]))
    boot = np.full((y.shape[0], 3), np.nan)
    boot[0] = theta0
    for b in range(1, y.shape[0]):
        ok = np.isfinite(logy[b])
        if ok.sum() >= 4:
            boot[b] = solve(logy[b], ok, theta0)
    lo, hi = replicate_interval(boot, level)
    return CorrectedPowerLawFit(
        slopes=np.array([theta0[1]]),
        ci=np.array([[lo[1], hi[1]]]),
        log_amplitude=float(theta0[0]),
        correction=float(theta0[2]),
        correction_ci=(float(lo[2]), float(hi[2])),
        used=used,
    )


def exponential_rate_fit(
    t: np.ndarray,
    y: np.ndarray,
    exclude: np.ndarray | None = None,
    level: float = 0.95,
) -> PowerLawFit:
    """log y = c + λ t by the weighted least squares of :func:`power_law_fit_multi`: the rate λ
    of y ∝ e^(λt), with its bootstrap interval (``slope``, ``ci_low``, ``ci_high``)."""
    return power_law_fit_multi(np.asarray(t, dtype=np.float64)[:, None], y, exclude, level, False)


#: Fixed-exponent forms of the two-term law a L^(−p) + b L^(−q) H^(−r) (docs/mathematics.md,
#: ``heads``).
TWO_TERM_FORMS: dict[str, dict[str, float]] = {
    "bound": {"p": 1.0, "q": 1.0 / 3.0, "r": 0.5},
    "clt": {"p": 1.0, "q": 0.5, "r": 0.5},
}
EXPONENTS = ("p", "q", "r")
#: Exponents of the free form are searched in [0, EXPONENT_MAX].
EXPONENT_MAX = 4.0


@dataclass(frozen=True)
class TwoTermFit:
    """y ≈ a L^(−p) + b L^(−q) H^(−r), fitted in log space (see :func:`two_term_fit`).

    ``params`` and ``ci`` map a, b, p, q, r to the estimate and its (low, high) interval (fixed
    exponents have a degenerate interval); ``rms_log`` is the unweighted root mean square of
    log y − log model on replicate 0; ``aic`` = n log(RSS_w / n) + 2k with RSS_w the weighted
    residual sum of squares and k the number of fitted parameters.
    """

    params: dict[str, float]
    ci: dict[str, tuple[float, float]]
    free: tuple[str, ...]
    rms_log: float
    rss: float
    aic: float
    n_points: int
    used: np.ndarray
    combine: str = "sum"

    @property
    def n_params(self) -> int:
        return 2 + len(self.free)

    def predict(self, L: np.ndarray, H: np.ndarray) -> np.ndarray:
        """The fitted law at (L, H)."""
        return two_term_model(self.params, np.asarray(L, float), np.asarray(H, float), self.combine)


#: How the two terms combine: added (as in docs/mathematics.md), or in quadrature, as a bias and an
#: independent fluctuation do in a root-mean-square error (E² = bias² + fluct²).
COMBINATIONS = ("sum", "quadrature")


def two_term_model(
    params: dict[str, float], L: np.ndarray, H: np.ndarray, combine: str = "sum"
) -> np.ndarray:
    """a L^(−p) + b L^(−q) H^(−r) (``sum``) or its quadrature form (``quadrature``)."""
    p = params
    first, second = p["a"] * L ** (-p["p"]), p["b"] * L ** (-p["q"]) * H ** (-p["r"])
    if combine == "sum":
        return first + second
    if combine == "quadrature":
        return np.sqrt(first**2 + second**2)
    raise ValueError(f"unknown combination {combine!r}; allowed: {COMBINATIONS}")


def _two_term_initial(
    L: np.ndarray, H: np.ndarray, y: np.ndarray, exps: dict[str, float]
) -> tuple[float, float]:
    """log a, log b from nonnegative least squares of y / y in the two basis functions."""
    basis = np.column_stack([L ** (-exps["p"]), L ** (-exps["q"]) * H ** (-exps["r"])])
    coef, _ = nnls(basis / y[:, None], np.ones_like(y))
    tiny = 1e-3 * float(np.min(y)) / float(np.max(basis))
    return float(np.log(max(coef[0], tiny))), float(np.log(max(coef[1], tiny)))


def _two_term_solve(
    L: np.ndarray,
    H: np.ndarray,
    logy: np.ndarray,
    sw: np.ndarray,
    exps: dict[str, float],
    free: tuple[str, ...],
    start: np.ndarray,
    combine: str = "sum",
) -> np.ndarray:
    """least_squares on θ = (log a, log b, free exponents); residuals √w (log model − log y)."""

    def unpack(theta: np.ndarray) -> dict[str, float]:
        p = {**exps, "a": math.exp(theta[0]), "b": math.exp(theta[1])}
        p.update(zip(free, theta[2:], strict=True))
        return p

    def residual(theta: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", divide="ignore"):
            model = np.log(np.maximum(two_term_model(unpack(theta), L, H, combine), 1e-300))
        return sw * (model - logy)

    span = float(np.max(logy) - np.min(logy)) + 50.0
    lower = [float(np.min(logy)) - span] * 2 + [0.0] * len(free)
    upper = [float(np.max(logy)) + span] * 2 + [EXPONENT_MAX] * len(free)
    start = np.clip(start, np.array(lower) + 1e-9, np.array(upper) - 1e-9)
    return least_squares(residual, start, bounds=(lower, upper), method="trf", x_scale=1.0).x


def two_term_fit(
    L: np.ndarray,
    H: np.ndarray,
    y: np.ndarray,
    p: float = 1.0,
    q: float = 1.0 / 3.0,
    r: float = 0.5,
    free: Sequence[str] = (),
    exclude: np.ndarray | None = None,
    level: float = 0.95,
    replicates: int | None = 100,
    combine: str = "sum",
) -> TwoTermFit:
    """Nonlinear least squares fit of y ≈ a L^(−p) + b L^(−q) H^(−r) in log space, a, b ≥ 0.

    ``L``, ``H`` (n,) grid values, ``y`` (B+1, n) replicates. Minimises Σ_j w_j (log y_j −
    log model_j)² with w = 1/Var_b(log y_b) (:func:`log_weights`) over θ = (log a, log b) and the
    exponents named in ``free`` (a subset of "p", "q", "r", bounded to [0, EXPONENT_MAX]); the
    others stay at the values given. Intervals: refits on the first ``replicates`` bootstrap
    replicates (all if None), same weights, started from the point estimate. ``combine`` =
    ``quadrature`` fits sqrt((a L^(−p))² + (b L^(−q) H^(−r))²) instead of the sum.
    """
    free = tuple(free)
    if not set(free) <= set(EXPONENTS):
        raise ValueError(f"free exponents must be among {EXPONENTS}, got {free}")
    L = np.asarray(L, dtype=np.float64)
    H = np.asarray(H, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    used = usable_points(y, exclude)
    exps = {"p": p, "q": q, "r": r}
    names = ("a", "b", *free)
    n_params = len(names)
    nan = float("nan")
    if used.sum() < n_params:
        params = {**exps, "a": nan, "b": nan, **dict.fromkeys(free, nan)}
        ci = {name: (nan, nan) for name in ("a", "b", *EXPONENTS)}
        return TwoTermFit(params, ci, free, nan, nan, nan, int(used.sum()), used, combine)
    Lu, Hu = L[used], H[used]
    logy = log_replicates(y[:, used])
    sw = np.sqrt(log_weights(logy))
    start = np.array([*_two_term_initial(Lu, Hu, y[0, used], exps), *(exps[f] for f in free)])
    theta = _two_term_solve(Lu, Hu, logy[0], sw, exps, free, start, combine)
    count = y.shape[0] - 1 if replicates is None else min(replicates, y.shape[0] - 1)
    boot = np.full((count + 1, n_params), np.nan)
    boot[0] = theta
    for b in range(1, count + 1):
        ok = np.isfinite(logy[b])
        if ok.sum() >= n_params:
            boot[b] = _two_term_solve(
                Lu[ok], Hu[ok], logy[b, ok], sw[ok], exps, free, theta, combine
            )
    values = boot.copy()
    values[:, :2] = np.exp(values[:, :2])
    lo, hi = replicate_interval(values, level)
    params = {**exps, **dict(zip(names, values[0], strict=True))}
    ci = {name: (params[name], params[name]) for name in EXPONENTS}
    ci.update({name: (float(lo[i]), float(hi[i])) for i, name in enumerate(names)})
    resid = np.log(two_term_model(params, Lu, Hu, combine)) - logy[0]
    n = int(used.sum())
    rss = float(np.sum((sw * resid) ** 2))
    aic = n * math.log(max(rss, 1e-300) / n) + 2 * n_params
    rms = float(np.sqrt(np.mean(resid**2)))
    fitted = {k: float(v) for k, v in params.items()}
    return TwoTermFit(fitted, ci, free, rms, rss, aic, n, used, combine)


def local_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Local slopes d log y / d log x between neighbouring grid points.

    s_j = (log y_{j+1} − log y_j) / (log x_{j+1} − log x_j);
    ``x`` (n,) strictly increasing, ``y`` (..., n); returns (..., n−1), NaN where y ≤ 0 or is
    not finite.
    """
    x = np.asarray(x, dtype=np.float64)
    if np.any(np.diff(x) <= 0):
        raise ValueError("x must be strictly increasing")
    logy = log_replicates(y)
    return np.diff(logy, axis=-1) / np.diff(np.log(x))


def fine_end_slope(
    x: np.ndarray, y: np.ndarray, exclude: np.ndarray | None = None, level: float = 0.95
) -> tuple[float, float, float]:
    """The local slope between the two finest usable points (largest x), on replicate 0, and its
    bootstrap interval: (slope, low, high), NaN when fewer than two points are usable.

    ``x`` (n,) increasing, ``y`` (B+1, n); points are usable as in :func:`usable_points`.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    idx = np.flatnonzero(usable_points(y, exclude))
    if len(idx) < 2:
        return (np.nan, np.nan, np.nan)
    pair = idx[-2:]
    slopes = local_slopes(x[pair], y[:, pair])
    lo, hi = replicate_interval(slopes, level)
    return (float(slopes[0, 0]), float(lo[0]), float(hi[0]))


@dataclass(frozen=True)
class LineFit:
    """y = intercept + slope x by ordinary least squares, with the t-interval of the slope at
    ``level`` (for deterministic data: the interval measures how far the points are from a line)."""

    slope: float
    intercept: float
    ci_low: float
    ci_high: float
    n_points: int


def line_fit(x: np.ndarray, y: np.ndarray, level: float = 0.95) -> LineFit:
    """:class:`LineFit` of the finite points of (x, y); NaN where fewer than 3 are finite."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    n = int(ok.sum())
    if n < 3:
        return LineFit(np.nan, np.nan, np.nan, np.nan, n)
    x, y = x[ok], y[ok]
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (intercept + slope * x)
    spread = np.sum((x - x.mean()) ** 2)
    se = np.sqrt(residual @ residual / (n - 2) / spread) if spread > 0 else np.nan
    half = stats.t.ppf(0.5 + level / 2.0, n - 2) * se
    return LineFit(float(slope), float(intercept), float(slope - half), float(slope + half), n)
