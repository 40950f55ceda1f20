"""A self-attention head θ = (Q, K, V): the one type every experiment uses for it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Head:
    """θ = (Q, K, V), each (..., d, d); leading axes index several heads (atoms, steps, seeds).

    The attention of docs/mathematics.md (notation shared by all experiments) reads θ through
    ⟨Q xⁱ, K xʲ⟩ = xⁱᵀ (QᵀK) xʲ and V.
    """

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor

    @property
    def qk(self) -> torch.Tensor:
        """QᵀK (..., d, d)."""
        return self.q.transpose(-1, -2) @ self.k

    @property
    def batch_shape(self) -> torch.Size:
        """The leading axes (empty for a single head)."""
        return self.q.shape[:-2]

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (self.q, self.k, self.v)

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Head:
        """Head(fn(Q), fn(K), fn(V)): e.g. a slice of the leading axes, or a copy."""
        return Head(fn(self.q), fn(self.k), fn(self.v))

    def to(self, device: torch.device | str) -> Head:
        """The same head(s) with Q, K, V on ``device``."""
        return Head(self.q.to(device), self.k.to(device), self.v.to(device))

    @classmethod
    def identity(cls, d: int, device: torch.device | str = "cpu") -> Head:
        """Q = K = V = I (d, d), float64."""
        eye = torch.eye(d, dtype=torch.float64, device=device)
        return cls(eye, eye.clone(), eye.clone())
