"""Worst-case inputs of P1's model: the supremum over inputs on the sphere of the error to the
limit (MODELS.md, ``heads``; P1 bounds the error uniformly over a compact set of inputs).

For inputs X₀ ∈ (S^{d−1})^N and R head draws s the objective is the squared L² error at X₀,

``F(X₀) = (1/R) Σ_s e₂(X₀, s)²``,  ``e₂ = max_ℓ ((1/N) Σᵢ |X_ℓⁱ − xⁱ(t_ℓ)|²)^(1/2)``
(``p1.errors``),

and the adversarial error is sup_{X₀} F(X₀)^(1/2): the supremum outside the expectation over the
heads, the quantity P1's uniform-in-inputs L² statement bounds. F is differentiated by torch
autograd, in float64, through the discrete model (:func:`attnlimits.p1.discrete.simulate`) and an
RK4 solve of the limit on the layer times (:func:`attnlimits.p1.limit.vector_field`).

The ascent (:func:`ascend`) is a Riemannian normalised gradient ascent with momentum and
retraction, one step size ηₖ per restart k: with g the gradient projected on the tangent space of
each token (``geometry.tangent``), the direction v ← P_X(``MOMENTUM`` v) + g and u = v / (rms over
tokens of |vⁱ|), the candidate is Y = Π(X + ηₖ u) (every token moves by about ηₖ). It is kept if
F(Y) > F(X), and then ηₖ ← min(``GROWTH`` ηₖ, ``MAX_STEP``); otherwise it is refused, v ← 0 and
ηₖ ← ηₖ/2. F never decreases along a restart, so its
current value is its best, and the first steps of a longer search are those of a shorter one
(the convergence check compares the two on the same run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from attnlimits.geometry import project, tangent
from attnlimits.head import Head
from attnlimits.integrators import solve_fixed
from attnlimits.p1 import errors
from attnlimits.p1.discrete import simulate
from attnlimits.p1.dynamics import Dynamics
from attnlimits.p1.limit import vector_field

#: Step-size growth after an accepted step, and the largest step (RMS token move, radians).
GROWTH, MAX_STEP = 1.5, 1.0
#: Weight of the previous direction in the next (heavy ball; reset when a step is refused).
MOMENTUM = 0.8
#: Smallest RMS gradient that is followed (below: the restart is at a critical point).
TINY_GRADIENT = 1e-300


@dataclass(frozen=True)
class Problem:
    """The error of one (L, H) cell as a function of the inputs.

    ``atoms`` the M atoms, ``counts`` (R, L, M) the atom counts of each seed and layer (L is
    read off them), ``dynamics`` T, β, mask and normalisation, ``substeps`` the limit solver's
    RK4 steps per layer.
    """

    atoms: Head
    counts: torch.Tensor
    dynamics: Dynamics
    substeps: int

    @property
    def layers(self) -> int:
        return self.counts.shape[1]

    def limit(self, x0: torch.Tensor) -> torch.Tensor:
        """x(t_ℓ), ℓ = 0..L, of inputs ``x0`` (K, N, d): (K, L+1, N, d), differentiable."""
        f = vector_field(self.atoms, self.dynamics)
        return solve_fixed(f, x0, self.dynamics.horizon, self.layers, self.substeps)

    def limit_error(self, x0: torch.Tensor) -> torch.Tensor:
        """The error of the limit solve :meth:`limit` at ``x0`` (K, N, d), per input: max over
        layer times and tokens of |x_h − x_{h/2}|, against a solve at half its step (an
        estimate of the error of the solve used, not of the finer one)."""
        f = vector_field(self.atoms, self.dynamics)
        horizon, layers = self.dynamics.horizon, self.layers
        with torch.no_grad():
            used = solve_fixed(f, x0, horizon, layers, self.substeps)
            finer = solve_fixed(f, x0, horizon, layers, 2 * self.substeps)
        return torch.linalg.vector_norm(used - finer, dim=-1).flatten(1).amax(-1)

    def squared_errors(self, x0: torch.Tensor) -> torch.Tensor:
        """e₂(X₀, s)² per seed and input of ``x0`` (K, N, d): (R, K)."""
        discrete = simulate(x0, self.atoms, self.counts, self.dynamics)
        return errors.e2(errors.deviations(discrete, self.limit(x0))).square()

    def value_and_gradient(self, x0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """F(X₀) = mean over seeds of e₂² per input (K,), and its gradient projected on the
        tangent space of each token (K, N, d)."""
        x = x0.detach().requires_grad_(True)
        value = self.squared_errors(x).mean(0)
        (grad,) = torch.autograd.grad(value.sum(), x)
        return value.detach(), tangent(x.detach(), grad, self.dynamics.normalisation)


@dataclass(frozen=True)
class Ascent:
    """The result of :func:`ascend` for K restarts: final inputs ``x`` (K, N, d), F at the start
    (``start``) and at the end (``value``), F after ``checkpoint`` steps (``at_checkpoint``),
    the number of accepted steps and the final step size of each restart."""

    x: torch.Tensor
    start: torch.Tensor
    value: torch.Tensor
    at_checkpoint: torch.Tensor
    accepted: torch.Tensor
    step_size: torch.Tensor


def ascend(
    value_and_gradient: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    x0: torch.Tensor,
    steps: int,
    step_size: float,
    checkpoint: int,
    progress: Callable[[int, int], None] | None = None,
) -> Ascent:
    """Maximise F over inputs on the sphere from the starts ``x0`` (K, N, d) (module docstring):
    ``steps`` candidate steps of initial size ``step_size``; F is recorded after ``checkpoint``
    of them. ``value_and_gradient`` maps inputs (K, N, d) to F (K,) and its tangent gradient."""
    x = project(x0, "sphere")
    value, grad = value_and_gradient(x)
    start = value.clone()
    at_checkpoint = value.clone()
    eta = torch.full_like(value, float(step_size))
    accepted = torch.zeros(value.shape, dtype=torch.int64)
    velocity = torch.zeros_like(x)
    for step in range(steps):
        velocity = tangent(x, MOMENTUM * velocity, "sphere") + grad
        rms = velocity.square().sum(-1).mean(-1).sqrt()[..., None, None]
        direction = velocity / rms.clamp_min(TINY_GRADIENT)
        y = project(x + eta[..., None, None] * direction, "sphere")
        candidate, candidate_grad = value_and_gradient(y)
        keep = candidate > value
        x = torch.where(keep[..., None, None], y, x)
        grad = torch.where(keep[..., None, None], candidate_grad, grad)
        velocity = torch.where(keep[..., None, None], velocity, torch.zeros_like(velocity))
        value = torch.where(keep, candidate, value)
        eta = torch.where(keep, (eta * GROWTH).clamp_max(MAX_STEP), eta / 2)
        accepted += keep
        if step + 1 == checkpoint:
            at_checkpoint = value.clone()
        if progress is not None:
            progress(step + 1, steps)
    return Ascent(x, start, value, at_checkpoint, accepted, eta)
