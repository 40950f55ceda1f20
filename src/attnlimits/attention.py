"""Softmax self-attention of one head θ = (Q, K, V) (docs/mathematics.md, "Notation shared by all
experiments").

``A_θ(X)ⁱ = Σ_{j∈J(i)} w_ij V xʲ``,  ``w_ij = softmax_{j∈J(i)}(β ⟨Q xⁱ, K xʲ⟩)``,
with J(i) = {1..N} (encoder) or {1..i} (causal). The softmax is taken in log-sum-exp form,
so that β up to 10⁴ (and beyond) stays finite in float64.
"""

from __future__ import annotations

import torch

MASKS = ("encoder", "causal")


def logits(x: torch.Tensor, qk: torch.Tensor, beta: float) -> torch.Tensor:
    """β ⟨Q xⁱ, K xʲ⟩ = β xⁱᵀ (QᵀK) xʲ for tokens ``x`` (..., N, d) and ``qk`` = QᵀK (d, d)."""
    return beta * (x @ qk) @ x.transpose(-1, -2)


def masked(scores: torch.Tensor, mask: str) -> torch.Tensor:
    """Set the scores of j ∉ J(i) to −∞ in place (the diagonal is always kept)."""
    if mask == "encoder":
        return scores
    if mask == "causal":
        n = scores.shape[-1]
        upper = torch.ones(n, n, dtype=torch.bool, device=scores.device).triu(1)
        return scores.masked_fill_(upper, float("-inf"))
    raise ValueError(f"unknown mask {mask!r}; allowed: {MASKS}")


def softmax_weights(scores: torch.Tensor) -> torch.Tensor:
    """w_ij = exp(s_ij − max_j s_ij) / Σ_j exp(s_ij − max_j s_ij), computed in place.

    This is exp(s_ij − logsumexp_j s_ij) with the log-sum-exp shift: every exponent is ≤ 0,
    so no score overflows whatever β, and the row maximum contributes exp(0) = 1, so the sum
    never underflows. Masked entries (−∞) get weight exactly 0.

    Without autograd the work is done in place. When ``scores`` requires a gradient (training,
    experiment ``adamw``) the same operations run out of place, and the shift by the row maximum
    is detached: the softmax does not depend on it, so its exact derivative is zero.
    """
    if scores.requires_grad and torch.is_grad_enabled():
        e = (scores - scores.amax(-1, keepdim=True).detach()).exp()
        return e / e.sum(-1, keepdim=True)
    scores = scores.sub_(scores.amax(-1, keepdim=True)).exp_()
    return scores.div_(scores.sum(-1, keepdim=True))


def attention(
    x: torch.Tensor, qk: torch.Tensor, v: torch.Tensor, beta: float, mask: str
) -> torch.Tensor:
    """A_θ(X) for tokens ``x`` (..., N, d), ``qk`` = QᵀK and value matrix ``v`` (d, d).

    ``qk`` and ``v`` may carry leading atom axes that broadcast against those of ``x``.
    """
    w = softmax_weights(masked(logits(x, qk, beta), mask))
    return w @ (x @ v.transpose(-1, -2))


def mixture_attention(
    x: torch.Tensor,
    qk: torch.Tensor,
    v: torch.Tensor,
    weights: torch.Tensor,
    beta: float,
    mask: str,
    max_elements: int = 2**25,
) -> torch.Tensor:
    """Σ_r weights[..., r] A_{θ⁽ʳ⁾}(X): the layer update of docs/mathematics.md with grouped heads.

    ``qk`` and ``v`` hold the M atoms (M, d, d); ``weights`` (..., M) broadcasts against the
    batch axes of ``x`` (..., N, d). In the discrete model the weights are the atom counts of
    the layer over H (c_{ℓr}/H), in the limit they are 1/M. Each atom is evaluated once, so
    the cost is M attention evaluations whatever the number of heads H. Atoms are evaluated
    in chunks whose score tensors hold at most ``max_elements`` numbers, bounding memory.

    ``qk`` and ``v`` may also carry leading axes (..., M, d, d) that broadcast against the batch
    axes of ``x`` with a unit atom axis inserted, (..., 1, N, d): per-seed atoms of a trained
    layer (experiment ``adamw``). The atom axis is always the third from the end.
    """
    n = x.shape[-2]
    atoms = qk.shape[-3]
    batch = x.numel() // (n * x.shape[-1])
    chunk = max(1, min(atoms, max_elements // max(1, batch * n * n)))
    xa = x.unsqueeze(-3)  # (..., 1, N, d): broadcast over atoms
    out = torch.zeros_like(x)
    for lo in range(0, atoms, chunk):
        sl = slice(lo, lo + chunk)
        a = attention(xa, qk[..., sl, :, :], v[..., sl, :, :], beta, mask)  # (..., m, N, d)
        out = out + (weights[..., sl, None, None] * a).sum(-3)
    return out
