"""The limit SDE of the ``sde`` experiment, its references and the pathwise error
(docs/mathematics.md).

Limit (Itô), noise common to all tokens with E[dWⁱ dWʲᵀ] = κ(⟨Xⁱ, Xʲ⟩) I_d dt:
``dXⁱ = ( P_{Xⁱ} s A(X)ⁱ − ((d−1) κ(1)/2) Xⁱ ) dt + P_{Xⁱ} dWⁱ``,  dW = S(X) dB (B standard),
S(X) = K(X)^{1/2} the symmetric root of K(X) = κ(X Xᵀ).

Two references on the fine grid h = T/L_fine, driven by the same fine increments sqrt(h)·ξ_fine:

* ``reference``: the infinite-width discrete model with L_fine layers (projected scheme; it is the
  discrete model itself, so that the L = L_fine model reproduces it exactly);
* ``euler_maruyama``: the Itô SDE in unprojected form,
  X ← X + h (P_X s A(X) − c X) + sqrt(h) P_X S(X) ξ, c = (d−1) κ(1)/2 (``ito`` = True), with the
  zonal extension off the sphere (P_x = I − x̂x̂ᵀ, S from κ of the cosines ⟨x̂ⁱ, x̂ʲ⟩, x̂ = x/|x|),
  so that by Itô's formula d|X|² = (d−1) κ(1) (1 − |X|²) dt: the sphere is invariant only with the
  Itô correction. Without it (``ito`` = False) E|X_T|² grows like 1 + (d−1) κ(1) T.

The reference's own error is estimated by successive differences between fine levels, as in
multilevel Monte Carlo (``successive_differences``, ``reference_error_by_levels``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from attnlimits.sde.discrete import coarsen, simulate
from attnlimits.sde.dynamics import Attention, attention_drift
from attnlimits.sde.field import GaussianField, cosine_gram, field_values, psd_sqrt


def reference(
    x0: torch.Tensor, attn: Attention, horizon: float, field: GaussianField, xi_fine: torch.Tensor
) -> torch.Tensor:
    """The depth reference: the infinite-width discrete model with L_fine = ξ_fine.shape[1] layers.

    Returns (R, L_fine+1, N, d) at the fine times t_k = k T/L_fine.
    """
    return simulate(x0, attn, horizon / xi_fine.shape[1], field, xi_fine)


def tangent_unit(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """P_x v = v − ⟨x̂, v⟩ x̂, x̂ = x/|x| (the tangent projection, extended off the sphere)."""
    xh = x / torch.linalg.vector_norm(x, dim=-1, keepdim=True)
    return v - (xh * v).sum(-1, keepdim=True) * xh


def euler_maruyama(
    x0: torch.Tensor,
    attn: Attention,
    horizon: float,
    field: GaussianField,
    xi: torch.Tensor,
    *,
    ito: bool = True,
) -> torch.Tensor:
    """Euler–Maruyama for the unprojected Itô SDE, steps h = T/L with L = ξ.shape[1]; no projection.

    X_{k+1} = X_k + h (P_X s A(X_k) − c X_k) + sqrt(h) P_X S(X_k) ξ_k, c = (d−1) κ(1)/2 if ``ito``
    else 0; S(X) = κ(⟨x̂ⁱ, x̂ʲ⟩)^{1/2}. Returns (R, L+1, N, d).
    """
    reps, steps = xi.shape[0], xi.shape[1]
    x = x0.to(dtype=torch.float64, device=xi.device).expand(reps, *x0.shape[-2:])
    d = x.shape[-1]
    c = 0.5 * (d - 1) * field.kappa.kappa_1 if ito else 0.0
    h = horizon / steps
    root = math.sqrt(h)
    out = torch.empty((reps, steps + 1, *x.shape[1:]), dtype=torch.float64, device=xi.device)
    out[:, 0] = x
    for k in range(steps):
        s = psd_sqrt(field.kappa(cosine_gram(x)))
        noise = tangent_unit(x, field_values(s, xi[:, k]))
        drift = tangent_unit(x, attention_drift(x, attn)) - c * x
        x = x + h * drift + root * noise
        out[:, k + 1] = x
    return out


def pathwise_error(
    x_coarse: torch.Tensor, x_ref: torch.Tensor, layers: int | None = None
) -> torch.Tensor:
    """Per seed: sup_ℓ (1/N) Σᵢ |Xⁱ_ℓ − X_ref(t_ℓ)ⁱ|² over the coarse layer times t_ℓ = ℓT/L.

    ``x_coarse`` (R, L+1, N, d), ``x_ref`` (R, L_ref+1, N, d) with L | L_ref; X_ref(t_ℓ) is its
    entry ℓ·L_ref/L. Returns (R,); the root-mean-square error is sqrt(mean).
    """
    coarse = x_coarse.shape[1] - 1
    if layers is not None and layers != coarse:
        raise ValueError(f"x_coarse has {coarse} layers, not {layers}")
    fine = x_ref.shape[1] - 1
    if coarse < 1 or fine % coarse:
        raise ValueError(f"L = {coarse} must divide L_ref = {fine}")
    return sup_mean_square(x_coarse, x_ref[:, :: fine // coarse])


def mean_square(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(1/N) Σᵢ |aⁱ − bⁱ|² for tokens a, b (..., N, d). Returns (...)."""
    diff = a - b
    return diff.mul_(diff).sum(-1).mean(-1)


def sup_mean_square(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per seed: max over times of (1/N) Σᵢ |aⁱ − bⁱ|², for paths a, b (R, times, N, d) taken at
    the same times. Returns (R,)."""
    return mean_square(a, b).amax(-1)


def reference_error_estimates(finest_rms: float, ratio: float) -> tuple[float, float]:
    """The finest level's own RMS error from the RMS of its difference to the next level
    (refinement ``ratio`` r, strong order 1/2): (rms/(√r − 1), triangle bound; rms/√(r − 1),
    orthogonal differences)."""
    return finest_rms / (math.sqrt(ratio) - 1.0), finest_rms / math.sqrt(ratio - 1.0)


def rms(per_seed: torch.Tensor) -> float:
    """sqrt(mean over seeds) of per-seed squared errors."""
    return float(per_seed.mean().sqrt())


@dataclass(frozen=True)
class LevelDifferences:
    """Successive differences between levels L_0 > L_1 > ... (each L_{j+1} | L_j).

    ``per_seed[j]`` (R,) is the pathwise error of level L_{j+1} against level L_j (sup over the
    coarser layer times), ``rms[j]`` its root mean square. ``reference_error`` estimates the finest
    level's own RMS error: rms[0]/(r^{1/2} − 1) for refinement ratio r = L_0/L_1 (2: 1/(√2 − 1)),
    the tail sum of a geometric series of differences with strong order 1/2 (a bound through the
    triangle inequality); ``reference_error_orthogonal`` = rms[0]/sqrt(r − 1) is the estimate when
    the differences are orthogonal (martingale-like), err² = Σ diff². ``ratios[j]`` =
    rms[j+1]/rms[j] (≈ r^{1/2} for order 1/2).
    """

    levels: tuple[int, ...]
    per_seed: tuple[torch.Tensor, ...]
    rms: tuple[float, ...]
    ratios: tuple[float, ...]
    reference_error: float
    reference_error_orthogonal: float


def successive_differences(paths: Mapping[int, torch.Tensor]) -> LevelDifferences:
    """``LevelDifferences`` of paths {L: (R, L+1, N, d)} driven by the same fine increments."""
    levels = tuple(sorted(paths, reverse=True))
    if len(levels) < 2:
        raise ValueError("need at least two levels")
    per_seed = tuple(
        pathwise_error(paths[lo], paths[hi]) for hi, lo in zip(levels, levels[1:], strict=False)
    )
    values = tuple(rms(e) for e in per_seed)
    ratios = tuple(b / a if a > 0 else math.inf for a, b in zip(values, values[1:], strict=False))
    triangle, orthogonal = reference_error_estimates(values[0], levels[0] / levels[1])
    return LevelDifferences(
        levels=levels,
        per_seed=per_seed,
        rms=values,
        ratios=ratios,
        reference_error=triangle,
        reference_error_orthogonal=orthogonal,
    )


def reference_error_by_levels(
    x0: torch.Tensor,
    attn: Attention,
    horizon: float,
    field: GaussianField,
    xi_fine: torch.Tensor,
    levels: int = 3,
    *,
    reference_path: torch.Tensor | None = None,
) -> LevelDifferences:
    """Successive differences of the infinite-width model at L_fine, L_fine/2, ..., L_fine/2^levels.

    All levels are driven by the same fine increments (``coarsen``). ``reference_path``, if given,
    is the L_fine path already computed (``reference``), so that it is not simulated twice.
    """
    fine = xi_fine.shape[1]
    if reference_path is None:
        reference_path = reference(x0, attn, horizon, field, xi_fine)
    paths = {fine: reference_path}
    for j in range(1, levels + 1):
        lj = fine // 2**j
        if lj < 1 or lj * 2**j != fine:
            raise ValueError(f"L_fine = {fine} is not divisible by 2^{levels}")
        paths[lj] = simulate(x0, attn, horizon / lj, field, coarsen(xi_fine, lj))
    return successive_differences(paths)
