"""Limit of P1's model: the McKean–Vlasov ODE (docs/mathematics.md, experiment ``heads``).

``ẋⁱ = P(xⁱ) b(X)ⁱ``, ``b(X)ⁱ = (1/M) Σ_r A_{θ⁽ʳ⁾}(X)ⁱ``; P = I for ``none`` and the tangent
projection for ``sphere``. With the causal mask this is the index-dependent ODE system (token i
sees tokens 1..i). It depends on (N, d, β, mask, normalisation, head law, inputs), not on (L, H).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from attnlimits.head import Head
from attnlimits.integrators import HalvingSolution, VectorField, solve_with_halving
from attnlimits.p1.dynamics import Dynamics
from attnlimits.p1.law import atom_count
from attnlimits.p1.limit_field import LimitField


def vector_field(atoms: Head, dynamics: Dynamics) -> VectorField:
    """x ↦ P(x) (1/M) Σ_r A_{θ⁽ʳ⁾}(x) for tokens (..., N, d) and atoms (M, d, d); the horizon
    of ``dynamics`` plays no part."""
    qk, v, m = atoms.qk, atoms.v, atom_count(atoms)
    weights = torch.full((m,), 1.0 / m, dtype=qk.dtype, device=qk.device)

    def f(x: torch.Tensor) -> torch.Tensor:
        return dynamics.drift(x, qk, v, weights)

    return f


def limit_field(atoms: Head, dynamics: Dynamics) -> VectorField:
    """The field of :func:`vector_field` evaluated for speed (``p1.limit_field``): equal to it
    at rounding level, not bit for bit; it falls back to it when the scores are large."""
    return LimitField(
        atoms.qk,
        atoms.v,
        dynamics.beta,
        dynamics.mask,
        dynamics.normalisation,
        vector_field(atoms, dynamics),
    )


def solve_limit(
    x0: torch.Tensor,
    atoms: Head,
    dynamics: Dynamics,
    records: int,
    substeps: int,
    method: str = "rk4",
    progress: Callable[[int, int], None] | None = None,
) -> HalvingSolution:
    """Solve the limit for inputs ``x0`` (S, N, d) on the record grid t_k = k T / records.

    Uses ``records * substeps`` steps of ``method`` and a second solve at twice the step to
    estimate its own error. Any depth L dividing ``records`` reads x(t_ℓ) off the record grid.
    The field is :func:`limit_field`.
    """
    f = limit_field(atoms.to(x0.device), dynamics)
    return solve_with_halving(f, x0, dynamics.horizon, records, substeps, method, progress)
