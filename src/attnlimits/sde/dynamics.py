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
from attnlimits.head import Head


@dataclass(frozen=True)
class Attention:
    """The attention term s·A_θ(X) of the layer: head θ = (Q, K, V), inverse temperature β and
    ``attention_sign`` s (+1 attractive, 0 pure noise, −1 repulsive).

    MODELS.md's default is Q = K = V = I (``identity``), so that β is the temperature.
    """

    head: Head
    beta: float
    sign: float

    @classmethod
    def identity(
        cls, d: int, beta: float, sign: float, device: str | torch.device = "cpu"
    ) -> Attention:
        """Q = K = V = I (d, d), float64."""
        return cls(Head.identity(d, device), beta, sign)


def attention_drift(x: torch.Tensor, attn: Attention) -> torch.Tensor:
    """s·A(X) for tokens (..., N, d) (zero when s = 0, without evaluating the attention)."""
    if attn.sign == 0:
        return torch.zeros_like(x)
    return attn.sign * attention(x, attn.head.qk, attn.head.v, attn.beta, "encoder")


def attention_half_step(x: torch.Tensor, attn: Attention, dt: float | torch.Tensor) -> torch.Tensor:
    """Y = Π(X + Δ·s·A(X)) (Δ a float, or a tensor broadcasting over the batch)."""
    return project(x + dt * attention_drift(x, attn), "sphere")


def noise_half_step(y: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """X_{ℓ+1} = Π(Y + noise), with ``noise`` = sqrt(Δ)·G(Y) already scaled."""
    return project(y + noise, "sphere")
