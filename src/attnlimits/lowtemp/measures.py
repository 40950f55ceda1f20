"""Initial measures μ₀ of experiment ``lowtemp`` as weighted particles (docs/mathematics.md,
``lowtemp``).

The mean-field flow moves a measure; we carry μ₀ = Σ_j w_j δ_{y_j} with the quadrature weights w_j
of a density, so that ∫ f dμ₀ is approximated by Σ_j w_j f(y_j) to the quadrature's accuracy
(numpy arrays; this module does not import torch, so that the configuration check can count
particles):

- ``disc``: μ₀ uniform on the unit disc of ℝ². Polar product rule: Gauss–Legendre in s = r² on
  [0, 1] (the uniform law has density 1 in s, so the rule is exact for polynomials of degree
  ≤ 2 n_r − 1 in r²) times the n_θ-point trapezoidal rule in θ (exact for trigonometric
  polynomials of degree < n_θ). Weights are positive and sum to 1.
- ``ball``: μ₀ uniform on the unit ball of ℝ^d: the points of the lattice (2i + 1 − n)/n, i < n,
  per axis, inside the ball, with equal weights (the midpoint rule on the cells; accurate to
  O(1/n) at the boundary).

The mean-field regime (docs/mathematics.md, the section of that name) needs N ≫ β^(k/2), k the
dimension of supp μ₀ (``regime_problems``): below it the softmax sees only the nearest particle, and
finite-N effects replace the mean field.
"""

from __future__ import annotations

import numpy as np


def disc_quadrature(radial: int, angular: int) -> tuple[np.ndarray, np.ndarray]:
    """Points (radial·angular, 2) and weights of the polar rule of the module docstring."""
    if radial < 1 or angular < 1:
        raise ValueError(f"need radial, angular >= 1, got {radial}, {angular}")
    nodes, gauss = np.polynomial.legendre.leggauss(radial)
    s = 0.5 * (nodes + 1.0)  # Gauss–Legendre on [0, 1] in s = r²
    r = np.sqrt(s)
    theta = 2.0 * np.pi * (np.arange(angular) + 0.5) / angular
    points = np.stack(
        [np.outer(r, np.cos(theta)).ravel(), np.outer(r, np.sin(theta)).ravel()], axis=-1
    )
    weights = np.repeat(0.5 * gauss, angular) / angular
    return points, weights / weights.sum()


def ball_lattice(per_axis: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Points (n, d) of the cell-centred lattice inside the unit ball of ℝ^d, equal weights."""
    if per_axis < 1 or d < 1:
        raise ValueError(f"need per_axis, d >= 1, got {per_axis}, {d}")
    axis = (2.0 * np.arange(per_axis) + 1.0 - per_axis) / per_axis
    grid = np.stack(np.meshgrid(*([axis] * d), indexing="ij"), axis=-1).reshape(-1, d)
    inside = grid[(grid**2).sum(-1) <= 1.0]
    if len(inside) == 0:
        raise ValueError(f"no lattice point inside the ball for per_axis={per_axis}")
    weights = np.full(len(inside), 1.0 / len(inside))
    return inside, weights


def initial_measure(kind: str, size: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """μ₀ by name: ``disc`` (d = 2; ``size`` radial nodes and 4·size angles) or ``ball``
    (``size`` lattice points per axis)."""
    if kind == "disc":
        if d != 2:
            raise ValueError(f"the disc lives in d = 2, got d = {d}")
        return disc_quadrature(size, 4 * size)
    if kind == "ball":
        return ball_lattice(size, d)
    raise ValueError(f"unknown initial measure {kind!r}: expected 'disc' or 'ball'")


def particle_count(kind: str, size: int, d: int) -> int:
    """N, the number of particles of ``initial_measure(kind, size, d)``."""
    return len(initial_measure(kind, size, d)[1])


def regime_problems(particles: int, k: int, betas: list[float], factor: float) -> list[str]:
    """The βs outside the mean-field regime N ≥ ``factor`` · β^(k/2), one message each."""
    return [
        f"beta={beta:g} needs N >= {factor:g} * beta^(k/2) = {factor * beta ** (k / 2):.0f} "
        f"particles (k={k}), the measure has N={particles}"
        for beta in betas
        if particles < factor * beta ** (k / 2)
    ]
