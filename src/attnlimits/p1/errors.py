"""Error metrics of P1's model between a discrete model and its limit (docs/mathematics.md,
``heads``).

With D_s = X_ℓ^{(s)} − x(t_ℓ) the deviation of seed s from the limit at layer ℓ:
``e₂ = max_ℓ ((1/N) Σᵢ |D_sⁱ|²)^(1/2)``, ``e_∞ = max_ℓ maxᵢ |D_sⁱ|``, per seed and input, and the
Gram matrix G[ℓ, s, s′] = (1/N) Σᵢ ⟨D_sⁱ, D_{s′}ⁱ⟩ from which the error of any weighted seed mean
(hence every bootstrap replicate of the bias and of the fluctuation) follows exactly
(``attnlimits.analysis.statistics``).
"""

from __future__ import annotations

import torch


def limit_at_layers(x_records: torch.Tensor, layers: int) -> torch.Tensor:
    """x(t_ℓ), ℓ = 0..L, from a limit stored at t_k = k T / records ((..., S, records+1, N, d))."""
    records = x_records.shape[-3] - 1
    if records % layers:
        raise ValueError(f"depth L={layers} does not divide the limit's records={records}")
    return x_records[..., :: records // layers, :, :]


def deviations(x_discrete: torch.Tensor, x_limit: torch.Tensor) -> torch.Tensor:
    """D = X − x: discrete (..., R, S, L+1, N, d) minus limit at layer times (..., S, L+1, N, d)."""
    return x_discrete - x_limit.unsqueeze(-5)


def e2(dev: torch.Tensor) -> torch.Tensor:
    """max_ℓ ((1/N) Σᵢ |Dⁱ|²)^(1/2) per seed and input: (..., R, S)."""
    return dev.square().sum(-1).mean(-1).amax(-1).sqrt()


def e_inf(dev: torch.Tensor) -> torch.Tensor:
    """max_ℓ maxᵢ |Dⁱ| per seed and input: (..., R, S)."""
    return torch.linalg.vector_norm(dev, dim=-1).amax(dim=(-1, -2))


def gram(dev: torch.Tensor) -> torch.Tensor:
    """G[..., input, ℓ, s, s′] = (1/N) Σᵢ ⟨D_sⁱ, D_{s′}ⁱ⟩.

    dev (..., R, S, L+1, N, d) → (..., S, L+1, R, R).
    """
    return torch.einsum("...rsnid,...qsnid->...snrq", dev, dev) / dev.shape[-2]
