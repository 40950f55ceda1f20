"""The dynamics of P1's model besides its heads: horizon T, inverse temperature β, mask and
normalisation (docs/mathematics.md, experiments ``heads`` and ``adamw``).

Every pass of the model, discrete or limit, forward or trained, moves tokens by a weighted mixture
of attention heads ``Σ_r w_r A_{θ⁽ʳ⁾}(X)`` at this β and mask: the discrete model and the Euler
scheme of the limit by the residual step ``Π(X + Δ Σ_r w_r A_{θ⁽ʳ⁾}(X))``, the limit's ODE by the
drift ``P(x) Σ_r w_r A_{θ⁽ʳ⁾}(x)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from attnlimits.attention import mixture_attention
from attnlimits.geometry import project, tangent


@dataclass(frozen=True)
class Dynamics:
    """T, β, mask (``encoder``, ``causal``) and normalisation (``none``, ``sphere``)."""

    horizon: float
    beta: float
    mask: str
    normalisation: str

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> Dynamics:
        """The dynamics of a job's spec (keys ``T``, ``beta``, ``mask``, ``normalisation``)."""
        return cls(spec["T"], spec["beta"], spec["mask"], spec["normalisation"])

    def mixture(
        self, x: torch.Tensor, qk: torch.Tensor, v: torch.Tensor, weights: torch.Tensor
    ) -> torch.Tensor:
        """Σ_r weights[..., r] A_{θ⁽ʳ⁾}(X) for tokens ``x`` (..., N, d), heads given by QᵀK
        ``qk`` and V ``v`` (..., M, d, d) (``attention.mixture_attention``)."""
        return mixture_attention(x, qk, v, weights, self.beta, self.mask)

    def step(
        self,
        x: torch.Tensor,
        qk: torch.Tensor,
        v: torch.Tensor,
        weights: torch.Tensor,
        dt: float,
    ) -> torch.Tensor:
        """One residual step Π(X + Δ Σ_r w_r A_{θ⁽ʳ⁾}(X)) with Δ = ``dt``."""
        return project(x + dt * self.mixture(x, qk, v, weights), self.normalisation)

    def drift(
        self, x: torch.Tensor, qk: torch.Tensor, v: torch.Tensor, weights: torch.Tensor
    ) -> torch.Tensor:
        """P(x) Σ_r w_r A_{θ⁽ʳ⁾}(x): P = I for ``none``, the tangent projection for ``sphere``."""
        return tangent(x, self.mixture(x, qk, v, weights), self.normalisation)
