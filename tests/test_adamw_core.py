"""Numerical core of experiment ``adamw``: pass, gradients, AdamW, grouping and the limit."""

import math

import numpy as np
import pytest
import torch
from adamw_specs import ATOMS, BETA, M, T, make_task

from attnlimits.adamw.model import forward, forward_backward, layers
from attnlimits.adamw.optimizer import AdamW, adamw_step, init_state
from attnlimits.adamw.params import discrete_start, limit_start, step_count
from attnlimits.adamw.task import loss
from attnlimits.adamw.training import train
from attnlimits.attention import attention
from attnlimits.geometry import project, tangent
from attnlimits.head import Head
from attnlimits.p1.dynamics import Dynamics
from attnlimits.p1.law import atom_counts, head_atoms

# the two settings the tests cover: (mask, normalisation)
SETTINGS = [("encoder", "sphere"), ("causal", "none")]


def slice_steps(params: Head, lo: int) -> Head:
    return params.map(lambda t: t[..., lo:, :, :, :])


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return (torch.max(torch.abs(a - b)) / torch.max(torch.abs(b))).item()


@pytest.mark.parametrize(("mask", "normalisation"), SETTINGS)
def test_backpropagated_variables_match_finite_differences(mask, normalisation):
    """P_j = S N ∂J/∂X_j: perturb X_j, re-run the remaining layers, central differences."""
    task = make_task(mask, normalisation)
    counts = atom_counts(head_atoms(1, 4, 5, M, seed=2), M)[0]
    params, weights = discrete_start(ATOMS, counts)
    # move off the atoms so that the layers differ
    gen = torch.Generator().manual_seed(0)
    params = params.map(lambda t: t + 0.1 * torch.randn(t.shape, dtype=t.dtype, generator=gen))
    dynamics = Dynamics(T, BETA, mask, normalisation)
    ps = forward_backward(task, params, weights, dynamics)
    n, dt, h = step_count(params), T / step_count(params), 1e-5
    s, tokens = task.x0.shape[:2]
    assert torch.allclose(  # P_L = Rᵀ(R X_L − y)
        ps.p[:, -1], (ps.states[:, -1] @ task.readout.T - task.targets) @ task.readout, atol=1e-15
    )
    worst = 0.0
    for j in range(n + 1):
        rest = slice_steps(params, j)

        def j_of(x, rest=rest, j=j):
            with torch.no_grad():
                return loss(
                    layers(x, rest, weights[j:], dynamics, dt)[-1],
                    task.readout,
                    task.targets,
                ).item()

        fd = torch.zeros_like(task.x0)
        for idx in np.ndindex(*task.x0.shape):
            e = torch.zeros_like(task.x0)
            e[idx] = h
            xj = ps.states[:, j]
            fd[idx] = (j_of(xj + e) - j_of(xj - e)) / (2 * h)
        worst = max(worst, rel_err(s * tokens * fd, ps.p[:, j]))
    print(f"P vs FD ({mask}, {normalisation}): worst relative error {worst:.2e}")
    assert worst < 1e-7


@pytest.mark.parametrize(("mask", "normalisation"), SETTINGS)
def test_parameter_gradients_match_finite_differences(mask, normalisation):
    """∂J/∂θ_{ℓr} for every entry of Q, K, V, including groups with no head (gradient 0)."""
    task = make_task(mask, normalisation)
    counts = atom_counts(head_atoms(1, 3, 2, M, seed=4), M)[0]  # H = 2 < M: unused groups
    assert torch.any(counts == 0)
    params, weights = discrete_start(ATOMS, counts)
    dynamics = Dynamics(T, BETA, mask, normalisation)
    ps = forward_backward(task, params, weights, dynamics)
    h = 1e-5

    def j_of(p):
        x = forward(task.x0, p, weights, dynamics)[:, -1]
        return loss(x, task.readout, task.targets).item()

    worst = 0.0
    for which, dj in enumerate(ps.dj.tensors()):
        fd = torch.zeros_like(dj)
        for idx in np.ndindex(*dj.shape):
            plus, minus = list(params.tensors()), list(params.tensors())
            e = torch.zeros_like(dj)
            e[idx] = h
            plus[which], minus[which] = plus[which] + e, minus[which] - e
            fd[idx] = (j_of(Head(*plus)) - j_of(Head(*minus))) / (2 * h)
        worst = max(worst, rel_err(fd, dj))
        unused = (counts == 0)[..., None, None].expand_as(dj)
        assert torch.all(dj[unused] == 0) and torch.all(fd[unused] == 0)
    print(f"dJ/dtheta vs FD ({mask}, {normalisation}): worst relative error {worst:.2e}")
    assert worst < 1e-7


def atoms_of(r):
    """Fresh leaves [Q, K, V] of atom r."""
    return [t[r].clone().requires_grad_(True) for t in (ATOMS.q, ATOMS.k, ATOMS.v)]


def train_per_head(task, assignment, mask, normalisation, opt, steps):
    """Plain reference: every head its own θ_{ℓh}, g_{ℓh} = (L H / T) ∂J/∂θ_{ℓh}, per-head AdamW
    (``torch.optim.AdamW`` for the standard variant). Returns J^k and θ^k (L, H, 3, d, d)."""
    n_layers, heads = assignment.shape
    dt = T / n_layers
    theta = [
        [atoms_of(int(r)) for r in row]  # [Q, K, V] leaves
        for row in assignment
    ]
    flat = [t for row in theta for head in row for t in head]
    if opt.variant == "standard":
        torch_opt = torch.optim.AdamW(
            flat,
            lr=opt.lr,
            betas=(opt.beta1, opt.beta2),
            eps=opt.eps,
            weight_decay=opt.weight_decay,
            foreach=False,
        )
    else:
        states = [init_state(t, opt) for t in flat]
    losses, thetas = [], []
    for k in range(steps + 1):
        x = task.x0
        for ell in range(n_layers):
            total = torch.zeros_like(x)
            for q, kk, v in theta[ell]:
                total = total + attention(x, q.T @ kk, v, BETA, mask)
            x = project(x + dt * total / heads, normalisation)
        j = loss(x, task.readout, task.targets)
        grads = torch.autograd.grad(j, flat)
        losses.append(j.detach())
        thetas.append(torch.stack([torch.stack([torch.stack(hd) for hd in row]) for row in theta]))
        if k == steps:
            break
        g = [(n_layers * heads / T) * gr for gr in grads]
        with torch.no_grad():
            if opt.variant == "standard":
                for t, gi in zip(flat, g, strict=True):
                    t.grad = gi
                torch_opt.step()
            else:
                for i, (t, gi) in enumerate(zip(flat, g, strict=True)):
                    new, states[i] = adamw_step(t.detach(), gi, states[i], opt)
                    t.copy_(new)
    return torch.stack(losses), torch.stack(thetas).detach()


@pytest.mark.parametrize("variant", ["standard", "blockwise"])
@pytest.mark.parametrize(("mask", "normalisation"), SETTINGS)
def test_grouped_training_equals_per_head_training(variant, mask, normalisation):
    """Grouping heads by (layer, atom) is exact under AdamW training (K = 3 steps)."""
    task = make_task(mask, normalisation)
    assignment = head_atoms(1, 4, 5, M, seed=6)[0]  # L = 4, H = 5
    counts = atom_counts(assignment[None], M)[0]
    assert torch.any(counts == 0) and torch.any(counts > 1)
    opt = AdamW(lr=0.05, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.1, variant=variant)
    params, weights = discrete_start(ATOMS, counts)
    tr = train(task, params, weights, Dynamics(T, BETA, mask, normalisation), opt, steps=3)
    ref_loss, ref_theta = train_per_head(task, assignment, mask, normalisation, opt, steps=3)
    grouped = torch.stack(tr.params.tensors(), dim=-3)  # (K+1, L, M, 3, d, d)
    layer_index = np.arange(assignment.shape[0])[:, None]
    picked = grouped[:, layer_index, assignment]  # (K+1, L, H, 3, d, d)
    gap = torch.max(torch.abs(picked - ref_theta)).item()
    moved = torch.max(torch.abs(ref_theta[-1] - ref_theta[0])).item()
    print(f"grouped vs per-head ({variant}, {mask}, {normalisation}): {gap:.1e}, moved {moved:.2f}")
    assert moved > 0.1  # training did move the heads
    assert gap < 1e-12
    assert torch.max(torch.abs(tr.loss - ref_loss)) < 1e-14
    unused = counts == 0  # groups with no head stay at their atom
    assert torch.equal(grouped[-1][unused], grouped[0][unused])


@pytest.mark.parametrize("variant", ["standard", "blockwise"])
def test_one_head_per_atom_equals_limit_on_the_layer_grid(variant):
    """H = M with every atom once per layer and L = n: discrete model and limit coincide exactly."""
    task = make_task("encoder", "sphere")
    opt = AdamW(lr=0.05, weight_decay=0.1, variant=variant)
    n = 6
    setting = (Dynamics(T, BETA, "encoder", "sphere"), opt)
    discrete = train(task, *discrete_start(ATOMS, torch.ones(n, M)), *setting, steps=3)
    limit = train(task, *limit_start(ATOMS, n), *setting, steps=3)
    for a, b in [
        (discrete.loss, limit.loss),
        (discrete.states, limit.states),
        (discrete.p, limit.p),
        *zip(discrete.params.tensors(), limit.params.tensors(), strict=True),
        *zip(discrete.g.tensors(), limit.g.tensors(), strict=True),
    ]:
        assert torch.equal(a, b)


def hand_adamw(theta, grads, lr, b1, b2, eps, wd, blockwise):
    """AdamW on a list of floats (one block), written out with Python floats."""
    m, v = [0.0] * len(theta), [0.0] * len(theta)
    theta = list(theta)
    for k, g in enumerate(grads, start=1):
        for i in range(len(theta)):
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            s = sum(gj * gj for gj in g) / len(g) if blockwise else g[i] * g[i]
            v[i] = b2 * v[i] + (1 - b2) * s
            m_hat, v_hat = m[i] / (1 - b1**k), v[i] / (1 - b2**k)
            theta[i] = (1 - lr * wd) * theta[i] - lr * m_hat / (math.sqrt(v_hat) + eps)
    return theta


@pytest.mark.parametrize("variant", ["standard", "blockwise"])
def test_adamw_matches_hand_computation(variant):
    theta0 = [1.0, -2.0, 0.5, 3.0]
    grads = [[0.1, -0.2, 0.3, 0.0], [-0.05, 0.4, 0.2, 0.1], [0.02, 0.02, -0.3, 0.05]]
    hp = {"lr": 0.1, "beta1": 0.8, "beta2": 0.95, "eps": 1e-3, "weight_decay": 0.5}
    opt = AdamW(**hp, variant=variant)
    theta = torch.tensor(theta0, dtype=torch.float64).reshape(2, 2)
    state = init_state(theta, opt)
    assert state.v.shape == ((2, 2) if variant == "standard" else (1, 1))
    for g in grads:
        grad = torch.tensor(g, dtype=torch.float64).reshape(2, 2)
        theta, state = adamw_step(theta, grad, state, opt)
    expect = hand_adamw(theta0, grads, 0.1, 0.8, 0.95, 1e-3, 0.5, variant == "blockwise")
    assert state.k == 3
    gap = torch.max(torch.abs(theta.reshape(-1) - torch.tensor(expect, dtype=torch.float64)))
    assert gap < 1e-15


def test_adamw_standard_matches_torch_and_blockwise_differs():
    gen = torch.Generator().manual_seed(0)
    theta0 = torch.randn(2, 3, 4, 4, dtype=torch.float64, generator=gen)
    grads = [torch.randn(2, 3, 4, 4, dtype=torch.float64, generator=gen) for _ in range(6)]
    hp = {"lr": 0.03, "beta1": 0.85, "beta2": 0.99, "eps": 1e-6, "weight_decay": 0.2}
    opt = AdamW(**hp)
    leaf = theta0.clone().requires_grad_(True)
    torch_opt = torch.optim.AdamW(
        [leaf], lr=0.03, betas=(0.85, 0.99), eps=1e-6, weight_decay=0.2, foreach=False
    )
    theta, state = theta0, init_state(theta0, opt)
    for g in grads:
        theta, state = adamw_step(theta, g, state, opt)
        leaf.grad = g
        torch_opt.step()
        assert torch.max(torch.abs(theta - leaf.detach())) < 1e-14
    block = AdamW(**hp, variant="blockwise")
    tb, sb = theta0, init_state(theta0, block)
    for g in grads:
        tb, sb = adamw_step(tb, g, sb, block)
    assert sb.v.shape == (2, 3, 1, 1)
    assert torch.max(torch.abs(tb - theta)) > 1e-3


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"lr": 0.0}, "lr"),
        ({"lr": 0.1, "beta1": 1.0}, "beta1"),
        ({"lr": 0.1, "beta2": -0.1}, "beta2"),
        ({"lr": 0.1, "eps": 0.0}, "eps"),
        ({"lr": 0.1, "weight_decay": -1.0}, "weight_decay"),
        ({"lr": 0.1, "variant": "adam"}, "variant"),
        ({"lr": 0.1, "block_ndim": 0}, "block_ndim"),
    ],
)
def test_adamw_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        AdamW(**kwargs)


def test_adamw_step_rejects_mismatched_shapes():
    opt = AdamW(lr=0.1)
    theta = torch.zeros(2, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="grad"):
        adamw_step(theta, torch.zeros(2, 3, dtype=torch.float64), init_state(theta, opt), opt)


def test_training_is_deterministic():
    opt = AdamW(lr=0.05, weight_decay=0.1, variant="blockwise")
    counts = atom_counts(head_atoms(2, 3, 4, M, seed=1), M)  # two seeds batched

    def run():
        task = make_task("causal", "sphere")
        dynamics = Dynamics(T, BETA, "causal", "sphere")
        return train(task, *discrete_start(ATOMS, counts), dynamics, opt, 2)

    a, b = run(), run()
    for x, y in [
        (a.loss, b.loss),
        (a.states, b.states),
        (a.p, b.p),
        *zip(a.params.tensors(), b.params.tensors(), strict=True),
    ]:
        assert torch.equal(x, y)


def test_normalisation_does_not_depend_on_s_or_n():
    """Repeating every input (S → 2S) and every token (N → 2N, encoder) leaves J, P and g."""
    task = make_task("encoder", "sphere")
    params, weights = limit_start(ATOMS, 4)
    dynamics = Dynamics(T, BETA, "encoder", "sphere")
    base = forward_backward(task, params, weights, dynamics)
    doubled = type(task)(
        x0=torch.cat([task.x0, task.x0], -2).repeat(2, 1, 1),
        readout=task.readout,
        targets=torch.cat([task.targets, task.targets], -2).repeat(2, 1, 1),
    )
    big = forward_backward(doubled, params, weights, dynamics)
    tokens = task.x0.shape[1]
    assert abs(big.loss - base.loss) < 1e-15
    assert rel_err(big.p[1, :, tokens:], base.p[1]) < 1e-12
    for a, b in zip(big.g.tensors(), base.g.tensors(), strict=True):
        assert rel_err(a, b) < 1e-12


def limit_run(n, variant, eps, steps=3, coarse=8):
    task = make_task("encoder", "sphere")
    opt = AdamW(lr=0.05, weight_decay=0.1, eps=eps, variant=variant)
    setting = (Dynamics(T, BETA, "encoder", "sphere"), opt)
    return train(task, *limit_start(ATOMS, n), *setting, steps, stride=n // coarse)


def limit_gap(a, b):
    """Max over k, times, tokens and entries of the gap in X, P and θ at the common times."""
    pairs = [(a.states, b.states), (a.p, b.p)]
    pairs += list(zip(a.params.tensors(), b.params.tensors(), strict=True))
    return max(torch.max(torch.abs(x - y)).item() for x, y in pairs)


@pytest.mark.parametrize(("variant", "eps"), [("standard", 1e-2), ("blockwise", 1e-8)])
def test_limit_converges_at_euler_rate(variant, eps):
    """The limit on grids of n, 2n, 4n steps: successive gaps halve (first order, Euler).

    The standard variant is run with ε comparable to the gradient entries: with ε → 0 its update
    m̂/(√v̂ + ε) tends to sign(g) entry by entry, which jumps where g_r(t) changes sign, so the
    parameter paths are no longer Lipschitz in t (the warning of docs/mathematics.md, ``adamw``).
    The block-wise update divides by a block norm and stays smooth for tiny ε.
    """
    runs = [limit_run(n, variant, eps) for n in (16, 32, 64)]
    gaps = [limit_gap(runs[0], runs[1]), limit_gap(runs[1], runs[2])]
    ratio = gaps[0] / gaps[1]
    print(f"limit Euler ({variant}, eps={eps}): gaps {gaps[0]:.2e} {gaps[1]:.2e} ratio {ratio:.3f}")
    assert 1.8 < ratio < 2.2


def test_limit_gradient_is_models_density():
    """g_r(t_j) = (n M/T) ∂J/∂θ_{jr} differs from the density of docs/mathematics.md
    (1/S)(1/N) Σ (∂_θ[P(xⁱ) A_θ(x)ⁱ])ᵀ pⁱ evaluated at (X_j, P_j) by O(Δ)."""
    task = make_task("encoder", "sphere")
    s, tokens = task.x0.shape[:2]
    gaps = []
    for n in (16, 32):
        params, weights = limit_start(ATOMS, n)
        ps = forward_backward(task, params, weights, Dynamics(T, BETA, "encoder", "sphere"))
        worst = 0.0
        for j in range(n):
            x, p = ps.states[:, j], ps.p[:, j]
            for r in range(M):
                q, k, v = (t[j, r].clone().requires_grad_(True) for t in params.tensors())
                field = tangent(x, attention(x, q.T @ k, v, BETA, "encoder"), "sphere")
                density = torch.autograd.grad((field * p).sum() / (s * tokens), [q, k, v])
                for a, b in zip(density, (ps.g.q[j, r], ps.g.k[j, r], ps.g.v[j, r]), strict=True):
                    worst = max(worst, torch.max(torch.abs(a - b)).item())
        gaps.append(worst)
    ratio = gaps[0] / gaps[1]
    print(f"density gap n=16: {gaps[0]:.2e}, n=32: {gaps[1]:.2e}, ratio {ratio:.2f}")
    assert 1.7 < ratio < 2.3


@pytest.mark.parametrize("segment", [2, 4, 8])
def test_checkpointed_pass_equals_the_plain_pass(segment):
    """forward_backward with segment s (forward without autograd, backward segment by segment)
    gives the plain pass's X and P at j = 0, s, …, n and its ∂J/∂θ at every step, bit for bit."""
    task = make_task("encoder", "sphere")
    params, weights = limit_start(ATOMS, 16)
    gen = torch.Generator().manual_seed(1)
    params = params.map(lambda t: t + 0.1 * torch.randn(t.shape, dtype=t.dtype, generator=gen))
    dynamics = Dynamics(T, BETA, "encoder", "sphere")
    plain = forward_backward(task, params, weights, dynamics)
    split = forward_backward(task, params, weights, dynamics, segment=segment)
    assert split.states.shape[-3] == 16 // segment + 1
    assert torch.equal(split.states, plain.states[..., ::segment, :, :])
    assert torch.equal(split.p, plain.p[..., ::segment, :, :])
    assert torch.equal(split.loss, plain.loss)
    for a, b in zip(split.dj.tensors(), plain.dj.tensors(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="segment"):
        forward_backward(task, params, weights, dynamics, segment=3)
