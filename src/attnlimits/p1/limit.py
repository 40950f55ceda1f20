"""Limit of experiment ``heads``: the McKean–Vlasov ODE (MODELS.md, section ``heads``).

``ẋⁱ = P(xⁱ) b(X)ⁱ``, ``b(X)ⁱ = (1/M) Σ_r A_{θ⁽ʳ⁾}(X)ⁱ``; P = I for ``none`` and the tangent
projection for ``sphere``. With the causal mask this is the index-dependent ODE system (token i
sees tokens 1..i). It depends on (N, d, β, mask, normalisation, head law, inputs), not on (L, H).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from attnlimits.attention import mixture_attention
from attnlimits.geometry import tangent
from attnlimits.heads.law import Atoms
from attnlimits.integrators import HalvingSolution, VectorField, solve_with_halving


def vector_field(atoms: Atoms, beta: float, mask: str, normalisation: str) -> VectorField:
    """x ↦ P(x) (1/M) Σ_r A_{θ⁽ʳ⁾}(x) for tokens (..., N, d)."""
    qk, v = atoms.qk, atoms.v
    weights = torch.full((atoms.count,), 1.0 / atoms.count, dtype=qk.dtype, device=qk.device)

    def f(x: torch.Tensor) -> torch.Tensor:
        return tangent(x, mixture_attention(x, qk, v, weights, beta, mask), normalisation)

    return f


def solve_limit(
    x0: torch.Tensor,
    atoms: Atoms,
    horizon: float,
    beta: float,
    mask: str,
    normalisation: str,
    records: int,
    substeps: int,
    method: str = "rk4",
    progress: Callable[[int, int], None] | None = None,
) -> HalvingSolution:
    """Solve the limit for inputs ``x0`` (S, N, d) on the record grid t_k = k T / records.

    Uses ``records * substeps`` steps of ``method`` and a second solve at twice the step to
    estimate its own error. Any depth L dividing ``records`` reads x(t_ℓ) off the record grid.
    """
    f = vector_field(atoms.to(x0.device), beta, mask, normalisation)
    return solve_with_halving(f, x0, horizon, records, substeps, method, progress)
