"""One layer of the `sde` experiment's transformer (MODELS.md, section ``sde``).

``Yⁱ = Π( X_ℓⁱ + Δ·s·A(X_ℓ)ⁱ )``,  ``X_{ℓ+1}ⁱ = Π( Yⁱ + sqrt(Δ)·G_{ℓ+1}(Yⁱ) )``,
tokens on the sphere S^{d−1}, one head θ = (Q, K, V), s = ``attention_sign`` ∈ {+1, 0, −1}.
The noise enters as the already scaled increment ``noise`` = sqrt(Δ)·G(Y) (N, d), so that every
representation of the field (infinite width, finite width, random features) and every coupling
uses this one step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from attnlimits.attention import attention
from attnlimits.geometry import project


@dataclass(frozen=True)
class Head:
    """The single head of the `sde` experiment; default Q = K = V = I, so β is the temperature."""

    qk: torch.Tensor  # QᵀK (d, d)
    v: torch.Tensor  # V (d, d)
    beta: float
    sign: float  # attention_sign: +1 attractive, 0 pure noise, −1 repulsive

    @classmethod
    def identity(cls, d: int, beta: float, sign: float, device: str | torch.device = "cpu") -> Head:
        eye = torch.eye(d, dtype=torch.float64, device=device)
        return cls(qk=eye, v=eye, beta=beta, sign=sign)


def attention_drift(x: torch.Tensor, head: Head) -> torch.Tensor:
    """s·A(X) for tokens (..., N, d) (zero when s = 0, without evaluating the attention)."""
    if head.sign == 0:
        return torch.zeros_like(x)
    return head.sign * attention(x, head.qk, head.v, head.beta, "encoder")


def attention_half_step(x: torch.Tensor, head: Head, dt: float) -> torch.Tensor:
    """Y = Π(X + Δ·s·A(X))."""
    return project(x + dt * attention_drift(x, head), "sphere")


def noise_half_step(y: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """X_{ℓ+1} = Π(Y + noise), with ``noise`` = sqrt(Δ)·G(Y) already scaled."""
    return project(y + noise, "sphere")
