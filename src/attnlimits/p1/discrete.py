"""Discrete transformer of P1's model with grouped heads (docs/mathematics.md, experiment
``heads``).

``X_{ℓ+1}ⁱ = Π( X_ℓⁱ + Δ · (1/H) Σ_h A_{θ_{ℓh}}(X_ℓ)ⁱ )``, Δ = T/L. Heads of one layer that share
an atom are identical, so the layer is Σ_r (c_{ℓr}/H) A_{θ⁽ʳ⁾}: M attention evaluations per layer
whatever H (``tests/reference.py`` keeps the plain per-head loop it must match).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from attnlimits.head import Head
from attnlimits.p1.dynamics import Dynamics


def simulate(
    x0: torch.Tensor,
    atoms: Head,
    counts: torch.Tensor,
    dynamics: Dynamics,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Layer states X_0..X_L of the grouped-heads transformer.

    ``x0`` (S, N, d) inputs, ``atoms`` the M atoms (M, d, d), ``counts`` (R, L, M) atom counts
    per seed and layer (each row sums to H). Returns (R, S, L+1, N, d): seeds and inputs are
    batched together.
    """
    r, layers, _ = counts.shape
    heads = counts[0, 0].sum()
    dt = dynamics.horizon / layers
    qk, v = atoms.qk.to(x0.device), atoms.v.to(x0.device)
    weights = (counts / heads).to(x0.device)
    x = x0.unsqueeze(0).expand(r, *x0.shape).clone()
    out = torch.empty((r, x0.shape[0], layers + 1, *x0.shape[1:]), dtype=x0.dtype, device=x0.device)
    out[:, :, 0] = x
    for ell in range(layers):
        w = weights[:, ell, None, :]  # (R, 1, M): same weights for every input of a seed
        x = dynamics.step(x, qk, v, w, dt)
        out[:, :, ell + 1] = x
        if progress is not None:
            progress(ell + 1, layers)
    return out
