"""Trainable parameters of experiment ``adamw`` and their starting values (docs/mathematics.md).

Both models are written as n_steps residual steps, each a weighted mixture of M heads:

- discrete model: n_steps = L layers; the heads of layer ℓ that share atom r stay identical under
  training (same start, same gradient, same AdamW state), so the trainable parameters are one
  θ_{ℓr} per (layer, atom) group, with weight w_{ℓr} = c_{ℓr}/H (c_{ℓr} heads of layer ℓ on atom r);
- limit: n_steps = the grid size n; θ_r(t_j) is atom r's parameter path at t_j = jT/n, weight 1/M.

Every head starts at its atom, θ⁽ʳ⁾ = (Q, K, V) of the head law. Groups with c_{ℓr} = 0 carry no
head: their weight is 0, their gradient is 0, and training leaves them at their start
(``training.train`` masks their update, so weight decay does not move them either).

The parameters are one :class:`attnlimits.head.Head` θ = (Q, K, V), each (..., n_steps, M, d, d)
(leading seed axes allowed): one head per (step, atom).
"""

from __future__ import annotations

import torch

from attnlimits.head import Head
from attnlimits.p1.law import atom_count


def step_count(params: Head) -> int:
    """n_steps of parameters (..., n_steps, M, d, d)."""
    return params.q.shape[-4]


def slice_steps(params: Head, start: int, stop: int) -> Head:
    """The parameters of steps start..stop−1 (views)."""
    return params.map(lambda t: t[..., start:stop, :, :, :])


def _repeat(atoms: Head, shape: tuple[int, ...]) -> Head:
    """Every (…, step) slot starts at the atoms: tensors of shape (*shape, M, d, d)."""
    return atoms.map(lambda t: t.expand(*shape, *t.shape).clone())


def discrete_start(atoms: Head, counts: torch.Tensor) -> tuple[Head, torch.Tensor]:
    """θ_{ℓr} = θ⁽ʳ⁾ for every layer, and the weights w_{ℓr} = c_{ℓr}/H.

    ``atoms`` (M, d, d); ``counts`` (..., L, M) are the atom counts c_{ℓr} of
    ``p1.law.atom_counts`` (each row sums to the number of heads H). Returns parameters
    (..., L, M, d, d) and weights (..., L, M), on the atoms' device.
    """
    m = atom_count(atoms)
    if counts.shape[-1] != m:
        raise ValueError(f"counts has {counts.shape[-1]} atoms, the law has {m}")
    counts = counts.to(device=atoms.q.device, dtype=atoms.q.dtype)
    if torch.any(counts < 0):
        raise ValueError("counts must be non-negative")
    heads = counts.sum(-1)
    if heads.numel() == 0 or torch.any(heads != heads.reshape(-1)[0]) or heads.reshape(-1)[0] < 1:
        raise ValueError("every layer must have the same number H >= 1 of heads")
    return _repeat(atoms, tuple(counts.shape[:-1])), counts / heads.reshape(-1)[0]


def limit_start(atoms: Head, steps: int) -> tuple[Head, torch.Tensor]:
    """θ_r(t_j) = θ⁽ʳ⁾ at every grid time t_j, j = 0..n−1, and the weights 1/M.

    ``atoms`` (M, d, d). Returns parameters (n, M, d, d) and weights (n, M), on the atoms' device.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    m = atom_count(atoms)
    weights = torch.full((steps, m), 1.0 / m, dtype=atoms.q.dtype, device=atoms.q.device)
    return _repeat(atoms, (steps,)), weights
