"""The discrete model of the ``sde`` experiment, seeds batched (docs/mathematics.md, ``sde``).

Per layer ℓ = 0..L−1, with Δ = T/L and standard normals ξ_ℓ (R, N, d):
``Y = Π(X_ℓ + Δ·s·A(X_ℓ))``,  ``X_{ℓ+1} = Π(Y + sqrt(Δ)·S(Y) ξ_ℓ)``,
S(Y) the symmetric square root of the token covariance of the chosen field (``field.py``):
K(Y) at infinite width, C_m(Y) at width m. A field may use another factor F with F Fᵀ = C
(``field.CholeskyNoise``: F = chol(C), the depth runs' choice, ``runs.depth``); the law of the
noise is the same, and a coupling is exact as long as every coupled model uses the same F.

Couplings (one probability space for every error):

* depth: one fine sequence ξ_fine (R, L_fine, N, d); the model with L layers (L | L_fine,
  r = L_fine/L) uses ξ_ℓ = Σ_{k ∈ layer ℓ} ξ_fine[k] / sqrt(r) (``coarsen``), i.e. the same
  Brownian increments sqrt(Δ)·ξ_ℓ = Σ sqrt(Δ/r)·ξ_fine[k];
* width: at fixed L, the same ξ_ℓ drives S_m(Y) ξ_ℓ and S(Y) ξ_ℓ (two runs, each on its own path).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from attnlimits.sde.dynamics import Attention, attention_half_step, scaled_noise_half_step
from attnlimits.sde.field import NoiseField
from attnlimits.seeding import generator


def brownian_normals(
    seed: int,
    seeds: Sequence[int],
    steps: int,
    n: int,
    d: int,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """ξ (R, steps, N, d) i.i.d. N(0, 1): seed r from ``generator(seed, "sde.brownian", seeds[r])``.

    The Brownian increment of step k on [0, T] with ``steps`` steps is sqrt(T/steps)·ξ[:, k].
    """
    out = np.stack(
        [generator(seed, "sde.brownian", s).standard_normal((steps, n, d)) for s in seeds]
    )
    return torch.as_tensor(out, dtype=torch.float64, device=device)


def uniform_tokens(
    seed: int, seeds: Sequence[int], n: int, d: int, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """X₀ (R, N, d): tokens i.i.d. uniform on S^{d−1}, seed r from (seed, "sde.x0", seeds[r])."""
    z = np.stack([generator(seed, "sde.x0", s).standard_normal((n, d)) for s in seeds])
    x = torch.as_tensor(z, dtype=torch.float64, device=device)
    return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True)


def coarsen(xi_fine: torch.Tensor, layers: int) -> torch.Tensor:
    """ξ_ℓ = Σ_{k=ℓr}^{ℓr+r−1} ξ_fine[:, k] / sqrt(r), r = L_fine/L: (R, L_fine, ...) → (R, L, ...).

    The layer noise of the L-layer model is the sum of the fine increments in its layer, and is
    again i.i.d. standard normal. For r = 1 it returns ξ_fine's values unchanged (bit for bit).
    """
    fine = xi_fine.shape[1]
    if layers < 1 or fine % layers:
        raise ValueError(f"L = {layers} must divide L_fine = {fine}")
    r = fine // layers
    if r == 1:
        return xi_fine.clone()
    blocks = xi_fine.reshape(xi_fine.shape[0], layers, r, *xi_fine.shape[2:])
    return blocks.sum(2).div_(math.sqrt(r))


def simulate(
    x0: torch.Tensor, attn: Attention, dt: float, field: NoiseField, xi: torch.Tensor
) -> torch.Tensor:
    """The discrete model X_ℓ, ℓ = 0..L, for L = xi.shape[1] layers of step Δ = ``dt``.

    ``x0`` (R, N, d) or (N, d) on the sphere, ``xi`` (R, L, N, d). Per layer:
    Y = Π(X + Δ s A(X)), X ← Π(Y + sqrt(Δ) S(Y) ξ_ℓ). Returns (R, L+1, N, d).
    """
    reps, layers = xi.shape[0], xi.shape[1]
    x = x0.to(dtype=torch.float64, device=xi.device).expand(reps, *x0.shape[-2:])
    out = torch.empty((reps, layers + 1, *x.shape[1:]), dtype=torch.float64, device=xi.device)
    out[:, 0] = x
    root = math.sqrt(dt)
    for layer in range(layers):
        x = layer_step(x, attn, dt, root, field, layer, xi[:, layer])
        out[:, layer + 1] = x
    return out


def layer_step(
    x: torch.Tensor,
    attn: Attention,
    dt: float | torch.Tensor,
    root: float | torch.Tensor,
    field: NoiseField,
    layer: int,
    xi: torch.Tensor,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """One layer of the discrete model: Y = Π(X + Δ s A(X)), X' = Π(Y + sqrt(Δ) S(Y) ξ).

    ``dt`` = Δ and ``root`` = sqrt(Δ) are floats or tensors (B, 1, 1) broadcasting over a batch
    of systems (B, N, d) that run with different steps (``runs.depth``'s lock-step ladder); the
    arithmetic per element is the same either way, so a system's result does not depend on the
    batch it runs in. X' is written into ``out`` when given (which may be ``x`` itself: X is
    read only before).
    """
    y = attention_half_step(x, attn, dt)
    return scaled_noise_half_step(y, root, field.sample(y, layer, xi), out=out)


def simulate_depth(
    x0: torch.Tensor,
    attn: Attention,
    horizon: float,
    field: NoiseField,
    xi_fine: torch.Tensor,
    layers: int,
) -> torch.Tensor:
    """The L-layer model on [0, T] on the fine increments: Δ = T/L, ξ = coarsen(ξ_fine, L)."""
    return simulate(x0, attn, horizon / layers, field, coarsen(xi_fine, layers))
