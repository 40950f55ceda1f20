"""The fixed training task of experiment ``adamw``: inputs, read-out, teacher targets, loss J.

Teacher (P1 does not fix the targets; **our choice**, docs/mathematics.md, experiment ``adamw``):
the targets are the read-out of a fixed *teacher transformer*, the mean-field limit of the same
architecture with its own M_teacher atoms of a head law of its own (Q, K ~ N(0, 1/d),
V = v̄_teacher I + σ_teacher G; stream ``(seed, "teacher", d)``, disjoint from the student's law
stream ``(seed, "atoms", d)`` whatever the seeds), run to the same horizon T with the same mask, β
and normalisation:

    ``y^(s)ⁱ = R x_teacher^(s)ⁱ(T)``,  ``ẋ_teacher = P(x) (1/M_teacher) Σ_r A_{θ_teacher⁽ʳ⁾}(x)``,
    ``x_teacher(0) = X₀^(s)``.

Why this teacher: the task is realisable within the model class (M parameter paths can reach the
teacher's atoms), so training makes steady progress rather than fitting noise; the targets are
smooth functions of the whole input sequence and depend on token interactions (which a token-wise
teacher such as ``y = R tanh(W x)`` would not exercise); and they depend on neither L nor H, so
every discrete model and the limit train on the same data. The default teacher is repulsive
(v̄_teacher = −1) while the student's law is attractive (v̄ = 1): with the same law the two mean
fields nearly agree (M atoms average out) and the loss starts at ~1e-2 of its repulsive value, so
AdamW, which moves every parameter by ~η per step whatever the gradient's size, would mostly
fit noise. The teacher flow is solved once with ``teacher_steps`` RK4 steps; the targets are
*defined* as the output of that fixed computation, so its own discretisation error is not an
error of the experiment.

Loss (docs/mathematics.md): ``J = (1/S) Σ_s (1/N) Σᵢ ½ |R X_L^(s)ⁱ − y^(s)ⁱ|²``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from attnlimits.head import Head
from attnlimits.integrators import solve_fixed
from attnlimits.p1.dynamics import Dynamics
from attnlimits.p1.inputs import draw_inputs
from attnlimits.p1.law import draw_atoms
from attnlimits.p1.limit import vector_field
from attnlimits.seeding import normal


@dataclass(frozen=True)
class Task:
    """S input sequences, the read-out R and the targets y."""

    x0: torch.Tensor  # (S, N, d) inputs X₀^(s)
    readout: torch.Tensor  # (d_out, d) read-out R
    targets: torch.Tensor  # (S, N, d_out) targets y^(s)ⁱ

    def to(self, device: torch.device | str) -> Task:
        return Task(self.x0.to(device), self.readout.to(device), self.targets.to(device))


def draw_readout(d_out: int, d: int, seed: int) -> torch.Tensor:
    """R (d_out, d) with entries i.i.d. N(0, 1/d), stream ``(seed, "readout", d_out, d)``."""
    return normal((d_out, d), seed, "readout", d_out, d) / np.sqrt(d)


def draw_teacher(atoms: int, d: int, v_bar: float, sigma_v: float, seed: int) -> Head:
    """The teacher's atoms (M_teacher, d, d): the head law of docs/mathematics.md
    (``p1.law.draw_atoms``) from the stream ``(seed, "teacher", d)``."""
    return draw_atoms(atoms, d, v_bar, sigma_v, seed, stream="teacher")


def draw_task(
    inputs: int,
    tokens: int,
    d: int,
    d_out: int,
    dynamics: Dynamics,
    teacher_atoms: int,
    v_bar: float,
    sigma_v: float,
    teacher_steps: int,
    seed: int,
) -> Task:
    """The task: S = ``inputs`` sequences of N = ``tokens`` tokens (``p1.inputs.draw_inputs``),
    the read-out R and the teacher targets y = R x_teacher(T) (module docstring), the teacher
    flow run with ``dynamics`` (the student's T, β, mask and normalisation).
    """
    if teacher_steps < 1:
        raise ValueError(f"teacher_steps must be >= 1, got {teacher_steps}")
    if d_out < 1:
        raise ValueError(f"d_out must be >= 1, got {d_out}")
    x0 = draw_inputs(inputs, tokens, d, dynamics.normalisation, seed)
    readout = draw_readout(d_out, d, seed)
    teacher = draw_teacher(teacher_atoms, d, v_bar, sigma_v, seed)
    f = vector_field(teacher, dynamics)
    final = solve_fixed(f, x0, dynamics.horizon, 1, teacher_steps)[:, -1]
    return Task(x0=x0, readout=readout, targets=final @ readout.T)


def loss(x_final: torch.Tensor, readout: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """J = (1/S) Σ_s (1/N) Σᵢ ½ |R X_Lⁱ − yⁱ|² for final states (..., S, N, d); shape (...)."""
    residual = x_final @ readout.transpose(-1, -2) - targets
    return 0.5 * residual.square().sum(-1).mean((-1, -2))
