"""One forward–backward pass of experiment ``adamw``, shared by the discrete model and the limit.

Forward (MODELS.md, sections ``heads`` and ``adamw``), steps j = 0..n−1 with Δ = T/n:

    ``X_{j+1}ⁱ = Π( X_jⁱ + Δ Σ_r w_{jr} A_{θ_{jr}}(X_j)ⁱ )``.

The discrete model has n = L and w_{ℓr} = c_{ℓr}/H (grouped heads); the limit has n = the grid
size and w_{jr} = 1/M, i.e. the explicit Euler scheme (with the same projection Π) for the forward
ODE ``ẋ = P(x) (1/M) Σ_r A_{θ_r(t)}(x)``; with one head per atom (H = M, L = n) the two coincide.

Backward. The backpropagated variables are normalised per token and input:

    ``P_j^(s)ⁱ = S N ∂J/∂X_j^(s)ⁱ``,

so that P_n = Rᵀ(R X_nⁱ − yⁱ) and P_j = (∂X_{j+1}/∂X_j)ᵀ P_{j+1} exactly as in MODELS.md; they do
not scale with L, S or N (J is a mean over inputs and tokens), so discrete and limit P compare
directly. They are computed by autodiff (``torch.autograd.grad`` with respect to the list of
states). On the sphere Π's Jacobian projects onto the tangent space, so P_j (j < n) is tangent up
to O(Δ) while P_n is not: the P_j converge to the tangent part P(x)p of MODELS.md's ambient adjoint,
the only part that enters the gradient (its normal part depends on how P(x) is extended off the
sphere).

Scaled gradient. Per (step, atom) group, with Δ w_{jr} the head mass of the group,

    ``g_{jr} = ∂J/∂θ_{jr} / (Δ w_{jr})``.

Discrete model: Δ w_{ℓr} = (T/L)(c_{ℓr}/H), and since the c_{ℓr} tied heads of the group receive
equal gradients, ∂J/∂θ_{ℓh} = (1/c_{ℓr}) ∂J/∂θ_{ℓr}, so g_{ℓr} = (L H / T) ∂J/∂θ_{ℓh} = g_{ℓh},
MODELS.md's per-head gradient, for every head h of the group. Limit: Δ w = T/(n M), so
g_r(t_j) = (n M / T) ∂J/∂θ_{jr}. Differentiating the Euler step,
∂(S N J)/∂θ_{jr} = Σ_{s,i} (DΠ · (Δ/M) ∂_θ A_{θ_{jr}}(X_j)ⁱ)ᵀ P_{j+1}ⁱ with DΠ = P(X_jⁱ) + O(Δ) and
P_{j+1} = p(t_j) + O(Δ), so g_r(t_j) = (1/S)(1/N) Σ_{s,i} (∂_θ[P(xⁱ) A_{θ_r(t_j)}(x)ⁱ])ᵀ pⁱ(t_j)
+ O(Δ): MODELS.md's gradient density per unit of head mass. Groups of zero weight (no head) get
g = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from attnlimits.adamw.params import slice_steps, step_count
from attnlimits.adamw.task import Task, loss
from attnlimits.head import Head
from attnlimits.p1.dynamics import Dynamics


def batch_shape(params: Head, weights: torch.Tensor) -> torch.Size:
    """The leading (seed) axes of a run; ``weights`` (..., n, M) must broadcast to ``params``."""
    if weights.shape[-2:] != params.q.shape[-4:-2]:
        raise ValueError(
            f"weights {tuple(weights.shape)} do not match (n_steps, M) of the parameters "
            f"{tuple(params.q.shape[-4:-2])}"
        )
    if params.k.shape != params.q.shape or params.v.shape != params.q.shape:
        raise ValueError("Q, K and V must have the same shape")
    batch = params.batch_shape[:-2]  # the axes before (n, M)
    if torch.broadcast_shapes(batch, weights.shape[:-2]) != batch:
        raise ValueError(
            f"the seed axes of the weights {tuple(weights.shape[:-2])} must broadcast to those "
            f"of the parameters {tuple(batch)}"
        )
    return batch


def layers(
    x: torch.Tensor,
    params: Head,
    weights: torch.Tensor,
    dynamics: Dynamics,
    dt: float,
) -> list[torch.Tensor]:
    """[X_j, X_{j+1}, …, X_{j+n}] from X_j = ``x`` (..., S, N, d) through the n steps of ``params``.

    Implements X_{j+1} = Π(X_j + Δ Σ_r w_{jr} A_{θ_{jr}}(X_j)) with Δ = ``dt`` (the horizon of
    ``dynamics`` plays no part); QᵀK is formed inside autograd, so gradients reach Q and K
    separately.
    """
    # Per-step views, split once: indexing one step inside the loop would make autograd allocate
    # and zero-fill a full-size gradient for every step (backward cost ∝ n²); unbind's backward
    # stacks the n step gradients once.
    qk = params.qk.unsqueeze(-4).unbind(-5)  # n × (..., 1, M, d, d): unit axis over inputs
    v = params.v.unsqueeze(-4).unbind(-5)
    w = weights.unsqueeze(-2).unbind(-3)  # n × (..., 1, M)
    out = [x]
    for j in range(step_count(params)):
        x = dynamics.step(x, qk[j], v[j], w[j], dt)
        out.append(x)
    return out


def forward(
    x0: torch.Tensor, params: Head, weights: torch.Tensor, dynamics: Dynamics
) -> torch.Tensor:
    """States X_0..X_n (..., S, n+1, N, d) for inputs ``x0`` (S, N, d), Δ = T/n (no autograd)."""
    batch = batch_shape(params, weights)
    with torch.no_grad():
        x = x0.expand(*batch, *x0.shape)
        states = layers(x, params, weights, dynamics, dynamics.horizon / step_count(params))
    return torch.stack(states, dim=-3)


def scaled_gradient(dj: torch.Tensor, weights: torch.Tensor, dt: float) -> torch.Tensor:
    """g_{jr} = ∂J/∂θ_{jr} / (Δ w_{jr}) (module docstring), and 0 where w_{jr} = 0.

    ``dj`` (..., n, M, d, d), ``weights`` (..., n, M).
    """
    mass = (dt * weights)[..., None, None]
    safe = torch.where(mass > 0, mass, torch.ones_like(mass))
    return torch.where(mass > 0, dj / safe, torch.zeros_like(dj))


@dataclass(frozen=True)
class Pass:
    """One forward–backward pass at parameters θ."""

    states: torch.Tensor  # (..., S, n/s+1, N, d) X_0, X_s, ..., X_n (s: the pass's segment)
    p: torch.Tensor  # (..., S, n/s+1, N, d) P_j = S N ∂J/∂X_j at the same j
    loss: torch.Tensor  # (...) J
    dj: Head  # ∂J/∂θ_{jr}, (..., n, M, d, d)
    g: Head  # scaled gradient g_{jr} = ∂J/∂θ_{jr} / (Δ w_{jr})


def forward_backward(
    task: Task, params: Head, weights: torch.Tensor, dynamics: Dynamics, segment: int = 1
) -> Pass:
    """States, loss, backpropagated variables and gradients at ``params`` (module docstring).

    Leading seed axes of ``params`` are independent models: the gradient of the summed loss with
    respect to one seed's parameters is that seed's own gradient.

    ``segment`` = s > 1 checkpoints the pass (for the limit's long grids): the forward keeps X only
    at every s-th step, without autograd; the backward recomputes one segment of s steps at a time
    from its first state and pulls P back through it (``torch.autograd.grad`` with the segment's
    end P as ``grad_outputs``). Autograd then holds the activations of s steps instead of n, for
    one more forward pass; the same operations run in the same order, so X, P and ∂J/∂θ are those
    of ``segment`` = 1, and ``states`` and ``p`` are returned at j = 0, s, 2s, …, n only.
    """
    batch = batch_shape(params, weights)
    n = step_count(params)
    if segment < 1 or n % segment:
        raise ValueError(f"segment must be >= 1 and divide the number of steps {n}, got {segment}")
    dt = dynamics.horizon / n
    scale = task.x0.shape[-3] * task.x0.shape[-2]  # S N
    run = (dynamics, dt)
    x0 = task.x0.detach().expand(*batch, *task.x0.shape)
    bounds = [x0]  # X_0, X_s, ..., X_n
    if segment > 1:
        with torch.no_grad():
            for start in range(0, n, segment):
                end = start + segment
                w = weights[..., start:end, :]
                bounds.append(layers(bounds[-1], slice_steps(params, start, end), w, *run)[-1])
    with torch.enable_grad():
        if segment == 1:
            theta = [t.detach().requires_grad_(True) for t in params.tensors()]
            x = x0.clone().requires_grad_(True)
            states = layers(x, Head(*theta), weights, *run)
            j = loss(states[-1], task.readout, task.targets)
            grads = torch.autograd.grad(j.sum(), [*states, *theta])
            bounds = [s.detach() for s in states]
            p_bounds, dj = list(grads[: len(states)]), Head(*grads[len(states) :])
        else:
            x_n = bounds[-1].clone().requires_grad_(True)
            j = loss(x_n, task.readout, task.targets)
            p_bounds = list(torch.autograd.grad(j.sum(), [x_n]))
            pieces = []
            for start in reversed(range(0, n, segment)):
                end = start + segment
                theta = [
                    t.detach().requires_grad_(True)
                    for t in slice_steps(params, start, end).tensors()
                ]
                x = bounds[start // segment].clone().requires_grad_(True)
                out = layers(x, Head(*theta), weights[..., start:end, :], *run)[-1]
                p_start, *d_theta = torch.autograd.grad(out, [x, *theta], grad_outputs=p_bounds[0])
                p_bounds.insert(0, p_start)
                pieces.insert(0, d_theta)
            dj = Head(*(torch.cat(role, dim=-4) for role in zip(*pieces, strict=True)))
    return Pass(
        states=torch.stack(bounds, dim=-3),
        p=scale * torch.stack(p_bounds, dim=-3),
        loss=j.detach(),
        dj=dj,
        g=dj.map(lambda t: scaled_gradient(t, weights, dt)),
    )
