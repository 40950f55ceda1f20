"""One forward–backward pass of experiment ``adamw``, shared by the discrete model and the limit.

Forward (docs/mathematics.md, experiments ``heads`` and ``adamw``), steps j = 0..n−1 with Δ = T/n:

    ``X_{j+1}ⁱ = Π( X_jⁱ + Δ Σ_r w_{jr} A_{θ_{jr}}(X_j)ⁱ )``.

The discrete model has n = L and w_{ℓr} = c_{ℓr}/H (grouped heads); the limit has n = the grid
size and w_{jr} = 1/M, i.e. the explicit Euler scheme (with the same projection Π) for the forward
ODE ``ẋ = P(x) (1/M) Σ_r A_{θ_r(t)}(x)``; with one head per atom (H = M, L = n) the two coincide.

Backward. The backpropagated variables are normalised per token and input:

    ``P_j^(s)ⁱ = S N ∂J/∂X_j^(s)ⁱ``,

so that P_n = Rᵀ(R X_nⁱ − yⁱ) and P_j = (∂X_{j+1}/∂X_j)ᵀ P_{j+1} exactly as in docs/mathematics.md;
they do not scale with L, S or N (J is a mean over inputs and tokens), so discrete and limit P
compare directly. They are the exact reverse-mode derivative of the forward steps, written out by
hand (``_step_back``: the chain rule through Π, the value products, the softmax and the scores;
checked against autograd, finite differences and a per-head reference in the tests) rather than
taped by autograd, whose graph costs several times the arithmetic for these small tensors. On the
sphere Π's Jacobian projects onto the tangent space, so P_j (j < n) is tangent up to O(Δ) while
P_n is not: the P_j converge to the tangent part P(x)p of the ambient adjoint of
docs/mathematics.md, the only part that enters the gradient (its normal part depends on how P(x) is
extended off the sphere).

Scaled gradient. Per (step, atom) group, with Δ w_{jr} the head mass of the group,

    ``g_{jr} = ∂J/∂θ_{jr} / (Δ w_{jr})``.

Discrete model: Δ w_{ℓr} = (T/L)(c_{ℓr}/H), and since the c_{ℓr} tied heads of the group receive
equal gradients, ∂J/∂θ_{ℓh} = (1/c_{ℓr}) ∂J/∂θ_{ℓr}, so g_{ℓr} = (L H / T) ∂J/∂θ_{ℓh} = g_{ℓh},
the per-head gradient of docs/mathematics.md, for every head h of the group. Limit: Δ w = T/(n M),
so g_r(t_j) = (n M / T) ∂J/∂θ_{jr}. Differentiating the Euler step,
∂(S N J)/∂θ_{jr} = Σ_{s,i} (DΠ · (Δ/M) ∂_θ A_{θ_{jr}}(X_j)ⁱ)ᵀ P_{j+1}ⁱ with DΠ = P(X_jⁱ) + O(Δ) and
P_{j+1} = p(t_j) + O(Δ), so g_r(t_j) = (1/S)(1/N) Σ_{s,i} (∂_θ[P(xⁱ) A_{θ_r(t_j)}(x)ⁱ])ᵀ pⁱ(t_j)
+ O(Δ): the gradient density per unit of head mass of docs/mathematics.md. Groups of zero weight (no
head) get g = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from attnlimits.adamw.params import step_count
from attnlimits.adamw.task import Task, loss
from attnlimits.attention import MASKS
from attnlimits.geometry import NORMALISATIONS
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


def _check(dynamics: Dynamics) -> None:
    if dynamics.mask not in MASKS:
        raise ValueError(f"unknown mask {dynamics.mask!r}; allowed: {MASKS}")
    if dynamics.normalisation not in NORMALISATIONS:
        raise ValueError(
            f"unknown normalisation {dynamics.normalisation!r}; allowed: {NORMALISATIONS}"
        )


def _step_matrices(params: Head, weights: torch.Tensor, beta: float, dt: float) -> torch.Tensor:
    """Every step's heads as one matrix KV (..., n, d, 2·d·M), columns (t, c, r), such that
    ``KVᵀ xᵏ`` gives at once, per atom r, the key side of the scores (t = 0) and the weighted
    values times Δ (t = 1):

        ``KV[:, 0, :, r]ᵀ xᵏ = β (QᵀK)_r xᵏ``,  ``KV[:, 1, :, r]ᵀ xᵏ = Δ w_r V_r xᵏ``,

    whence the scores β ⟨Q_r xⁱ, K_r xᵏ⟩ = xⁱ · (β (QᵀK)_r xᵏ) and Δ Σ_r w_r A_r(X)ⁱ =
    Σ_{r,k} W_{i,rk} Δ w_r V_r xᵏ (one matrix product over the pairs (r, k)). Both halves are
    written straight into their columns (one pass over the parameters each).
    """
    q = params.q
    *lead, n, m, d, _ = q.shape
    kv = torch.empty(*lead, n, d, 2, d, m, dtype=q.dtype, device=q.device)  # (…, n, b, t, c, r)
    k = len(lead)
    to_columns = (*range(k), k, k + 3, k + 2, k + 1)  # (…, n, r, c, b) -> (…, n, b, c, r)
    torch.mul(params.qk.permute(to_columns), beta, out=kv[..., 0, :, :])
    mass = (dt * weights)[..., None, None, :]  # (…, n, 1, 1, M)
    torch.mul(params.v.permute(to_columns), mass, out=kv[..., 1, :, :])
    return kv.view(*lead, n, d, 2 * d * m)


def _mask(n_tokens: int, device: torch.device) -> torch.Tensor:
    """True at the score (i, r, k) of a token k after i (causal mask), shape (N, 1, N)."""
    return torch.ones(n_tokens, n_tokens, dtype=torch.bool, device=device).triu(1)[:, None, :]


def _attention(x: torch.Tensor, kv: torch.Tensor, mask: torch.Tensor | None) -> tuple:
    """Softmax weights W (..., S, N, M·N) over (r, k) (normalised over k for each r), the key
    side Kt = (β (QᵀK)_r xᵏ)_{c,rk} and the weighted values Vt = (w_r V_r xᵏ)_{e,rk}, both
    (..., S, d, M·N), of tokens ``x`` (..., S, N, d) under one step's ``kv`` (..., d, 2·d·M)
    (:func:`_step_matrices`; the value half may carry a factor, e.g. Δ, which Vt then carries).

    The softmax is taken in log-sum-exp form (``attention.softmax_weights``): the row maximum is
    subtracted before exp, so no score overflows whatever β; masked scores get weight exactly 0.
    """
    *batch, s, n, d = x.shape
    both = kv.mT.unsqueeze(-3) @ x.mT  # (..., S, 2·d·M, N)
    kt, vt = both.view(*batch, s, 2, d, -1).unbind(-3)
    scores = (x @ kt).view(*batch, s, n, -1, n)  # (i, r, k)
    if mask is not None:
        scores.masked_fill_(mask, float("-inf"))
    scores = scores.sub_(scores.amax(-1, keepdim=True)).exp_()
    scores.div_(scores.sum(-1, keepdim=True))
    return scores.view(*batch, s, n, -1), kt, vt


def _project(y: torch.Tensor, sphere: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Π(y) and |y| (None for ``none``)."""
    if not sphere:
        return y, None
    norm = torch.linalg.vector_norm(y, dim=-1, keepdim=True)
    return y / norm, norm


def _step(
    x: torch.Tensor, kv: torch.Tensor, mask: torch.Tensor | None, sphere: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """X_{j+1} = Π(X_j + Δ Σ_r w_r A_{θ_r}(X_j)) and |X_j + Δ …| (sphere) for one step, with the
    value half of ``kv`` carrying Δ (:func:`_step_matrices`)."""
    w, _, vt_dt = _attention(x, kv, mask)
    y = torch.baddbmm(x, w, vt_dt.mT) if x.dim() == 3 else (w @ vt_dt.mT).add_(x)
    return _project(y, sphere)


def _forward(
    x: torch.Tensor, kv_dt: torch.Tensor, dynamics: Dynamics
) -> tuple[list[torch.Tensor], list[torch.Tensor | None]]:
    """States X_0..X_n and the norms |Y_j| before projection, from X_0 = ``x``; ``kv_dt`` the
    steps' matrices with their value half times Δ (:func:`_step_matrices`)."""
    mask = _mask(x.shape[-2], x.device) if dynamics.mask == "causal" else None
    sphere = dynamics.normalisation == "sphere"
    states, norms = [x], []
    for kv_j in kv_dt.unbind(-3):
        x, norm = _step(x, kv_j, mask, sphere)
        states.append(x)
        norms.append(norm)
    return states, norms


def _setup(params: Head, weights: torch.Tensor, dynamics: Dynamics, dt: float) -> torch.Tensor:
    _check(dynamics)
    batch_shape(params, weights)
    return _step_matrices(params, weights, dynamics.beta, dt)


def layers(
    x: torch.Tensor,
    params: Head,
    weights: torch.Tensor,
    dynamics: Dynamics,
    dt: float,
) -> list[torch.Tensor]:
    """[X_j, X_{j+1}, …, X_{j+n}] from X_j = ``x`` (..., S, N, d) through the n steps of ``params``.

    Implements X_{j+1} = Π(X_j + Δ Σ_r w_{jr} A_{θ_{jr}}(X_j)) with Δ = ``dt`` (the horizon of
    ``dynamics`` plays no part), without autograd.
    """
    with torch.no_grad():
        return _forward(x, _setup(params, weights, dynamics, dt), dynamics)[0]


def forward(
    x0: torch.Tensor, params: Head, weights: torch.Tensor, dynamics: Dynamics
) -> torch.Tensor:
    """States X_0..X_n (..., S, n+1, N, d) for inputs ``x0`` (S, N, d), Δ = T/n (no autograd)."""
    batch = batch_shape(params, weights)
    x = x0.expand(*batch, *x0.shape)
    states = layers(x, params, weights, dynamics, dynamics.horizon / step_count(params))
    return torch.stack(states, dim=-3)


def scaled_gradient(dj: torch.Tensor, weights: torch.Tensor, dt: float) -> torch.Tensor:
    """g_{jr} = ∂J/∂θ_{jr} / (Δ w_{jr}) (module docstring), and 0 where w_{jr} = 0.

    ``dj`` (..., n, M, d, d), ``weights`` (..., n, M).
    """
    mass = (dt * weights)[..., None, None]
    empty = mass <= 0
    safe = torch.where(empty, torch.ones_like(mass), mass)
    return (dj / safe).masked_fill_(empty, 0.0)


def _step_back(
    p: torch.Tensor,
    x: torch.Tensor,
    x_next: torch.Tensor,
    norm: torch.Tensor | None,
    step: tuple[torch.Tensor, ...],
) -> torch.Tensor:
    """P_j = (∂X_{j+1}/∂X_j)ᵀ P_{j+1} for one step, by the chain rule written out.

    With Y = X + Δ a, a = Σ_{r,k} W_{i,rk} Vt_{rk} (Vt = w_r V_r xᵏ), scores
    s_{i,rk} = xⁱ · Kt_{rk} (Kt = β (QᵀK)_r xᵏ) and W = softmax_k(s):

    - Π (sphere): ∂Y = (P_{j+1} − (P_{j+1}·X_{j+1}) X_{j+1}) / |Y|; identity for ``none``;
    - values: ∂W_{i,rk} = Δ ∂Yⁱ · Vt_{rk}, ∂Vt_{rk} = Δ Σ_i W_{i,rk} ∂Yⁱ;
    - softmax: ∂s = W ⊙ (∂W − Σ_k W ⊙ ∂W) (per i, r);
    - scores: ∂xⁱ += Σ_{r,k} ∂s_{i,rk} Kt_{rk}, ∂Kt_{rk} = Σ_i ∂s_{i,rk} xⁱ;
    - ∂xᵏ += Σ_r (β (QᵀK)_r ∂Kt_{rk} + w_r V_rᵀ ∂Vt_{rk}) (one product with KV).

    ``step`` holds the step's views (:func:`_block_views`): W as (..., S, N, M·N) and as
    (..., S, N, M, N), Kt, Δ·Vt, the outputs (..., S, d, M·N) that receive ∂Kt and ∂Vt / Δ (for
    the parameter gradients), both of them as one (..., S, 2·d·M, N) matrix, and the step's KV
    with its value half times Δ, (..., 1, d, 2·d·M).
    """
    w, w4, kt, vt_dt, out_k, out_v, grad_kv, kv_back = step
    gy = p
    if norm is not None:
        gy = torch.addcmul(p, (p * x_next).sum(-1, keepdim=True), x_next, value=-1.0).div_(norm)
    torch.matmul(gy.mT, w, out=out_v)  # ∂Vt / Δ
    gs = (gy @ vt_dt).mul_(w)
    gs4 = gs.view(w4.shape)
    gs4.addcmul_(w4, gs4.sum(-1, keepdim=True), value=-1.0)
    torch.matmul(x.mT, gs, out=out_k)  # ∂Kt
    back = (kv_back @ grad_kv).mT.add(gy)  # (..., S, N, d)
    return back.baddbmm_(gs, kt.mT) if back.dim() == 3 else back.add_(gs @ kt.mT)


def _block_views(
    w: torch.Tensor, kt: torch.Tensor, vt_dt: torch.Tensor, grads: torch.Tensor, kv_back: list
) -> list[tuple[torch.Tensor, ...]]:
    """Per step of a block, the views :func:`_step_back` uses, each list made by one unbind over
    the block's step axis (-4 for W, Kt, Vt; -5 for ``grads`` (..., block, S, 2, d, M·N))."""
    *batch, block, s, n, mn = w.shape
    w4 = w.view(*batch, block, s, n, mn // n, n)
    grad_kv = grads.view(*batch, block, s, -1, n)
    return list(
        zip(
            w.unbind(-4),
            w4.unbind(-5),
            kt.unbind(-4),
            vt_dt.unbind(-4),
            grads[..., 0, :, :].unbind(-4),
            grads[..., 1, :, :].unbind(-4),
            grad_kv.unbind(-4),
            kv_back,
            strict=True,
        )
    )


@dataclass(frozen=True)
class Pass:
    """One forward–backward pass at parameters θ."""

    states: torch.Tensor  # (..., S, n/s+1, N, d) X_0, X_s, ..., X_n (s: the pass's segment)
    p: torch.Tensor  # (..., S, n/s+1, N, d) P_j = S N ∂J/∂X_j at the same j
    loss: torch.Tensor  # (...) J
    g: Head  # scaled gradient g_{jr} = ∂J/∂θ_{jr} / (Δ w_{jr}), (..., n, M, d, d)
    mass: torch.Tensor  # (..., n, M) the head mass Δ w_{jr} of each group

    @property
    def dj(self) -> Head:
        """∂J/∂θ_{jr} = Δ w_{jr} g_{jr} (..., n, M, d, d)."""
        return self.g.map(lambda t: t * self.mass[..., None, None])


def forward_backward(
    task: Task, params: Head, weights: torch.Tensor, dynamics: Dynamics, segment: int = 1
) -> Pass:
    """States, loss, backpropagated variables and gradients at ``params`` (module docstring).

    Leading seed axes of ``params`` are independent models: the gradient of the summed loss with
    respect to one seed's parameters is that seed's own gradient.

    The forward runs step by step and keeps X_j at every step (small: S N d numbers per step).
    The backward goes through the steps in blocks of ``segment`` = s steps (all n steps at once
    for s = 1): the attention weights of a block are recomputed from its stored X_j for all its
    steps at once, P is pulled back step by step (:func:`_step_back`), and the block's parameter
    gradients follow from its X_j and the pulled-back key and value sides in one product. So the
    memory is that of the attention of s steps (n for s = 1), and ``states`` and ``p`` are returned
    at j = 0, s, 2s, …, n only; the arithmetic of a step does not depend on s.
    """
    batch = batch_shape(params, weights)
    n = step_count(params)
    if segment < 1 or n % segment:
        raise ValueError(f"segment must be >= 1 and divide the number of steps {n}, got {segment}")
    block = n if segment == 1 else segment
    dt = dynamics.horizon / n
    s_inputs, n_tokens, d = task.x0.shape
    with torch.no_grad():
        kv_back = _setup(params, weights, dynamics, dt)  # (..., n, d, 2·d·M), values times Δ
        x0 = task.x0.expand(*batch, *task.x0.shape)
        states, norms = _forward(x0, kv_back, dynamics)
        x_n = states[-1]
        j = loss(x_n, task.readout, task.targets)
        p = (x_n @ task.readout.transpose(-1, -2) - task.targets) @ task.readout  # P_n
        mask = _mask(n_tokens, x0.device) if dynamics.mask == "causal" else None
        p_bounds = [p]
        d_kv = torch.empty_like(kv_back.mT)  # ∂(S N J)/∂KVᵀ, value half / Δ
        kv_back_steps = kv_back.unsqueeze(-3).unbind(-4)  # n × (..., 1, d, 2·d·M)
        for start in reversed(range(0, n, block)):
            end = start + block
            xs = torch.stack(states[start:end], dim=-4)  # (..., block, S, N, d)
            w, kt, vt_dt = _attention(xs, kv_back[..., start:end, :, :], mask)
            grads = torch.empty(*kt.shape[:-2], 2, *kt.shape[-2:], dtype=xs.dtype, device=xs.device)
            views = _block_views(w, kt, vt_dt, grads, kv_back_steps[start:end])
            for i in reversed(range(block)):
                j_step = start + i
                p = _step_back(p, states[j_step], states[j_step + 1], norms[j_step], views[i])
                if j_step % segment == 0:
                    p_bounds.append(p)
            flat = grads.view(*grads.shape[:-3], -1, n_tokens)  # (..., block, S, 2·d·M, N)
            d_kv[..., start:end, :, :] = (flat @ xs).sum(-3)
        g = _scaled_gradients(d_kv, params, weights, dynamics.beta, dt, s_inputs * n_tokens)
    return Pass(
        states=torch.stack(states[::segment], dim=-3),
        p=torch.stack(p_bounds[::-1], dim=-3),
        loss=j,
        g=g,
        mass=dt * weights,
    )


def _scaled_gradients(
    d_kv: torch.Tensor,
    params: Head,
    weights: torch.Tensor,
    beta: float,
    dt: float,
    scale: int,
) -> Head:
    """The scaled gradients g = ∂J/∂θ / (Δ w) of (Q, K, V) per step and atom (0 where w = 0,
    :func:`scaled_gradient`) from ∂(S N J)/∂KVᵀ (..., n, 2·d·M, d) (value half divided by Δ):
    ∂(QᵀK)_r[c, b] = β ∂KV[b, 0, c, r], ∂V_r[c, b] = Δ w_r ∂KV[b, 1, c, r]; QᵀK gives
    ∂Q = K ∂(QᵀK)ᵀ, ∂K = Q ∂(QᵀK); all divided by S N. The same operations as
    :func:`scaled_gradient` of ∂J/∂θ, the division done in place on ∂J/∂θ."""
    d = params.q.shape[-1]
    parts = d_kv.view(*d_kv.shape[:-2], 2, d, -1, d).movedim(-2, -4)  # (..., n, M, 2, c, b)
    # written out contiguous (..., n, M, c, b), and the operand of ∂Q too, so that the products
    # below are plain batched ones (with the layouts they had when they copied their operands)
    d_qk = torch.mul(parts[..., 0, :, :], beta / scale, out=torch.empty_like(params.q))
    # keeps the layout of ``parts`` (which decides the order of a block-wise AdamW's block mean)
    d_v = ((dt / scale) * weights)[..., None, None] * parts[..., 1, :, :]
    mass = (dt * weights)[..., None, None]
    empty = mass <= 0
    everyone = not bool(empty.any())  # every group has a head (the limit): no mask pass
    safe = mass if everyone else torch.where(empty, torch.ones_like(mass), mass)

    def scaled(dj: torch.Tensor) -> torch.Tensor:
        g = dj.div_(safe)
        return g if everyone else g.masked_fill_(empty, 0.0)

    return Head(scaled(params.k @ d_qk.mT.contiguous()), scaled(params.q @ d_qk), scaled(d_v))
