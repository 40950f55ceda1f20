"""The exponents of the ``sde`` noise flow and P2's synchronization premise (docs/mathematics.md,
``sde``).

docs/mathematics.md, experiment ``sde``, predictions (synchronization): from κ(1) and κ′(1)
(``kernel``) the pure-noise flow has

    λ₁ = ((d−3)/2) κ′(1) − ((d−1)/2) κ(1)      (Lyapunov exponent: pathwise rate of log|Xⁱ − Xʲ|),
    λ̄  = (d−1) κ′(1) − (d−3) κ(1)              (coercivity exponent: rate of E[E_β(μ_t)]).

If λ̄ < 0 and the noise field is not odd (``is_odd_field``), P2 gives synchronization
(``synchronization_holds``) with E[E_β(μ_t)] ≤ e^{(ε+λ̄′)t} E[E_β(μ₀)], where, on our reading of
the proof, λ̄′ = −inf_{u∈[−1,1)} F(u),

    F(u) = β e^{βu} G(u) / (e^β − e^{βu}),   G(u) = κ(u)(d−2+u²−βu(1−u²)) + κ(1)(β(1−u²) − (d−1)u),

and F(u) → −λ̄ as u → 1 (``energy_rate_function``, ``energy_rate_bound``).

relu closed forms (κ(1) = s²/2 + σ_W², κ′(1) = 1/(2d), s² = 1/d + σ_U²):

    λ₁ = −1/(2d) − (d−1)(σ_U² + 2σ_W²)/4,
    λ̄  =  1/d    − (d−3)(σ_U² + 2σ_W²)/2,

and λ̄ < 0 ⟺ d (d−3)(σ_U² + 2σ_W²) > 2: never without biases (λ̄ = 1/d), nor for d ≤ 3.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from attnlimits.sde.activations import get_activation
from attnlimits.sde.kernel import (
    DEFAULT_ORDER,
    Method,
    check_parameters,
    kappa_one,
    kappa_prime_one,
)


def exponents_from_kappa(d: int, kappa_1: float, kappa_prime_1: float) -> tuple[float, float]:
    """(λ₁, λ̄) = (((d−3)/2) κ′(1) − ((d−1)/2) κ(1), (d−1) κ′(1) − (d−3) κ(1))."""
    lam1 = 0.5 * (d - 3) * kappa_prime_1 - 0.5 * (d - 1) * kappa_1
    lam_bar = (d - 1) * kappa_prime_1 - (d - 3) * kappa_1
    return lam1, lam_bar


def exponents(
    activation: str,
    d: int,
    sigma_u: float,
    sigma_w: float,
    *,
    method: Method = "auto",
    order: int = DEFAULT_ORDER,
) -> tuple[float, float]:
    """(λ₁, λ̄) of :func:`exponents_from_kappa`, from κ(1) and κ′(1) by quadrature."""
    k1 = kappa_one(activation, d, sigma_u, sigma_w, method=method, order=order)
    kp = kappa_prime_one(activation, d, sigma_u, sigma_w, method=method, order=order)
    return exponents_from_kappa(d, k1, kp)


def lyapunov_exponent(activation: str, d: int, sigma_u: float, sigma_w: float, **kw: Any) -> float:
    """λ₁ = ((d−3)/2) κ′(1) − ((d−1)/2) κ(1), the pathwise rate of log|Xⁱ − Xʲ| near collapse
    (``kw``: ``method``, ``order`` of :func:`exponents`)."""
    return exponents(activation, d, sigma_u, sigma_w, **kw)[0]


def coercivity_exponent(
    activation: str, d: int, sigma_u: float, sigma_w: float, **kw: Any
) -> float:
    """λ̄ = (d−1) κ′(1) − (d−3) κ(1), the decay rate of E[E_β(μ_t)] near a single cluster
    (``kw``: ``method``, ``order`` of :func:`exponents`)."""
    return exponents(activation, d, sigma_u, sigma_w, **kw)[1]


def relu_lyapunov_exponent(d: int, sigma_u: float, sigma_w: float) -> float:
    """relu's closed form λ₁ = −1/(2d) − (d−1)(σ_U² + 2σ_W²)/4.

    From κ(1) = 1/(2d) + σ_U²/2 + σ_W² and κ′(1) = 1/(2d):
    ((d−3) − (d−1))/(4d) − (d−1)(σ_U²/2 + σ_W²)/2.
    """
    check_parameters(d, sigma_u, sigma_w)
    return -1.0 / (2.0 * d) - (d - 1) * (sigma_u**2 + 2.0 * sigma_w**2) / 4.0


def relu_coercivity_exponent(d: int, sigma_u: float, sigma_w: float) -> float:
    """relu's closed form λ̄ = 1/d − (d−3)(σ_U² + 2σ_W²)/2.

    From κ(1) = 1/(2d) + σ_U²/2 + σ_W² and κ′(1) = 1/(2d):
    ((d−1) − (d−3))/(2d) − (d−3)(σ_U²/2 + σ_W²).
    Negative iff d (d−3)(σ_U² + 2σ_W²) > 2.
    """
    check_parameters(d, sigma_u, sigma_w)
    return 1.0 / d - (d - 3) * (sigma_u**2 + 2.0 * sigma_w**2) / 2.0


def is_odd_field(activation: str, sigma_u: float, sigma_w: float) -> bool:
    """Whether the noise field is odd: G(−y) = −G(y) for all y, jointly (almost surely).

    Equivalently the pair (G(y), G(−y)) has the law of (G(y), −G(y)); for a centred field,
    y ↦ −G(−y) always has the law of G, so oddness "in law" of the marginal process is automatic
    and the meaningful notion is this joint one. It holds iff φ is odd and σ_U = σ_W = 0:

    * if φ is odd and there are no biases, G(−y) = m^(−1/2) W φ(−U y/sqrt(d)) = −G(y) pathwise,
      at every width m and hence in the limit;
    * in the Gaussian limit, G(−y) = −G(y) a.s. iff E|G(y) + G(−y)|² = 2 d (κ(1) + κ(−1)) = 0.
      If σ_U > 0 then ρ(−1) > −1, the two pre-activations are not functions of each other, and
      E[φ(X)φ(Y)] = −E[φ(X)²] forces φ ≡ 0 (equality in Cauchy–Schwarz); if σ_U = 0,
      κ(1) + κ(−1) = ½ E[(φ(sZ) + φ(−sZ))²] + 2σ_W², zero iff φ is odd (a.e.) and σ_W = 0.

    An odd field maps an antipodal pair x, −x to an antipodal pair, so two antipodal clusters are
    invariant under the noise and synchronization into one cluster cannot be forced by it.
    tanh is odd; relu, silu and sigmoid are not.
    """
    if sigma_u < 0 or sigma_w < 0:
        raise ValueError("bias scales must be non-negative")
    return get_activation(activation).odd and sigma_u == 0.0 and sigma_w == 0.0


def synchronization_holds(
    activation: str,
    d: int,
    sigma_u: float,
    sigma_w: float,
    *,
    method: Method = "auto",
    order: int = DEFAULT_ORDER,
) -> bool:
    """P2's sufficient condition for synchronization by noise: λ̄ < 0 and the field is not odd."""
    lam_bar = coercivity_exponent(activation, d, sigma_u, sigma_w, method=method, order=order)
    return bool(lam_bar < 0.0) and not is_odd_field(activation, sigma_u, sigma_w)


def energy_rate_function(
    u: np.ndarray, kappa_u: np.ndarray, kappa_1: float, d: int, beta: float
) -> np.ndarray:
    """F(u) = β e^{βu} G(u) / (e^β − e^{βu}), G(u) = κ(u)(d−2+u²−βu(1−u²)) + κ(1)(β(1−u²) − (d−1)u).

    docs/mathematics.md, ``sde`` (our reading of P2's proof): F(u) → −λ̄ as u → 1.
    Computed as β G / expm1(β(1−u)), stable for u close to 1.
    """
    g = kappa_u * (d - 2 + u**2 - beta * u * (1 - u**2)) + kappa_1 * (
        beta * (1 - u**2) - (d - 1) * u
    )
    return beta * g / np.expm1(beta * (1.0 - u))


def energy_rate_bound(
    kappa: Callable[[np.ndarray], np.ndarray],
    kappa_1: float,
    d: int,
    beta: float,
    points: int = 20001,
) -> float:
    """λ̄′ = −inf_{u∈[−1,1)} F(u): P2's bound E[E_β(μ_t)] ≤ e^{(ε+λ̄′)t} E[E_β(μ₀)].

    ``kappa`` evaluates κ on an array of u. The infimum is taken on ``points`` Chebyshev-clustered
    points of [−1, 1) (dense near u = 1, where F tends to −λ̄), so λ̄′ ≥ λ̄ up to that grid.
    """
    u = np.cos(np.linspace(np.pi, 1e-4, points))
    return float(-np.min(energy_rate_function(u, kappa(u), kappa_1, d, beta)))
