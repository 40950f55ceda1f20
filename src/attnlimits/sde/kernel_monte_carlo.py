"""Monte Carlo κ from the finite-width field, a check of the quadrature (docs/mathematics.md,
``sde``).

docs/mathematics.md, experiment ``sde``: given U and b_U, the MLP field
G(y) = m^(−1/2) W φ(U y/sqrt(d) + b_U) + b_W has per-coordinate covariance
C_m(x, y) = (1/m) Σ_i φ(a_i(x)) φ(a_i(y)) + σ_W², a_i(y) = U_i·y/sqrt(d) + b_U,i, which tends to
κ(⟨x, y⟩) as m → ∞. Averaging the products over rows of U and b_U drawn as in that definition
estimates κ independently of the quadrature of ``kernel``.

The products φ(a(x)) φ(a(y)) are averaged with regression control variates, Hermite polynomials
of the standardised pre-activations with exactly known mean 0 (cross-fitted slopes, so unbiased).
On the default table (2e6 rows, ≈ 10 s) the relative standard error is ≤ 1.4e-4 on every row,
against ≤ 1.8e-3 for the plain average of the same rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from attnlimits.sde.activations import get_activation
from attnlimits.sde.kernel import check_parameters, correlation, pre_activation_scale
from attnlimits.seeding import generator

DEFAULT_SAMPLES = 2_000_000
"""Monte Carlo rows of U in ``exponents_table.exponents_table`` (default table: ≈ 10 s on one core).

With the Hermite control variates (``monte_carlo_kernel``) the relative standard error of κ(1)
and κ(1/2) is ≤ 1.4e-4 on every row of the default table (relu, u = 1/2, is the worst; the
smooth activations are at ≤ 3e-5), so a relative error of 1e-3 is ≥ 7 standard errors; the plain
row average of the same rows has up to 1.8e-3.
"""
CONTROL_DEGREE = 6
"""Highest total degree of the Hermite control variates of ``monte_carlo_kernel``: 27 controls
hⱼ(Z₁) hₖ(Z₂) for |ρ| < 1, 6 controls hⱼ(Z₁) at u = 1."""
_DEGREE_MIN_SAMPLES = (0, 1_000, 5_000, 20_000, 100_000, 400_000, 1_000_000)
"""Fewest rows for control degree D = 0, …, 6. Measured (d = 6, σ = 0, the four activations,
u ∈ {−0.5, 0.5, 0.9, 1}, 40 to 400 seeds per size): at each threshold the standard deviation of
the z-score (estimate − quadrature)/se is ≈ 0.9–1.17, and ≈ 1 for degree 6 at 2e6 rows (d = 64);
higher degrees at the same size give more: D = 4 at 2e4 up to 1.16, D = 6 at 4e5 up to 1.4,
D = 6 at 2e4 up to 1.7 (the sample variance of heavy-tailed residuals is then too small)."""
_CHUNK_ROWS = 16_384


SeedLike = int | str | Sequence[int | str]


def _seed_parts(seed: SeedLike) -> tuple[int | str, ...]:
    return (seed,) if isinstance(seed, int | str) else tuple(seed)


def _hermite_basis(z: np.ndarray, degree: int) -> list[np.ndarray]:
    """hₖ(z) = Heₖ(z)/sqrt(k!), k = 0, …, degree: orthonormal under N(0, 1).

    Three-term recurrence sqrt(k+1) hₖ₊₁ = z hₖ − sqrt(k) hₖ₋₁ (probabilists' Hermite
    polynomials Heₖ₊₁ = z Heₖ − k Heₖ₋₁, normalised).
    """
    out = [np.ones_like(z), z]
    for k in range(1, degree):
        out.append((z * out[k] - math.sqrt(k) * out[k - 1]) / math.sqrt(k + 1))
    return out[: degree + 1]


def _control_variates(
    z1: np.ndarray, z2: np.ndarray | None, degree: int, out: np.ndarray | None = None
) -> np.ndarray:
    """The controls hⱼ(Z₁) hₖ(Z₂), 1 ≤ j + k ≤ degree, as columns (only k = 0 if ``z2`` is None).

    For independent Z₁, Z₂ ~ N(0, 1) each has mean exactly E[hⱼ(Z₁)] E[hₖ(Z₂)] = 0 (j + k ≥ 1)
    and they are orthonormal, so the least-squares fit on them is well conditioned. With ``out``
    (rows, ``_control_count``) the columns are written into it (same values) and it is returned.
    """
    h1 = _hermite_basis(z1, degree)
    if z2 is None:
        cols = h1[1:]
    else:
        h2 = _hermite_basis(z2, degree)
        cols = [(h1[j], h2[k]) for j in range(degree + 1) for k in range(degree + 1 - j) if j + k]
    if out is None:
        if not cols:
            return np.empty((len(z1), 0))
        return np.column_stack(cols if z2 is None else [a * b for a, b in cols])
    for i, col in enumerate(cols):
        if z2 is None:
            out[:, i] = col
        else:
            np.multiply(col[0], col[1], out=out[:, i])
    return out


def _control_count(one_variable: bool, degree: int) -> int:
    """Columns of ``_control_variates``: D in Z₁ alone, else (D+1)(D+2)/2 − 1."""
    return degree if one_variable else (degree + 1) * (degree + 2) // 2 - 1


def _control_degree(samples: int) -> int:
    """The Hermite degree of the controls for ``samples`` rows (0: plain Monte Carlo).

    The largest D ≤ ``CONTROL_DEGREE`` with ``samples ≥ _DEGREE_MIN_SAMPLES[D]``: the residual
    Y − Xβ of a degree-D fit is dominated by degree > D Hermite components, whose heavy tails
    (E[h₇(Z)⁴] ≈ 3e5) make the sample standard deviation underestimate the spread of the estimate
    until the rows are many (see ``_DEGREE_MIN_SAMPLES``).
    """
    return max(
        deg
        for deg in range(min(CONTROL_DEGREE, len(_DEGREE_MIN_SAMPLES) - 1) + 1)
        if samples >= _DEGREE_MIN_SAMPLES[deg]
    )


@dataclass(frozen=True)
class MonteCarloKernels:
    """Monte Carlo κ(u), arrays indexed [activation, bias pair, u]."""

    estimate: np.ndarray  # with control variates (cross-fitted)
    se: np.ndarray
    plain_estimate: np.ndarray  # plain average of the same rows
    plain_se: np.ndarray
    degree: int  # Hermite degree of the controls (0: none)


def _fold_sums(gram: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Σ r and Σ r² over a fold for the combinations r = Z w of its columns, from G = ZᵀZ.

    Z = [1, X, R] (first column the constant), w of shape (columns, combinations).
    """
    return gram[0] @ w, np.einsum("ia,ij,ja->a", w, gram, w)


def _mean_and_se(
    sums: Sequence[np.ndarray], squares: Sequence[np.ndarray], counts: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled mean over the folds and its standard error sqrt(s²/n), s² the pooled variance.

    s² = Σ_f (Σ_f r² − (Σ_f r)²/n_f) / (n − #folds): each fold's deviations from its own mean.
    """
    n = sum(counts)
    mean = sum(sums) / n
    ss = sum(q - s * s / m for s, q, m in zip(sums, squares, counts, strict=True))
    var = np.maximum(ss, 0.0) / (n - len(counts))
    return mean, np.sqrt(var / n)


def monte_carlo_kernels(
    us: Sequence[float],
    activations: Sequence[str],
    d: int,
    biases: Sequence[tuple[float, float]],
    samples: int,
    seed: SeedLike,
) -> MonteCarloKernels:
    """κ(u) = E[Y] + σ_W², Y = φ(a_x) φ(a_y), from rows of U and b_U, with Hermite control variates,
    for every activation, bias pair (σ_U, σ_W) and u at once (``monte_carlo_kernel`` for one).

    One stream per (seed, d): the same rows of U and b_U (scaled by each σ_U) serve every
    activation, bias pair and u (common random numbers). For each bias pair and u the standardised
    pre-activations Z₁ = a_x/s and Z₂ = (a_y/s − ρ Z₁)/sqrt(1 − ρ²) are independent N(0, 1)
    (s, ρ = ``pre_activation_scale``, ``correlation``; Z₂ is dropped when 1 − |ρ| < 1e-8, where
    a_y ≈ ±a_x and controls in Z₁ alone remain exact), so the controls
    X = (hⱼ(Z₁) hₖ(Z₂))_{1 ≤ j+k ≤ D} have mean exactly 0, D = ``_control_degree(samples)``.

    Two-fold cross-fitting: the rows are split into two folds (the halves of every chunk); the
    slope β_B of the least-squares fit Y ≈ c + Xβ on fold B is applied to fold A and vice versa,
    and the estimate is the mean of r = Y − Xβ_other over all rows. It is exactly unbiased (each
    fold's β is independent of the rows it is applied to, and E[X] = 0), and its standard error is
    sqrt(s²/n), s² the pooled within-fold variance of r (n − 2 degrees of freedom). Only Gram
    matrices ZᵀZ, Z = [1, X, R] per fold, are accumulated, with R = Y − c₀ − Xβ₀ from a fit on the
    first chunk (a preconditioner only: the estimate does not depend on it in exact arithmetic).
    The plain mean of Y over the same rows, with its standard error, is returned beside it.
    """
    if d < 2:
        raise ValueError("the Monte Carlo kernel needs d >= 2")
    if samples < 4:
        raise ValueError("need at least 4 samples")
    degree = _control_degree(samples)
    # the stream's key names the module this estimator was first written in; it stays, so that
    # the same seed keeps giving the same estimates
    rng = generator("sde.kernel.monte_carlo", *_seed_parts(seed), int(d))
    # Dense orthonormal e, f: x = e, y_u = u e + sqrt(1 − u²) f, so ⟨x, y_u⟩ = u, |x| = |y_u| = 1.
    q, _ = np.linalg.qr(rng.standard_normal((d, 2)))
    e, f = q[:, 0], q[:, 1]
    u_unique, back = np.unique(np.asarray(us, dtype=np.float64), return_inverse=True)
    partners = [ui for ui in u_unique if ui != 1.0]  # y_1 = x needs no column of its own
    directions = np.column_stack([e, *(ui * e + math.sqrt(1.0 - ui * ui) * f for ui in partners)])
    column = np.array([0 if ui == 1.0 else 1 + partners.index(ui) for ui in u_unique])
    acts = [get_activation(a) for a in activations]
    sigma_u = np.array([su for su, _ in biases], dtype=np.float64)
    scale = [pre_activation_scale(d, su) for su in sigma_u]
    rho = np.array([correlation(u_unique, d, su) for su in sigma_u])  # (bias pairs, u)
    pairs = [(j, k) for j in range(len(sigma_u)) for k in range(len(u_unique))]

    def draw(c: int) -> np.ndarray:
        """Pre-activations a_i(x), a_i(y_u) of c fresh rows, shape (c, bias pairs, columns)."""
        rows = rng.standard_normal((c, d))  # c rows of U, N(0, 1) entries
        noise = rng.standard_normal(c)  # b_U / σ_U for those rows
        proj = rows @ directions / math.sqrt(d)  # U_i·x/sqrt(d), U_i·y_u/sqrt(d)
        return proj[:, None, :] + sigma_u[None, :, None] * noise[:, None, None]

    def design(pre: np.ndarray, j: int, k: int, extra: int) -> np.ndarray:
        """Z = [1, X, ·]: the constant and the controls of bias pair j and u_k, then ``extra``
        columns left to fill, shape (c, 1 + #X + extra) (the columns written in place: the
        values of ``np.column_stack([1, _control_variates(z1, z2)])``, no intermediate copies)."""
        z1 = pre[:, j, 0] / scale[j]
        r = float(rho[j, k])
        z2 = None
        if 1.0 - abs(r) >= 1e-8:
            z2 = (pre[:, j, column[k]] / scale[j] - r * z1) / math.sqrt(1.0 - r * r)
        n_x = 1 + _control_count(z2 is None, degree)
        z = np.empty((len(pre), n_x + extra))
        z[:, 0] = 1.0
        _control_variates(z1, z2, degree, out=z[:, 1:n_x])
        return z

    precondition: dict[tuple[int, int], np.ndarray] = {}  # (c₀, β₀) per pair, one column per φ
    grams: dict[tuple[int, int], list[np.ndarray]] = {}  # per pair, [fold 0, fold 1]
    counts = [0, 0]
    done = 0
    while done < samples:
        c = min(_CHUNK_ROWS, samples - done)
        pre = draw(c)
        phi = np.stack([act.phi(pre) for act in acts], axis=-1)  # (c, bias pairs, columns, φ)
        for j, k in pairs:
            z = design(pre, j, k, len(acts))  # [1, X, R]
            x = z[:, : -len(acts)]
            y = phi[:, j, 0] * phi[:, j, column[k]]  # Y = φ(a_i(x)) φ(a_i(y_u)), (c, φ)
            if (j, k) not in precondition:
                precondition[j, k] = np.linalg.lstsq(x, y, rcond=None)[0]
                grams[j, k] = [np.zeros((z.shape[1],) * 2) for _ in range(2)]
            np.subtract(y, x @ precondition[j, k], out=z[:, -len(acts) :])
            for fold, rows in enumerate((slice(0, c // 2), slice(c // 2, c))):
                grams[j, k][fold] += z[rows].T @ z[rows]
        counts[0] += c // 2
        counts[1] += c - c // 2
        done += c

    shape = (len(acts), len(sigma_u), len(u_unique))
    est, se, plain, plain_se = (np.empty(shape) for _ in range(4))
    for j, k in pairs:
        g = grams[j, k]
        n_x = g[0].shape[0] - len(acts)  # columns of [1, X]
        # slopes δ of R on X fitted on each fold: R − Xδ = Y − c₀ − X(β₀ + δ)
        slopes = [np.linalg.solve(gf[:n_x, :n_x], gf[:n_x, n_x:])[1:] for gf in g]
        cv_w = [np.vstack([np.zeros((1, len(acts))), -b, np.eye(len(acts))]) for b in slopes]
        cv = [_fold_sums(g[f], cv_w[1 - f]) for f in (0, 1)]
        m, s = _mean_and_se([t[0] for t in cv], [t[1] for t in cv], counts)
        plain_w = np.vstack([np.zeros((1, len(acts))), precondition[j, k][1:], np.eye(len(acts))])
        pl = [_fold_sums(gf, plain_w) for gf in g]
        pm, ps = _mean_and_se([sum(t[0] for t in pl)], [sum(t[1] for t in pl)], [samples])
        c0 = precondition[j, k][0]
        est[:, j, k], se[:, j, k], plain[:, j, k], plain_se[:, j, k] = c0 + m, s, c0 + pm, ps
    sigma_w2 = np.array([sw**2 for _, sw in biases])[None, :, None]
    return MonteCarloKernels(
        estimate=est[..., back] + sigma_w2,
        se=se[..., back],
        plain_estimate=plain[..., back] + sigma_w2,
        plain_se=plain_se[..., back],
        degree=degree,
    )


def monte_carlo_kernel(
    u: np.ndarray | float,
    activation: str,
    d: int,
    sigma_u: float,
    sigma_w: float,
    samples: int = DEFAULT_SAMPLES,
    seed: SeedLike = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Monte Carlo κ(u) from the finite-width field definition; returns (estimate, standard error).

    For dense unit vectors x, y ∈ S^{d−1} with ⟨x, y⟩ = u it draws ``samples`` rows U_i of U
    (N(0, 1) entries, shape (samples, d)) and b_U,i ~ N(0, σ_U²) and forms the products
    Y_i = φ(a_i(x)) φ(a_i(y)), a_i(y) = U_i·y/sqrt(d) + b_U,i. Given U and b_U, the field
    G(y) = m^(−1/2) W φ(U y/sqrt(d) + b_U) + b_W has per-coordinate covariance
    E[G_k(x) G_k(y) | U, b_U] = (1/m) Σ_i Y_i + σ_W² = C_m(x, y) (W, b_W independent and centred;
    coordinates k ≠ l uncorrelated), which tends to κ(u) = E[Y] + σ_W² as m → ∞ (law of large
    numbers, i.i.d. rows).

    Instead of the plain row average, the estimate is the regression (control-variate) estimator
    mean(Y_i − βᵀX_i), with controls X = (hⱼ(Z₁) hₖ(Z₂))_{1 ≤ j+k ≤ D}, hₖ = Heₖ/sqrt(k!), of the
    standardised pre-activations Z₁ = a(x)/s, Z₂ = (a(y)/s − ρ Z₁)/sqrt(1 − ρ²), which are
    independent N(0, 1), so E[X] = 0 exactly (only Z₁ when |ρ| ≈ 1). β is the least-squares slope,
    cross-fitted on two folds (each fold's rows use the other fold's β), so the estimator is
    unbiased and its standard error is sqrt(s²/samples), s² the pooled within-fold variance of
    Y − βᵀX (see ``monte_carlo_kernels``). The degree D is ``CONTROL_DEGREE`` = 6 from 1e6
    samples and lower below (``_DEGREE_MIN_SAMPLES``; plain Monte Carlo below 1000). For relu at
    σ_U = 0 it cuts the standard error ≈ 13× (u = 1/2) to 25× (u = 1), for the smooth activations
    by 30× to 3e7× (the products are nearly polynomials of the pre-activations when s is small).
    Random numbers come from ``Generator(PCG64(SeedSequence(...)))`` keyed by (seed, d); the same
    seed gives bit-identical estimates.
    """
    check_parameters(d, sigma_u, sigma_w)
    u_arr = np.asarray(u, dtype=np.float64)
    if np.any(np.abs(u_arr) > 1.0 + 1e-12):
        raise ValueError("u must lie in [-1, 1]")
    u_clip = np.clip(u_arr, -1.0, 1.0)
    mc = monte_carlo_kernels(
        u_clip.ravel().tolist(), [activation], d, [(sigma_u, sigma_w)], samples, seed
    )
    return mc.estimate[0, 0].reshape(u_arr.shape), mc.se[0, 0].reshape(u_arr.shape)
