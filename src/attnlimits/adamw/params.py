"""Trainable parameters of experiment ``adamw`` and their starting values (MODELS.md).

Both models are written as n_steps residual steps, each a weighted mixture of M heads:

- discrete model: n_steps = L layers; the heads of layer ℓ that share atom r stay identical under
  training (same start, same gradient, same AdamW state), so the trainable parameters are one
  θ_{ℓr} per (layer, atom) group, with weight w_{ℓr} = c_{ℓr}/H (c_{ℓr} heads of layer ℓ on atom r);
- limit: n_steps = the grid size n; θ_r(t_j) is atom r's parameter path at t_j = jT/n, weight 1/M.

Every head starts at its atom, θ⁽ʳ⁾ = (Q, K, V) of the head law. Groups with c_{ℓr} = 0 carry no
head: their weight is 0, their gradient is 0, and training leaves them at their start
(``training.train`` masks their update, so weight decay does not move them either).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from attnlimits.heads.law import Atoms


@dataclass(frozen=True)
class Params:
    """θ = (Q, K, V) per (step, atom): each (..., n_steps, M, d, d), leading seed axes allowed."""

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor

    @property
    def qk(self) -> torch.Tensor:
        """QᵀK per (step, atom), so that ⟨Q x, K y⟩ = xᵀ (QᵀK) y."""
        return self.q.transpose(-1, -2) @ self.k

    @property
    def steps(self) -> int:
        return self.q.shape[-4]

    @property
    def batch_shape(self) -> torch.Size:
        return self.q.shape[:-4]

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (self.q, self.k, self.v)

    def slice_steps(self, start: int, stop: int) -> Params:
        """The parameters of steps start..stop−1 (views)."""
        return Params(*(t[..., start:stop, :, :, :] for t in self.tensors()))

    def to(self, device: torch.device | str) -> Params:
        return Params(self.q.to(device), self.k.to(device), self.v.to(device))


def _repeat(atoms: Atoms, shape: tuple[int, ...]) -> Params:
    """Every (…, step) slot starts at the atoms: tensors of shape (*shape, M, d, d)."""
    return Params(
        *(t.expand(*shape, *t.shape).clone() for t in (atoms.q, atoms.k, atoms.v)),
    )


def discrete_start(atoms: Atoms, counts: torch.Tensor) -> tuple[Params, torch.Tensor]:
    """θ_{ℓr} = θ⁽ʳ⁾ for every layer, and the weights w_{ℓr} = c_{ℓr}/H.

    ``counts`` (..., L, M) are the atom counts c_{ℓr} of ``heads.law.atom_counts`` (each row sums
    to the number of heads H). Returns parameters (..., L, M, d, d) and weights (..., L, M), on
    the atoms' device.
    """
    if counts.shape[-1] != atoms.count:
        raise ValueError(f"counts has {counts.shape[-1]} atoms, the law has {atoms.count}")
    counts = counts.to(device=atoms.q.device, dtype=atoms.q.dtype)
    if torch.any(counts < 0):
        raise ValueError("counts must be non-negative")
    heads = counts.sum(-1)
    if heads.numel() == 0 or torch.any(heads != heads.reshape(-1)[0]) or heads.reshape(-1)[0] < 1:
        raise ValueError("every layer must have the same number H >= 1 of heads")
    return _repeat(atoms, tuple(counts.shape[:-1])), counts / heads.reshape(-1)[0]


def limit_start(atoms: Atoms, steps: int) -> tuple[Params, torch.Tensor]:
    """θ_r(t_j) = θ⁽ʳ⁾ at every grid time t_j, j = 0..n−1, and the weights 1/M.

    Returns parameters (n, M, d, d) and weights (n, M), on the atoms' device.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    weights = torch.full(
        (steps, atoms.count), 1.0 / atoms.count, dtype=atoms.q.dtype, device=atoms.q.device
    )
    return _repeat(atoms, (steps,)), weights
