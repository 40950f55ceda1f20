"""A random-feature noise field, evaluable at any point of S^{d−1} (docs/mathematics.md, ``sde``).

With P features u_p ~ N(0, I_d), b_p ~ N(0, σ_U²), drawn ONCE and kept for every layer, and per
layer ℓ independent standard Gaussian coefficients ξ_{ℓ,p} ∈ ℝ^d (p = 1..P) and ξ_{ℓ,0} ∈ ℝ^d,

    G_ℓ(x) = P^(−1/2) Σ_p ξ_{ℓ,p} φ(u_p·x/sqrt(d) + b_p) + σ_W ξ_{ℓ,0}.

This is the MLP field of docs/mathematics.md (``sde``) at width m = P, with W redrawn every layer
but U, b_U frozen. Conditional on the features, (G_ℓ)_ℓ are i.i.d. centred Gaussian fields with
covariance

    E[G_ℓ(x) G_ℓ(y)ᵀ | u, b] = κ_P(x, y) I_d,   κ_P(x, y) = (1/P) Σ_p φ_p(x) φ_p(y) + σ_W²,

φ_p(x) = φ(u_p·x/sqrt(d) + b_p), and κ_P(x, y) → κ(⟨x, y⟩) as P → ∞ (law of large numbers over
the i.i.d. features). Why freeze U: the limit SDE is driven by ONE Gaussian noise field W(t, x),
white in t, with spatial covariance κ(⟨x, y⟩) I_d, common to every token. Freezing the features
and drawing fresh Gaussian coefficients per layer gives exactly such a field (Gaussian, independent
across layers, common to all tokens, defined at every point), only with the truncated covariance
κ_P in place of κ: a finite-rank (rank P + 1 per coordinate) Karhunen–Loève-like truncation of the
limit noise, i.e. the limit SDE with kernel κ_P. Redrawing U each layer would instead give a
non-Gaussian field per layer (Gaussian only given U), whose law depends on P beyond its
covariance; its covariance is κ exactly, but it is not the truncation of the limit's noise. The
truncation error is κ_P − κ (``truncation_error``), of order P^(−1/2) pointwise.

Coefficients are standard normal: a layer of duration Δ uses the increment sqrt(Δ)·G_ℓ, and the
factor sqrt(Δ) is applied INSIDE ``field_increment`` (argument ``dt``). Coarser layers for a depth
coupling sum r fine coefficients and divide by sqrt(r) (``coarsen_coefficients``), exactly as
Brownian increments.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from attnlimits.sde.activations import torch_activation
from attnlimits.sde.kernel import kernel
from attnlimits.seeding import generator

SeedLike = int | str | Sequence[int | str]

MAX_ELEMENTS = 2**24
"""Largest feature matrix (batch × tokens × P entries) formed at once by ``field_increment``."""

DEFAULT_US: tuple[float, ...] = tuple(float(u) for u in np.linspace(-1.0, 1.0, 21))
"""Grid of u = ⟨x, y⟩ for ``truncation_error``."""


def seed_parts(seed: SeedLike) -> tuple[int | str, ...]:
    """The seed as a tuple of stream-key parts."""
    return (seed,) if isinstance(seed, int | str) else tuple(seed)


@dataclass(frozen=True)
class Features:
    """Frozen features u (..., P, d) and b (..., P); leading axes are independent replicas."""

    u: torch.Tensor
    b: torch.Tensor
    sigma_u: float

    @property
    def count(self) -> int:
        """P, the number of features."""
        return int(self.u.shape[-2])

    @property
    def dim(self) -> int:
        """d, the ambient dimension."""
        return int(self.u.shape[-1])

    def to(self, device: str | torch.device) -> Features:
        return Features(self.u.to(device), self.b.to(device), self.sigma_u)


def _replicated(shape: tuple[int, ...], replicas: int | None, *parts: int | str) -> torch.Tensor:
    """Standard normals of ``shape``, one stream per replica r keyed by (*parts, r)."""
    if replicas is None:
        return torch.from_numpy(generator(*parts).standard_normal(shape))
    return torch.stack(
        [torch.from_numpy(generator(*parts, r).standard_normal(shape)) for r in range(replicas)]
    )


def draw_features(
    P: int, d: int, sigma_u: float, seed: SeedLike, replicas: int | None = None
) -> Features:
    """u_p ~ N(0, I_d), b_p ~ N(0, σ_U²), p = 1..P; shapes (P, d), (P,) or (R, P, d), (R, P).

    Replica r comes from the stream ("sde.features", *seed, r), so it does not depend on R.
    """
    if P < 1 or d < 1 or sigma_u < 0:
        raise ValueError(f"need P, d >= 1 and sigma_u >= 0, got {P}, {d}, {sigma_u}")
    parts = ("sde.features", *seed_parts(seed))
    if replicas is None:
        z = generator(*parts).standard_normal((P, d + 1))
        z = torch.from_numpy(z)
    else:
        z = _replicated((P, d + 1), replicas, *parts)
    return Features(u=z[..., :d].contiguous(), b=sigma_u * z[..., d].contiguous(), sigma_u=sigma_u)


def draw_coefficients(
    P: int, d: int, steps: int, seed: SeedLike, replicas: int | None = None
) -> torch.Tensor:
    """Standard normal ξ_{ℓ,p} (…, steps, P+1, d); row P of each step is the bias ξ_{ℓ,0}.

    Replica r comes from the stream ("sde.features.coefficients", *seed, r); the stream is filled
    step by step, so the first ``steps`` layers do not depend on how many are drawn.
    """
    if steps < 1:
        raise ValueError(f"need steps >= 1, got {steps}")
    parts = ("sde.features.coefficients", *seed_parts(seed))
    return _replicated((steps, P + 1, d), replicas, *parts)


def coarsen_coefficients(xi: torch.Tensor, r: int) -> torch.Tensor:
    """ξ^{coarse}_k = r^(−1/2) Σ_{j<r} ξ_{kr+j} along the step axis (−3): Brownian coarsening.

    With sqrt(Δ)·G applied per step, sqrt(rΔ)·G[ξ^{coarse}_k] = Σ_j sqrt(Δ)·G[ξ_{kr+j}] exactly
    (G is linear in ξ), so a layer of the coarse system sees the sum of r fine increments.
    """
    steps = xi.shape[-3]
    if r < 1 or steps % r:
        raise ValueError(f"{steps} steps cannot be grouped by {r}")
    grouped = xi.reshape(*xi.shape[:-3], steps // r, r, *xi.shape[-2:])
    return grouped.sum(-3) / math.sqrt(r)


def feature_matrix(x: torch.Tensor, features: Features, activation: str) -> torch.Tensor:
    """φ_p(x) = φ(u_p·x/sqrt(d) + b_p) for points x (..., n, d): shape (..., n, P)."""
    pre = x @ features.u.transpose(-1, -2) / math.sqrt(features.dim) + features.b[..., None, :]
    return torch_activation(activation)(pre)


def field_increment(
    x: torch.Tensor,
    features: Features,
    xi: torch.Tensor,
    activation: str,
    sigma_w: float,
    dt: float,
    max_elements: int = MAX_ELEMENTS,
) -> torch.Tensor:
    """sqrt(Δ)·G(x) = sqrt(Δ)·(P^(−1/2) Σ_p ξ_p φ_p(x) + σ_W ξ_0) at points x (..., n, d).

    ``xi`` (..., P+1, d) holds one layer's standard normal coefficients (bias last); the factor
    sqrt(Δ) = sqrt(``dt``) is applied here. Tokens are taken in chunks so that the feature matrix
    holds at most ``max_elements`` entries.
    """
    P = features.count
    n = x.shape[-2]
    batch = max(1, x[..., 0, 0].numel(), features.u[..., 0, 0].numel())
    chunk = max(1, min(n, max_elements // max(1, batch * P)))
    weights = xi[..., :P, :] * math.sqrt(dt / P)
    bias = (math.sqrt(dt) * sigma_w) * xi[..., P : P + 1, :]
    parts = [
        feature_matrix(x[..., lo : lo + chunk, :], features, activation) @ weights
        for lo in range(0, n, chunk)
    ]
    return torch.cat(parts, dim=-2) + bias


def feature_kernel(
    x: torch.Tensor, y: torch.Tensor, features: Features, activation: str, sigma_w: float
) -> torch.Tensor:
    """κ_P(xⁱ, yⁱ) = (1/P) Σ_p φ_p(xⁱ) φ_p(yⁱ) + σ_W², paired points x, y (..., n, d) → (..., n)."""
    fx = feature_matrix(x, features, activation)
    fy = feature_matrix(y, features, activation)
    return (fx * fy).mean(-1) + sigma_w**2


def feature_covariance(
    x: torch.Tensor, features: Features, activation: str, sigma_w: float
) -> torch.Tensor:
    """Gram matrix κ_P(xⁱ, xʲ) (..., n, n): per-coordinate covariance of (G(xⁱ))_i given u, b."""
    f = feature_matrix(x, features, activation)
    return f @ f.transpose(-1, -2) / features.count + sigma_w**2


def pairs_at(u: float, d: int, n: int, *parts: int | str) -> tuple[torch.Tensor, torch.Tensor]:
    """n random pairs (x, y) on S^{d−1} with ⟨x, y⟩ = u exactly, x uniform: y = u x + sqrt(1−u²) f.

    f is a uniform unit vector orthogonal to x (a Gaussian projected off x and normalised).
    """
    if d < 2:
        raise ValueError("pairs on the sphere need d >= 2")
    z = torch.from_numpy(generator("sde.features.pairs", *parts).standard_normal((2, n, d)))
    x = z[0] / torch.linalg.vector_norm(z[0], dim=-1, keepdim=True)
    g = z[1] - (z[1] * x).sum(-1, keepdim=True) * x
    f = g / torch.linalg.vector_norm(g, dim=-1, keepdim=True)
    return x, u * x + math.sqrt(max(0.0, 1.0 - u * u)) * f


@dataclass(frozen=True)
class TruncationError:
    """κ_P against κ on a grid of u, over random pairs with ⟨x, y⟩ = u (and all replicas).

    ``zonal`` = |mean over pairs of κ_P − κ(u)| (the rotation-averaged bias),
    ``rms`` = root mean square over pairs of κ_P(x, y) − κ(u) (pointwise error),
    ``max_abs`` = max over pairs of |κ_P(x, y) − κ(u)|; all per u, absolute.
    """

    us: np.ndarray
    kappa: np.ndarray
    kappa_p_mean: np.ndarray
    zonal: np.ndarray
    rms: np.ndarray
    max_abs: np.ndarray
    kappa_one: float

    def summary(self) -> dict[str, float]:
        """Scalars: mean and max over u of the three errors, absolute and relative to κ(1)."""
        out: dict[str, float] = {}
        for name in ("zonal", "rms", "max_abs"):
            v = getattr(self, name)
            out[f"{name}_mean"] = float(v.mean())
            out[f"{name}_max"] = float(v.max())
            out[f"{name}_max_rel"] = float(v.max() / self.kappa_one)
        return out


def truncation_error(
    features: Features,
    activation: str,
    d: int,
    sigma_u: float,
    sigma_w: float,
    us: Sequence[float] | np.ndarray = DEFAULT_US,
    pairs: int = 128,
    seed: SeedLike = 0,
) -> TruncationError:
    """How far the truncated kernel κ_P(x, y) is from κ(⟨x, y⟩), over ``pairs`` random pairs per u.

    κ is the quadrature kernel (``kernel.kernel``, auto method). The same pairs serve every
    replica of ``features``; the errors are taken over pairs and replicas together.
    """
    if features.dim != d or features.sigma_u != sigma_u:
        raise ValueError("features were drawn for another d or sigma_u")
    us = np.asarray(us, dtype=np.float64)
    kap = np.asarray(kernel(us, activation, d, sigma_u, sigma_w), dtype=np.float64)
    k1 = float(kernel(1.0, activation, d, sigma_u, sigma_w))
    means, zonal, rms, mx = (np.empty(len(us)) for _ in range(4))
    for i, u in enumerate(us):
        x, y = pairs_at(float(u), d, pairs, *seed_parts(seed), i)
        kp = feature_kernel(x, y, features, activation, sigma_w).numpy()
        err = kp - kap[i]
        means[i] = kp.mean()
        zonal[i] = abs(err.mean())
        rms[i] = math.sqrt(float((err**2).mean()))
        mx[i] = np.abs(err).max()
    return TruncationError(us, kap, means, zonal, rms, mx, k1)
