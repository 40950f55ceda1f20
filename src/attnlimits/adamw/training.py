"""K full-batch AdamW steps of experiment ``adamw``, recording every step (docs/mathematics.md).

The same loop trains the discrete model (parameters θ_{ℓr} per layer and atom group, weights
c_{ℓr}/H) and the limit (θ_r(t_j) per grid time and atom, weights 1/M): see ``params`` for the
starting values and ``model`` for the pass and the gradient scaling. Step k = 1..K applies
``optimizer.adamw_step`` to each of Q, K, V with the scaled gradient g at θ^{k−1}; groups of zero
weight (no head) are frozen at their start (their gradient is 0, so only weight decay would
have moved them). After every step k = 0..K (k = 0: before any step) the trajectory records X_j,
P_j, θ^k, the gradient g at θ^k and J(θ^k).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from attnlimits.adamw.model import Pass, batch_shape, forward_backward
from attnlimits.adamw.optimizer import AdamW, adamw_step, init_state
from attnlimits.adamw.params import step_count
from attnlimits.adamw.task import Task
from attnlimits.head import Head
from attnlimits.p1.dynamics import Dynamics


@dataclass(frozen=True)
class Trajectory:
    """A training run recorded at the steps k = 0..K and at every ``stride``-th grid time.

    With n grid steps the record times are t = i·stride·Δ, i = 0..n/stride (for the limit pick
    ``stride`` = n/L to read it at the layer times t_ℓ of a depth-L model).
    """

    times: torch.Tensor  # (n/stride + 1,) record times of the states
    loss: torch.Tensor  # (K+1, ...) J(θ^k)
    states: torch.Tensor  # (K+1, ..., S, n/stride + 1, N, d) X at the record times
    p: torch.Tensor  # (K+1, ..., S, n/stride + 1, N, d) P at the record times
    params: Head  # (K+1, ..., n/stride, M, d, d) θ^k at times[:-1]
    g: Head  # (K+1, ..., n/stride, M, d, d) scaled gradient at θ^k, at times[:-1]


def _thin(ps: Pass, params: Head, stride: int) -> tuple:
    """The record of one pass (checkpointed with ``segment`` = ``stride``, so that its states and
    P are already those of the record times): parameters and gradients every stride-th step."""

    def every(t: torch.Tensor) -> torch.Tensor:
        return t[..., ::stride, :, :, :]

    return (
        ps.loss,
        ps.states,
        ps.p,
        *(every(t) for t in params.tensors()),
        *(every(t) for t in ps.g.tensors()),
    )


def train(
    task: Task,
    params: Head,
    weights: torch.Tensor,
    dynamics: Dynamics,
    optimizer: AdamW,
    steps: int,
    stride: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> Trajectory:
    """Run K = ``steps`` full-batch AdamW steps from ``params`` and record every step.

    ``params`` (..., n, M, d, d) and ``weights`` (..., n, M) come from ``params.discrete_start``
    or ``params.limit_start`` (moved to the task's device). ``progress(done, total)`` is called
    after each of the K+1 forward–backward passes. A ``stride`` > 1 also checkpoints every pass
    in segments of ``stride`` steps (``model.forward_backward``): memory for the activations of
    ``stride`` steps, not n.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    n = step_count(params)
    if stride < 1 or n % stride:
        raise ValueError(f"stride must be >= 1 and divide the number of steps {n}, got {stride}")
    batch_shape(params, weights)
    active = (weights > 0)[..., None, None]
    everyone = bool(active.all())  # no group to freeze (the limit): skip the mask
    states = [init_state(t, optimizer) for t in params.tensors()]
    records = []
    for k in range(steps + 1):
        ps = forward_backward(task, params, weights, dynamics, stride)
        records.append(_thin(ps, params, stride))
        if progress is not None:
            progress(k + 1, steps + 1)
        if k == steps:
            break
        new = []
        for i, (theta, g) in enumerate(zip(params.tensors(), ps.g.tensors(), strict=True)):
            theta_new, states[i] = adamw_step(theta, g, states[i], optimizer, in_place=True)
            new.append(theta_new if everyone else torch.where(active, theta_new, theta))
        params = Head(*new)
    cols = [torch.stack(c) for c in zip(*records, strict=True)]
    times = torch.arange(0, n + 1, stride, dtype=task.x0.dtype, device=task.x0.device)
    return Trajectory(
        times=times * (dynamics.horizon / n),
        loss=cols[0],
        states=cols[1],
        p=cols[2],
        params=Head(*cols[3:6]),
        g=Head(*cols[6:9]),
    )
