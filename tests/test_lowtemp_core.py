"""Numerical core of experiment ``lowtemp``: initial measures, softmax and hardmax means, flows."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attnlimits.head import Head
from attnlimits.lowtemp.flow import (
    hardmax_mean,
    mean_field,
    pushforward,
    rescale,
    softmax_mean,
    solve,
)
from attnlimits.lowtemp.measures import ball_lattice, disc_quadrature, initial_measure
from attnlimits.transport import w2_squared

EYE = torch.eye(2, dtype=torch.float64)
INF = float("inf")


def as_tensors(measure: tuple[np.ndarray, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    return tuple(torch.as_tensor(a) for a in measure)


def generic_head() -> Head:
    """Q = I + 0.3 A (A Gaussian), K = V = I: QᵀK positive definite, not symmetric."""
    a = torch.randn(2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    head = Head(EYE + 0.3 * a, EYE.clone(), EYE.clone())
    assert torch.linalg.eigvalsh(0.5 * (head.qk + head.qk.T)).min() > 0
    return head


def test_disc_quadrature_integrates_polynomials_exactly():
    """Uniform law on the unit disc: E x = 0, E x² = E y² = 1/4, E xy = 0, E r⁴ = 1/3, E r⁶ = 1/4
    (Gauss–Legendre in r² with 3 nodes is exact to degree 5 in r²)."""
    p, w = as_tensors(disc_quadrature(3, 16))
    assert p.shape == (48, 2) and w.sum().item() == pytest.approx(1.0, abs=1e-15)
    assert (w > 0).all() and (p.norm(dim=-1) < 1).all()
    x, y, r2 = p[:, 0], p[:, 1], (p**2).sum(-1)
    for value, expected in [
        (w @ x, 0.0), (w @ y, 0.0), (w @ x**2, 0.25), (w @ y**2, 0.25), (w @ (x * y), 0.0),
        (w @ r2**2, 1 / 3), (w @ r2**3, 1 / 4),
    ]:  # fmt: skip
        assert value.item() == pytest.approx(expected, abs=1e-14)


def test_ball_lattice_converges_to_the_uniform_ball():
    """E |x|² = d/(d+2) for the uniform ball; the midpoint lattice approaches it."""
    errors = []
    for n in (8, 16, 32):
        p, w = as_tensors(ball_lattice(n, 3))
        assert (p.norm(dim=-1) <= 1).all() and torch.allclose(w, w[0].expand_as(w))
        errors.append(abs((w @ (p**2).sum(-1)).item() - 3 / 5))
    assert errors[2] < errors[0] / 2 and errors[2] < 0.02


def test_initial_measure_rejects_bad_requests():
    with pytest.raises(ValueError, match="d = 2"):
        initial_measure("disc", 4, 3)
    with pytest.raises(ValueError, match="unknown initial measure"):
        initial_measure("square", 4, 2)


def test_softmax_mean_is_stable_and_matches_the_definition():
    p, w = as_tensors(disc_quadrature(3, 12))
    qk = generic_head().qk
    naive_logits = 0.7 * p @ qk @ p.T
    naive = (w * torch.exp(naive_logits)) @ p / (w * torch.exp(naive_logits)).sum(-1, keepdim=True)
    assert torch.allclose(softmax_mean(p, p, w, qk, 0.7), naive, rtol=1e-13, atol=1e-15)
    big = 100.0 * p  # |x| ~ e^{4.6}: logits ~ 1e4 · 1e4, far beyond exp's range
    m = softmax_mean(big, big, w, qk, 1e4)
    assert torch.isfinite(m).all()
    lo, hi = big.min(0).values, big.max(0).values  # a mean lies in the convex hull
    assert (m >= lo - 1e-9).all() and (m <= hi + 1e-9).all()


def test_softmax_mean_tends_to_the_hardmax_mean():
    x = torch.randn(20, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y, w = as_tensors(disc_quadrature(4, 16))
    qk = generic_head().qk
    hard = hardmax_mean(x, y, w, qk)
    gaps = [(softmax_mean(x, y, w, qk, b) - hard).abs().max().item() for b in (1e1, 1e2, 1e3, 1e4)]
    assert all(b < a for a, b in zip(gaps, gaps[1:], strict=False))
    assert gaps[-1] < 1e-6


def test_hardmax_ties_go_to_the_mass_weighted_barycentre_deterministically():
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.3, 0.3]], dtype=torch.float64)
    w = torch.tensor([0.1, 0.3, 0.4, 0.2], dtype=torch.float64)
    x = torch.tensor([[1.0, 1.0]], dtype=torch.float64)  # ⟨x, y⟩ = 1 for y = e1 and y = e2
    expected = (0.1 * y[0] + 0.3 * y[1]) / 0.4
    assert torch.allclose(hardmax_mean(x, y, w, EYE), expected[None], atol=1e-15)
    order = torch.tensor([3, 2, 1, 0])
    assert torch.equal(hardmax_mean(x, y[order], w[order], EYE), hardmax_mean(x, y, w, EYE))
    massless = w.clone()
    massless[0] = 0.0  # a point without mass never leads
    assert torch.equal(hardmax_mean(x, y, massless, EYE), y[1:2])


def test_hardmax_flow_converges_at_first_order_in_its_step():
    """Leaders switch along the flow (QᵀK not symmetric): RK4 on the piecewise-constant field is
    first order. Sup error against 1024 substeps, fitted slope in the number of substeps."""
    y, w = as_tensors(disc_quadrature(4, 16))
    head = generic_head()
    horizon, records = 2.0, 4
    times = torch.linspace(0, horizon, records + 1, dtype=torch.float64)

    def z(substeps: int) -> torch.Tensor:
        return rescale(solve(y, w, head, INF, "plain", horizon, records, substeps), times, head.v)

    ref = z(1024)
    steps = [4, 8, 16, 32, 64, 128]
    errors = [(z(s) - ref).norm(dim=-1).max().item() for s in steps]
    slope = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    print("hardmax step errors", [f"{e:.2e}" for e in errors], f"slope {slope:.2f}")
    assert -1.3 < slope < -0.7 and errors[-1] < errors[0] / 10


def test_hardmax_flow_reaches_the_pushforward_for_identity_weights():
    """Q = K = V = I: every token is pulled onto its leader, the outer-ring particle nearest in
    angle, which leads itself; in z the law tends to the push-forward of μ₀ like e^{−t}."""
    y, w = as_tensors(disc_quadrature(4, 16))
    head = Head.identity(2)
    times = torch.linspace(0, 8.0, 5, dtype=torch.float64)
    z = rescale(solve(y, w, head, INF, "plain", 8.0, 4, 16), times, head.v)
    target = pushforward(y, w, head, "plain")
    assert torch.allclose(target.norm(dim=-1), y.norm(dim=-1).max().expand(len(y)))
    dist = [math.sqrt(w2_squared(z[i], target, w, w)) for i in range(5)]
    print("W2 to the push-forward at t = 0, 2, 4, 6, 8:", [f"{d:.2e}" for d in dist])
    for a, b in zip(dist, dist[1:], strict=False):
        assert b == pytest.approx(a * math.exp(-2.0), rel=0.15)
    assert dist[-1] < 1e-3


def test_rescale_and_variants():
    x = torch.randn(3, 4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    times = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    z = rescale(x, times, EYE)
    assert torch.allclose(z, x * torch.exp(-times)[:, None, None], rtol=1e-14)
    y, w = as_tensors(disc_quadrature(2, 8))
    plain = mean_field(w, Head.identity(2), 5.0, "plain")(y)
    consensus = mean_field(w, Head.identity(2), 5.0, "consensus")(y)
    assert torch.allclose(consensus, plain - y, atol=1e-15)
    with pytest.raises(ValueError, match="variant"):
        mean_field(w, Head.identity(2), 5.0, "other")
    with pytest.raises(ValueError, match="beta"):
        mean_field(w, Head.identity(2), 0.0, "plain")


def test_softmax_mean_in_a_reused_buffer_is_bit_identical():
    """The flow writes its logits into one preallocated matrix: the same numbers as allocating
    it, and no state carried from one evaluation to the next."""
    p, w = as_tensors(disc_quadrature(3, 12))
    x, qk = 2.0 * p[:20], generic_head().qk
    buffer = torch.full((20, len(p)), float("nan"), dtype=torch.float64)
    expected = softmax_mean(x, p, w, qk, 5.0)
    assert torch.equal(softmax_mean(x, p, w, qk, 5.0, buffer=buffer), expected)
    field = mean_field(w, generic_head(), 5.0, "plain")
    first = field(p)
    field(3.0 * p)
    assert torch.equal(field(p), first)
    assert torch.equal(first, softmax_mean(p, p, w, qk, 5.0) @ generic_head().v.T)
