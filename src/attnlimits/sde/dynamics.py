"""One layer of the `sde` experiment's transformer (docs/mathematics.md, experiment ``sde``).

``Yⁱ = Π( X_ℓⁱ + Δ·s·A(X_ℓ)ⁱ )``,  ``X_{ℓ+1}ⁱ = Π( Yⁱ + sqrt(Δ)·G_{ℓ+1}(Yⁱ) )``,
tokens on the sphere S^{d−1}, one head θ = (Q, K, V), s = ``attention_sign`` ∈ {+1, 0, −1}.
The noise enters as the already scaled increment ``noise`` = sqrt(Δ)·G(Y) (N, d), so that every
representation of the field (infinite width, finite width, random features) and every coupling
uses this one step.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch

from attnlimits.attention import attention, softmax_weights
from attnlimits.geometry import project
from attnlimits.head import Head


@dataclass(frozen=True)
class Attention:
    """The attention term s·A_θ(X) of the layer: head θ = (Q, K, V), inverse temperature β and
    ``attention_sign`` s (+1 attractive, 0 pure noise, −1 repulsive).

    The default of docs/mathematics.md (experiment ``sde``) is Q = K = V = I (``identity``), so that
    β is the temperature.
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

    @cached_property
    def identity_head(self) -> bool:
        """Whether Q = K = V = I exactly (``attention_drift`` then skips the products by I)."""
        h = self.head
        if h.batch_shape or h.q.shape[-1] != h.q.shape[-2]:
            return False
        eye = torch.eye(h.q.shape[-1], dtype=h.q.dtype, device=h.q.device)
        return all(torch.equal(t, eye) for t in h.tensors())


def attention_drift(x: torch.Tensor, attn: Attention) -> torch.Tensor:
    """s·A(X) for tokens (..., N, d) (zero when s = 0, without evaluating the attention).

    With Q = K = V = I (``Attention.identity_head``) the logits (β·X QᵀK) Xᵀ and the values X Vᵀ
    are computed as (β·X) Xᵀ and X: a product by I returns its finite factor exactly (x·1 + Σ 0),
    so the values are those of ``attention`` bit for bit, two batched products cheaper.
    """
    if attn.sign == 0:
        return torch.zeros_like(x)
    if attn.identity_head:
        # β·X is X itself for β = 1 (1·v = v exactly): no product
        xb = x if attn.beta == 1.0 else attn.beta * x
        w = softmax_weights(xb @ x.transpose(-1, -2))
        # s = 1 multiplies every value by 1 exactly: no product
        return w @ x if attn.sign == 1.0 else (w @ x).mul_(attn.sign)
    return attn.sign * attention(x, attn.head.qk, attn.head.v, attn.beta, "encoder")


def attention_half_step(x: torch.Tensor, attn: Attention, dt: float | torch.Tensor) -> torch.Tensor:
    """Y = Π(X + Δ·s·A(X)) (Δ a float, or a tensor broadcasting over the batch).

    Computed in place on the fresh drift (Δ·(s·A) + X, then divided by its norm: the operations
    of ``project(x + dt * drift)``, commuted, bit for bit). With s = 0 it is Π(X) (X + Δ·0 = X,
    but for the sign of a zero coordinate).
    """
    if attn.sign == 0:
        return project(x, "sphere")
    step = attention_drift(x, attn).mul_(dt).add_(x)
    return step.div_(torch.linalg.vector_norm(step, dim=-1, keepdim=True))


def noise_half_step(y: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """X_{ℓ+1} = Π(Y + noise), with ``noise`` = sqrt(Δ)·G(Y) already scaled."""
    return project(y + noise, "sphere")


def scaled_noise_half_step(
    y: torch.Tensor,
    root: float | torch.Tensor,
    field_values: torch.Tensor,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """``noise_half_step(y, root * field_values)`` bit for bit, with one new tensor instead of
    three (root·G, then + Y and the division by the norm in place); written into ``out`` if
    given (a buffer of the shape of ``y``, which may hold ``field_values``' input)."""
    step = torch.mul(field_values, root, out=out).add_(y)
    return step.div_(torch.linalg.vector_norm(step, dim=-1, keepdim=True))
