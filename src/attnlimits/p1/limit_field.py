"""The limit's vector field x ↦ P(x) (1/M) Σ_r A_{θ⁽ʳ⁾}(x), evaluated for speed (heads limit).

Mathematically the same map as :func:`attnlimits.p1.limit.vector_field` (the reference, which
goes through ``attention.mixture_attention``); the arithmetic differs at rounding level only:

* no max shift: when every score is bounded, |s_ij| ≤ β |(QᵀK)ᵀxⁱ| |xʲ| ≤ ``MAX_SCORE``, exp(s)
  can neither overflow nor underflow (e^±300 is far inside float64), so the softmax is taken
  without the log-sum-exp shift; otherwise the field falls back to the reference, shift and all;
* the normalisation is folded into the weighted sum: one product of exp(s) with [V x, M] gives
  both the numerator and M times the denominator (the 1/M of the mixture included);
* rows are done in blocks of ``block`` tokens; with the causal mask a block of rows i ∈ [a, b)
  only computes the scores of j < b, so about half of the exponentials of the masked scores
  are never computed, and the future entries of the diagonal block are set to 0 after exp;
* every score buffer is allocated once per input shape and reused (``out=``), so the field
  allocates no large tensor per evaluation.
"""

from __future__ import annotations

import math

import torch

from attnlimits.attention import MASKS
from attnlimits.geometry import tangent
from attnlimits.integrators import VectorField

#: Largest bound on |score| for which the softmax is taken without its max shift.
MAX_SCORE = 300.0
LOG2_E = math.log2(math.e)


class LimitField:
    """x ↦ P(x) (1/M) Σ_r A_{θ⁽ʳ⁾}(x) for tokens (..., N, d) and atoms ``qk`` = QᵀK, ``v``
    (M, d, d); ``fallback`` (the reference field) serves when the scores are too large for the
    unshifted softmax."""

    def __init__(
        self,
        qk: torch.Tensor,
        v: torch.Tensor,
        beta: float,
        mask: str,
        normalisation: str,
        fallback: VectorField,
        block: int = 32,
    ):
        if mask not in MASKS:
            raise ValueError(f"unknown mask {mask!r}; allowed: {MASKS}")
        m, d = qk.shape[-3], qk.shape[-1]
        # log₂(e) s_ij of atom r = ⟨query_i^(r), xʲ⟩ with query_i^(r) = xⁱᵀ (log₂(e) β QᵀK)_r:
        # the atoms side by side (d, M d); exp(s) is taken as exp2(log₂(e) s)
        self.query_map = (qk * (beta * LOG2_E)).permute(1, 0, 2).reshape(d, m * d)
        # Σ_r (1/M) V_r yⁱ_r for yⁱ_r = Σ_j w_ij^(r) xʲ: the values stacked (M d, d)
        self.value_map = v.transpose(-1, -2).reshape(m * d, d) / m
        self.atoms, self.d = m, d
        self.causal = mask == "causal"
        self.normalisation = normalisation
        self.fallback = fallback
        self.block = block
        self._buffers: dict[tuple, tuple] = {}

    def _buffers_for(self, x: torch.Tensor) -> tuple:
        key = (tuple(x.shape), x.dtype, x.device)
        found = self._buffers.get(key)
        if found is not None:
            return found
        s, n, d = x.shape
        m, like = self.atoms, {"dtype": x.dtype, "device": x.device}
        blocks = []
        for a in range(0, n, self.block):
            b = min(a + self.block, n)
            end = b if self.causal else n
            scores = torch.empty((s, (b - a) * m, end), **like)  # rows (i, r), columns j
            future = None
            if self.causal:
                future = torch.ones(b - a, b - a, dtype=torch.bool, device=x.device).triu(1)
                future = future.unsqueeze(1)  # (rows i, 1, columns j): broadcast over atoms
            sums = torch.empty((s, d + 1, (b - a) * m), **like)  # columns (i, r)
            blocks.append((a, b, end, scores, future, sums))
        tokens = torch.empty((s, d + 1, n), **like)  # [xʲ, 1] as columns
        tokens[:, d] = 1.0
        found = self._buffers[key] = (blocks, tokens)
        return found

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(-1, *shape[-2:])
        s, n, d = x.shape
        m = self.atoms
        query = (x @ self.query_map).view(s, n * m, d)  # row i M + r: query of token i, atom r
        bound = (
            torch.linalg.vector_norm(query, dim=-1).amax()
            * torch.linalg.vector_norm(x, dim=-1).amax()
        )
        if not float(bound) <= MAX_SCORE * LOG2_E:
            return self.fallback(x).reshape(shape)
        blocks, tokens = self._buffers_for(x)
        keys = x.transpose(-1, -2)  # (S, d, N)
        tokens[:, :d] = keys
        for a, b, end, scores, future, sums in blocks:
            torch.bmm(query[:, a * m : b * m], keys[..., :end], out=scores)
            scores.exp2_()
            if future is not None:
                scores.view(s, b - a, m, end)[..., a:end].masked_fill_(future, 0.0)
            # (d+1, rows) = [x, 1]ᵀ expᵀ: the transposed product, far faster than exp @ [x, 1]
            torch.bmm(tokens[..., :end], scores.transpose(1, 2), out=sums)
        sums = torch.cat([blk[-1] for blk in blocks], dim=-1).view(s, d + 1, n, m)
        mean = (sums[:, :d] / sums[:, d:]).permute(0, 2, 3, 1).reshape(s, n, m * d)
        return tangent(x, mean @ self.value_map, self.normalisation).reshape(shape)
