"""The zonal kernel κ of the ``sde`` limit noise field, and κ(1), κ′(1) (docs/mathematics.md,
``sde``).

docs/mathematics.md, experiment ``sde``, kernel of the limit field: the per-layer MLP noise field is
``G(y) = m^(−1/2) W φ(U y / sqrt(d) + b_U) + b_W`` with N(0, 1) entries in W ∈ ℝ^{d×m} and
U ∈ ℝ^{m×d}, b_U ~ N(0, σ_U² I_m), b_W ~ N(0, σ_W² I_d). Its limit (m → ∞) is a centred Gaussian
field with covariance ``κ(⟨x, y⟩) I_d``, where, with ``s² = 1/d + σ_U²`` and
``ρ(u) = (u/d + σ_U²)/s²``,

    κ(u) = E[ φ(s Z₁) φ(s(ρ Z₁ + sqrt(1−ρ²) Z₂)) ] + σ_W²,   Z₁, Z₂ i.i.d. N(0, 1),
    κ(1) = E[φ(sZ)²] + σ_W²,   κ′(1) = (1/d) E[φ′(sZ)²].

κ′(1) follows from Price's theorem: ∂/∂c E[f(X) g(Y)] = E[f′(X) g′(Y)] for a centred Gaussian pair
with covariance c = s² ρ(u) = u/d + σ_U², and dc/du = 1/d. The activations φ are those of
``activations``; the exponents built from κ(1) and κ′(1) are in ``exponents``, an independent
Monte Carlo estimate of κ in ``kernel_monte_carlo``.

Quadrature (all float64). The default rule (``method="quadrature"``) is *split at the kinks*, so
that it serves relu, which is not smooth at 0, as well as the smooth activations: the 1-D integrals
E[g(Z)] are folded onto the half-line, ∫₀^R (g(z) + g(−z)) N(z) dz, and the 2-D integral is taken in
polar coordinates (Z₁, Z₂) = r (cos θ, sin θ), where the two factors read φ(s r cos θ) and
φ(s r cos(θ − α)), α = arccos ρ; the kinks sit at θ ∈ {π/2, π/2+α, 3π/2, 3π/2+α}, and each of the
four arcs between them gets a Gauss–Legendre rule of ``order // 2`` nodes, the radial half-line
[0, R] (R = ``RADIUS``, Gaussian tail < 1e-19) one of ``order`` nodes.
With ``DEFAULT_ORDER`` = 64, measured against order 200, against the Gauss–Hermite rule and
against mpmath: κ(u) (u ∈ [−1, 1]), κ(1) and d·κ′(1) are accurate to ≲ 2e-14 absolute for silu,
sigmoid and tanh for every s ≤ 2, and relu's split values match its closed forms to ~1e-16.

``method="hermite"`` is the tensor-product Gauss–Hermite rule (``hermegauss``, probabilists'
weights normalised to sum 1) with ``order`` nodes per dimension, kept as an independent cross-check.
At order 64 it is as accurate (≲ 1e-14) for small s, but it converges only root-exponentially for
activations with complex poles: the error reaches 1e-12 at s ≈ 0.65 for tanh (poles ±iπ/(2s)),
s ≈ 1.3 for silu and 1.4 for sigmoid (1e-7 for tanh at s = 1), and for relu, non-smooth at 0, it
converges only like 1/order (max |error| ≈ 4e-3·κ(1) at order 64, 2e-3 at 128).

relu closed forms (arc-cosine kernel of degree 1):
E[relu(sX) relu(sY)] = s²/(2π) (sqrt(1−ρ²) + (π − arccos ρ) ρ), so κ(1) = s²/2 + σ_W² and
κ′(1) = 1/(2d).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from numpy.polynomial.legendre import leggauss

from attnlimits.sde.activations import Activation, Elementwise, get_activation

Method = Literal["auto", "exact", "quadrature", "hermite", "split"]

DEFAULT_ORDER = 64
"""Nodes per dimension: Gauss–Hermite order; for the split rule, radial nodes (arcs get half)."""
RADIUS = 10.0
"""Truncation of the half-line in the split rule; ∫_R^∞ (r³ + r) e^{−r²/2} dr ≈ 2e-20."""
_U_BLOCK = 64


# --------------------------------------------------------------------------- quadrature rules


@lru_cache(maxsize=32)
def _hermite_rule(order: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Hermite nodes and weights for N(0, 1) (weights sum to 1)."""
    z, w = hermegauss(order)
    w = w / w.sum()
    z.setflags(write=False)
    w.setflags(write=False)
    return z, w


@lru_cache(maxsize=32)
def _legendre_rule(order: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on [0, 1]."""
    x, w = leggauss(order)
    x, w = 0.5 * (x + 1.0), 0.5 * w
    x.setflags(write=False)
    w.setflags(write=False)
    return x, w


def _half_line_rule(order: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes z ∈ (0, R) and weights with Σ w g(z) ≈ ∫₀^∞ g(z) N(z) dz."""
    x, w = _legendre_rule(order)
    z = RADIUS * x
    return z, RADIUS * w * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _expect_1d(g: Elementwise, order: int, split: bool) -> float:
    """E[g(Z)], Z ~ N(0, 1): Gauss–Hermite, or folded onto the half-line when ``split``."""
    if split:
        z, w = _half_line_rule(order)
        return float(np.dot(w, g(z) + g(-z)))
    z, w = _hermite_rule(order)
    return float(np.dot(w, g(z)))


def _resolve(method: Method, act: Activation) -> Literal["exact", "hermite", "split"]:
    """The rule ``method`` stands for: exact, hermite or split."""
    if method == "auto":
        method = "exact" if act.name in _CLOSED_FORMS else "quadrature"
    if method == "quadrature":
        return "split"
    if method == "exact" and act.name not in _CLOSED_FORMS:
        raise ValueError(f"no closed form for activation {act.name!r}")
    if method not in ("exact", "hermite", "split"):
        raise ValueError(f"unknown method {method!r}")
    return method


def check_parameters(d: int, sigma_u: float, sigma_w: float) -> None:
    """Raise ValueError unless d is a positive integer and σ_U, σ_W ≥ 0."""
    if int(d) != d or d < 1:
        raise ValueError(f"d must be a positive integer, got {d}")
    if sigma_u < 0 or sigma_w < 0:
        raise ValueError(f"bias scales must be non-negative, got {sigma_u}, {sigma_w}")


def pre_activation_scale(d: int, sigma_u: float) -> float:
    """s = sqrt(1/d + σ_U²), the standard deviation of a pre-activation U_i·y/sqrt(d) + b_U,i."""
    return math.sqrt(1.0 / d + sigma_u**2)


def correlation(u: np.ndarray | float, d: int, sigma_u: float) -> np.ndarray:
    """ρ(u) = (u/d + σ_U²)/s², the correlation of the pre-activations at ⟨x, y⟩ = u."""
    s2 = 1.0 / d + sigma_u**2
    return np.clip((np.asarray(u, dtype=np.float64) / d + sigma_u**2) / s2, -1.0, 1.0)


# --------------------------------------------------------------------------- the kernel


def relu_arccos_expectation(rho: np.ndarray | float, s: float) -> np.ndarray:
    """E[relu(sX) relu(sY)] = s²/(2π) (sqrt(1−ρ²) + (π − arccos ρ) ρ), corr(X, Y) = ρ."""
    rho = np.clip(np.asarray(rho, dtype=np.float64), -1.0, 1.0)
    return s * s / (2.0 * math.pi) * (np.sqrt(1.0 - rho * rho) + (math.pi - np.arccos(rho)) * rho)


def _exact_kernel(u: np.ndarray, act: Activation, d: int, sigma_u: float) -> np.ndarray:
    return _CLOSED_FORMS[act.name].pair(
        correlation(u, d, sigma_u), pre_activation_scale(d, sigma_u)
    )


def _hermite_kernel(rho: np.ndarray, act: Activation, s: float, order: int) -> np.ndarray:
    """Σ_ij w_i w_j φ(s z_i) φ(s(ρ z_i + sqrt(1−ρ²) z_j)), vectorised over ρ."""
    z, w = _hermite_rule(order)
    first = w * act.phi(s * z)  # (i,)
    out = np.empty(rho.shape)
    for lo in range(0, rho.size, _U_BLOCK):
        r = rho[lo : lo + _U_BLOCK, None, None]
        second = act.phi(s * (r * z[:, None] + np.sqrt(1.0 - r * r) * z[None, :]))
        out[lo : lo + _U_BLOCK] = np.einsum("i,j,kij->k", first, w, second)
    return out


def _split_kernel(rho: np.ndarray, act: Activation, s: float, order: int) -> np.ndarray:
    """The same expectation in polar coordinates, Gauss–Legendre on the arcs between the kinks."""
    r, wr = _half_line_rule(order)
    radial = math.sqrt(2.0 * math.pi) * wr * r  # Σ radial·h(r) ≈ ∫₀^∞ h(r) r e^{−r²/2} dr
    x, wx = _legendre_rule(max(order // 2, 2))
    out = np.empty(rho.shape)
    for lo in range(0, rho.size, _U_BLOCK):
        alpha = np.arccos(rho[lo : lo + _U_BLOCK])[:, None]  # (k, 1)
        starts = np.concatenate(
            [
                0.5 * np.pi + 0 * alpha,
                0.5 * np.pi + alpha,
                1.5 * np.pi + 0 * alpha,
                1.5 * np.pi + alpha,
            ],
            axis=1,
        )  # (k, 4)
        lengths = np.concatenate([alpha, np.pi - alpha, alpha, np.pi - alpha], axis=1)
        theta = (starts[:, :, None] + lengths[:, :, None] * x).reshape(len(alpha), -1)
        wtheta = (lengths[:, :, None] * wx).reshape(len(alpha), -1) / (2.0 * math.pi)
        sr = s * r  # (n_r,)
        f1 = act.phi(sr[None, None, :] * np.cos(theta)[:, :, None])
        f2 = act.phi(sr[None, None, :] * np.cos(theta - alpha)[:, :, None])
        out[lo : lo + _U_BLOCK] = np.einsum("kt,r,ktr->k", wtheta, radial, f1 * f2)
    return out


def kernel(
    u: np.ndarray | float,
    activation: str,
    d: int,
    sigma_u: float,
    sigma_w: float,
    *,
    method: Method = "auto",
    order: int = DEFAULT_ORDER,
) -> np.ndarray:
    """κ(u) = E[φ(s Z₁) φ(s(ρ Z₁ + sqrt(1−ρ²) Z₂))] + σ_W², vectorised over u ∈ [−1, 1].

    ``method``: ``exact`` (closed form; relu's arc-cosine kernel), ``hermite`` (2-D Gauss–Hermite of
    ``order`` per dimension), ``split`` (polar rule split at the kinks, see the module docstring),
    ``quadrature`` (= split, the accurate default rule), ``auto`` (exact where a closed form exists,
    else quadrature). Returns an array of u's shape.
    """
    check_parameters(d, sigma_u, sigma_w)
    u_arr = np.asarray(u, dtype=np.float64)
    if np.any(np.abs(u_arr) > 1.0 + 1e-12):
        raise ValueError("u must lie in [-1, 1]")
    act = get_activation(activation)
    how = _resolve(method, act)
    if how == "exact":
        return _exact_kernel(u_arr, act, d, sigma_u) + sigma_w**2
    rho = correlation(u_arr, d, sigma_u).ravel()
    s = pre_activation_scale(d, sigma_u)
    rule = _hermite_kernel if how == "hermite" else _split_kernel
    return rule(rho, act, s, order).reshape(u_arr.shape) + sigma_w**2


def _gaussian_moment(
    activation: str,
    d: int,
    sigma_u: float,
    sigma_w: float,
    method: Method,
    order: int,
    integrand: Callable[[Activation, np.ndarray], np.ndarray],
    closed: Callable[[_ClosedForm, float], float],
) -> float:
    """E[integrand(φ, sZ)] by 1-D quadrature, or by the closed form where ``method`` says so."""
    check_parameters(d, sigma_u, sigma_w)
    act = get_activation(activation)
    how = _resolve(method, act)
    s = pre_activation_scale(d, sigma_u)
    if how == "exact":
        return closed(_CLOSED_FORMS[act.name], s)
    return _expect_1d(lambda z: integrand(act, s * z), order, how == "split")


def kappa_one(
    activation: str,
    d: int,
    sigma_u: float,
    sigma_w: float,
    *,
    method: Method = "auto",
    order: int = DEFAULT_ORDER,
) -> float:
    """κ(1) = E[φ(sZ)²] + σ_W² (1-D quadrature; relu closed form s²/2 + σ_W²)."""
    moment = _gaussian_moment(
        activation, d, sigma_u, sigma_w, method, order,
        lambda act, x: act.phi(x) ** 2, lambda form, s: form.square(s),
    )  # fmt: skip
    return moment + sigma_w**2


def kappa_prime_one(
    activation: str,
    d: int,
    sigma_u: float,
    sigma_w: float,
    *,
    method: Method = "auto",
    order: int = DEFAULT_ORDER,
) -> float:
    """κ′(1) = (1/d) E[φ′(sZ)²] (1-D quadrature; relu closed form 1/(2d)). σ_W does not enter."""
    moment = _gaussian_moment(
        activation, d, sigma_u, sigma_w, method, order,
        lambda act, x: act.dphi(x) ** 2, lambda form, s: form.derivative_square(s),
    )  # fmt: skip
    return moment / d


@dataclass(frozen=True)
class _ClosedForm:
    pair: Callable[[np.ndarray, float], np.ndarray]  # (ρ, s) ↦ E[φ(sX) φ(sY)]
    square: Callable[[float], float]  # s ↦ E[φ(sZ)²]
    derivative_square: Callable[[float], float]  # s ↦ E[φ′(sZ)²]


_CLOSED_FORMS: dict[str, _ClosedForm] = {
    "relu": _ClosedForm(
        pair=relu_arccos_expectation,
        square=lambda s: 0.5 * s * s,
        derivative_square=lambda s: 0.5,
    ),
}
