"""AdamW (docs/mathematics.md, experiment ``adamw``), standard and block-wise, as pure functions.

Step k = 1, 2, … for a parameter θ with (scaled) gradient g, learning rate η, moments (β₁, β₂),
ε and decoupled weight decay λ:

    ``m_k = β₁ m_{k−1} + (1 − β₁) g``
    ``v_k = β₂ v_{k−1} + (1 − β₂) s(g)``
    ``m̂ = m_k / (1 − β₁ᵏ)``,  ``v̂ = v_k / (1 − β₂ᵏ)``
    ``θ_k = (1 − η λ) θ_{k−1} − η m̂ / (√v̂ + ε)``,

with m_0 = v_0 = 0 and

- ``standard``: s(g) = g², elementwise (Kingma–Ba; Loshchilov–Hutter);
- ``blockwise``: s(g) = the mean of g² over each block, one scalar second moment per block. A block
  is the trailing ``block_ndim`` axes: with the default 2 it is one d×d matrix, i.e. one of Q, K, V
  of one (step, atom) group (discrete: of one head, since heads of a group are identical; limit:
  of one atom at one grid time).

Weight decay follows ``torch.optim.AdamW``: its ``weight_decay`` is our λ and the decay per step is
η λ (Loshchilov–Hutter's λ with schedule multiplier 1 equals our η λ). Because the Adam update
does not depend on θ, decaying before or after it gives the same θ_k.

Every operation is elementwise (or a mean over the block), so one function updates the discrete
per-(layer, atom) parameters and the limit's per-(grid time, atom) parameters pointwise in t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

VARIANTS = ("standard", "blockwise")


@dataclass(frozen=True)
class AdamW:
    """Hyperparameters of AdamW; invalid values raise a ValueError naming the argument."""

    lr: float
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    variant: str = "standard"
    block_ndim: int = 2

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr}")
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise ValueError(f"{name} must lie in [0, 1), got {value}")
        if not (math.isfinite(self.eps) and self.eps > 0):
            raise ValueError(f"eps must be a finite number > 0, got {self.eps}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay}")
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}; allowed: {VARIANTS}")
        if self.block_ndim < 1:
            raise ValueError(f"block_ndim must be >= 1, got {self.block_ndim}")


@dataclass(frozen=True)
class AdamWState:
    """Moments after k steps: m has the parameter's shape; v too (standard) or one entry per
    block with the block axes kept at size 1 (block-wise)."""

    m: torch.Tensor
    v: torch.Tensor
    k: int


def second_moment_sample(grad: torch.Tensor, opt: AdamW) -> torch.Tensor:
    """s(g): g² (standard) or the mean of g² over the trailing ``block_ndim`` axes (block-wise)."""
    sq = grad.square()
    if opt.variant == "standard":
        return sq
    if grad.dim() < opt.block_ndim:
        raise ValueError(f"grad has {grad.dim()} axes, fewer than block_ndim = {opt.block_ndim}")
    return sq.mean(tuple(range(-opt.block_ndim, 0)), keepdim=True)


def init_state(param: torch.Tensor, opt: AdamW) -> AdamWState:
    """m_0 = v_0 = 0 on the parameter's device, k = 0."""
    m = torch.zeros_like(param)
    return AdamWState(m=m, v=torch.zeros_like(second_moment_sample(m, opt)), k=0)


def adamw_step(
    param: torch.Tensor,
    grad: torch.Tensor,
    state: AdamWState,
    opt: AdamW,
    *,
    in_place: bool = False,
) -> tuple[torch.Tensor, AdamWState]:
    """One AdamW step (module docstring): returns θ_k and the state after k = state.k + 1 steps.

    Pure by default: the inputs are not modified. With ``in_place`` the moments of ``state`` are
    updated in place (and returned in the new state; the old state must not be used again):
    two parameter-sized tensors fewer to allocate. ``param`` and ``grad`` are never
    modified.
    """
    if grad.shape != param.shape:
        raise ValueError(f"grad shape {tuple(grad.shape)} != param shape {tuple(param.shape)}")
    if state.m.shape != param.shape:
        raise ValueError(f"state.m shape {tuple(state.m.shape)} != param {tuple(param.shape)}")
    s = second_moment_sample(grad, opt)
    if state.v.shape != s.shape:
        raise ValueError(f"state.v shape {tuple(state.v.shape)} != expected {tuple(s.shape)}")
    if state.k < 0:
        raise ValueError(f"state.k must be >= 0, got {state.k}")
    k = state.k + 1
    m, v = (state.m, state.v) if in_place else (state.m.clone(), state.v.clone())
    # the formulas of the module docstring, operation by operation in the same order (so the same
    # numbers), with the moments and temporaries updated in place and each temporary reused
    # (``step`` holds (1 − β₁) g, then η m̂; ``s`` then √v̂ + ε): these tensors are parameter-sized
    step = torch.mul(grad, 1 - opt.beta1)
    m.mul_(opt.beta1).add_(step)
    v.mul_(opt.beta2).add_(s.mul_(1 - opt.beta2))
    torch.div(m, 1 - opt.beta1**k, out=step).mul_(opt.lr)  # η m̂
    denom = torch.div(v, 1 - opt.beta2**k, out=s).sqrt_().add_(opt.eps)  # √v̂ + ε
    # θ − 1·(η m̂ / (√v̂ + ε)): the quotient rounded once, then subtracted (one pass, no temporary)
    new = torch.mul(param, 1 - opt.lr * opt.weight_decay).addcdiv_(step, denom, value=-1.0)
    return new, AdamWState(m=m, v=v, k=k)
