"""The discrete model, the attention and the limit solver of experiment ``heads``."""

import numpy as np
import pytest
import torch
from reference import simulate_per_head

from attnlimits.attention import attention, softmax_weights
from attnlimits.integrators import solve_fixed
from attnlimits.p1.discrete import simulate
from attnlimits.p1.dynamics import Dynamics
from attnlimits.p1.inputs import draw_inputs
from attnlimits.p1.law import atom_counts, draw_atoms, head_atoms
from attnlimits.p1.limit import limit_field, solve_limit, vector_field
from attnlimits.p1.limit_field import LimitField

ATOMS = draw_atoms(5, 4, 1.0, 1.0, seed=11)


@pytest.mark.parametrize("mask", ["encoder", "causal"])
@pytest.mark.parametrize("normalisation", ["sphere", "none"])
@pytest.mark.parametrize("beta", [1.0, 30.0])
def test_grouped_heads_equal_per_head_reference(mask, normalisation, beta):
    x0 = draw_inputs(3, 9, 4, normalisation, seed=5)
    assignment = head_atoms(seeds=3, layers=6, heads=7, atoms=5, seed=2)
    dynamics = Dynamics(1.0, beta, mask, normalisation)
    grouped = simulate(x0, ATOMS, atom_counts(assignment, 5), dynamics)
    plain = simulate_per_head(x0, ATOMS, assignment, 1.0, beta, mask, normalisation)
    assert grouped.shape == (3, 3, 7, 9, 4)
    assert torch.max(torch.abs(grouped - plain)) < 1e-12


def test_atom_counts_sum_to_heads_and_match_assignment():
    assignment = head_atoms(seeds=2, layers=5, heads=13, atoms=4, seed=0)
    counts = atom_counts(assignment, 4)
    assert torch.all(counts.sum(-1) == 13)
    assert counts[1, 3, 2] == np.sum(assignment[1, 3] == 2)


def test_softmax_is_finite_and_normalised_at_huge_beta():
    x = draw_inputs(1, 16, 3, "sphere", seed=1)[0]
    qk = torch.eye(3, dtype=torch.float64)
    for beta in [1e4, 1e6]:
        w = softmax_weights(beta * x @ qk @ x.T)
        assert torch.isfinite(w).all()
        assert torch.allclose(w.sum(-1), torch.ones(16, dtype=torch.float64))
    # at large beta, attention with Q=K=I on the sphere picks the token itself (hardmax)
    out = attention(x, qk, qk, 1e4, "encoder")
    assert torch.allclose(out, x, atol=1e-10)


def test_causal_mask_ignores_future_tokens():
    x = draw_inputs(1, 6, 3, "none", seed=3)[0]
    qk, v = ATOMS.qk[0][:3, :3], ATOMS.v[0][:3, :3]
    full = attention(x, qk, v, 2.0, "causal")
    x2 = x.clone()
    x2[4:] += 10.0  # change the future of token 3
    assert torch.allclose(attention(x2, qk, v, 2.0, "causal")[:4], full[:4], atol=0, rtol=0)
    assert torch.allclose(full[0], v @ x[0])  # token 0 attends only to itself


def test_sphere_normalisation_keeps_tokens_on_sphere():
    x0 = draw_inputs(2, 8, 4, "sphere", seed=4)
    counts = atom_counts(head_atoms(2, 5, 3, 5, 1), 5)
    x = simulate(x0, ATOMS, counts, Dynamics(2.0, 1.0, "encoder", "sphere"))
    assert torch.allclose(
        torch.linalg.vector_norm(x, dim=-1), torch.ones((), dtype=torch.float64), atol=1e-14
    )


def test_rk4_observed_order_is_four_and_halving_estimate_is_sound():
    x0 = draw_inputs(2, 6, 4, "sphere", seed=7)
    dynamics = Dynamics(1.0, 2.0, "encoder", "sphere")
    f = vector_field(ATOMS, dynamics)
    ref = solve_fixed(f, x0, 1.0, 1, 1024)[:, -1]
    errs = [
        torch.max(torch.abs(solve_fixed(f, x0, 1.0, 1, n)[:, -1] - ref)).item() for n in (8, 16, 32)
    ]
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(np.abs(orders - 4) < 0.3), orders
    sol = solve_limit(x0, ATOMS, dynamics, records=4, substeps=4)
    true_err = torch.linalg.vector_norm(sol.x[:, -1] - ref, dim=-1).amax(-1)
    # the halving gap over-estimates the fine solve's error, Richardson is close to it
    assert torch.all(sol.halving_gap[:, -1] > true_err)
    assert torch.allclose(sol.richardson_error[:, -1], true_err, rtol=0.2)


def test_discrete_model_converges_to_limit_at_first_order_with_many_heads():
    """With H → ∞ (counts exactly H/M per atom) the discrete model is the Euler-type scheme of the
    limit: its error must halve when L doubles."""
    x0 = draw_inputs(2, 7, 4, "sphere", seed=8)
    dynamics = Dynamics(1.0, 1.0, "causal", "sphere")
    sol = solve_limit(x0, ATOMS, dynamics, records=64, substeps=2)
    errs = []
    for layers in (16, 32, 64):
        counts = torch.full((1, layers, 5), 1.0)  # equal weight on every atom: the mean field
        x = simulate(x0, ATOMS, counts, dynamics)[0]
        errs.append(torch.max(torch.abs(x - sol.x[:, :: 64 // layers])).item())
    ratios = np.array(errs[:-1]) / np.array(errs[1:])
    assert np.all(np.abs(ratios - 2) < 0.15), ratios


@pytest.mark.parametrize("mask", ["encoder", "causal"])
@pytest.mark.parametrize("normalisation", ["sphere", "none"])
@pytest.mark.parametrize("beta", [1.0, 30.0, 1e4])
@pytest.mark.parametrize("block", [1, 3, 32])
def test_limit_field_equals_reference_field(mask, normalisation, beta, block):
    """The fast field of the limit solver (no max shift, exp2, triangular blocks) is the
    reference field at rounding level; at β = 10⁴ it falls back to the reference."""
    x = draw_inputs(3, 11, 4, normalisation, seed=6)
    dynamics = Dynamics(1.0, beta, mask, normalisation)
    ref = vector_field(ATOMS, dynamics)
    fast = LimitField(ATOMS.qk, ATOMS.v, beta, mask, normalisation, ref, block=block)
    for y in (x, 0.5 * x, x[0]):  # the buffers follow the shape; one input without batch axis
        want, got = ref(y), fast(y)
        assert got.shape == want.shape
        assert torch.max(torch.abs(got - want)) <= 1e-13 * max(1.0, beta) * want.abs().max()
    assert limit_field(ATOMS, dynamics)(x).shape == x.shape
