"""Plain per-head reference implementations that the optimised code must match."""

from __future__ import annotations

import numpy as np
import torch

from attnlimits.attention import attention
from attnlimits.geometry import project
from attnlimits.head import Head


def simulate_per_head(
    x0: torch.Tensor,
    atoms: Head,
    assignment: np.ndarray,
    horizon: float,
    beta: float,
    mask: str,
    normalisation: str,
) -> torch.Tensor:
    """X_{ℓ+1} = Π(X_ℓ + Δ (1/H) Σ_h A_{θ_{ℓh}}(X_ℓ)), one head at a time, one seed at a time."""
    seeds, layers, heads = assignment.shape
    dt = horizon / layers
    out = torch.empty((seeds, x0.shape[0], layers + 1, *x0.shape[1:]), dtype=x0.dtype)
    for s in range(seeds):
        x = x0.clone()
        out[s, :, 0] = x
        for ell in range(layers):
            total = torch.zeros_like(x)
            for h in range(heads):
                r = int(assignment[s, ell, h])
                q, k, v = atoms.q[r], atoms.k[r], atoms.v[r]
                total = total + attention(x, q.T @ k, v, beta, mask)
            x = project(x + dt * total / heads, normalisation)
            out[s, :, ell + 1] = x
    return out
