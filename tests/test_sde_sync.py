"""Synchronization tools of experiment ``sde``: interaction energy, two-point Lyapunov exponent."""

import math

import pytest
import torch

from attnlimits.geometry import project
from attnlimits.sde.exponents import coercivity_exponent, lyapunov_exponent
from attnlimits.sde.kernel import kappa_one, kappa_prime_one, kernel
from attnlimits.sde.sync import interaction_energy, two_point_noise, two_point_run
from attnlimits.seeding import normal


def test_energy_vanishes_only_on_a_single_cluster_and_matches_the_definition():
    x = project(normal((7, 4), 1), "sphere")
    beta = 3.0
    direct = sum(
        math.exp(beta) - math.exp(beta * float(x[i] @ x[j])) for i in range(7) for j in range(7)
    ) / (2 * 49)
    assert float(interaction_energy(x, beta)) == pytest.approx(direct * math.exp(-beta), rel=1e-12)
    cluster = x[:1].expand(5, 4)
    assert float(interaction_energy(cluster, beta)) == 0.0
    # accurate for tokens 1e-6 apart: E ≈ β |x − y|²/4 · (2/4) for two tokens (pairs i≠j)
    y = project(x[0] + 1e-6 * torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=torch.float64), "sphere")
    two = torch.stack([x[0], y])
    expected = beta * float((x[0] - y).square().sum()) / 2 * 2 / (2 * 4)
    assert float(interaction_energy(two, beta)) == pytest.approx(expected, rel=1e-5)
    assert float(interaction_energy(x, 1e4)) > 0  # finite at huge β


def test_two_point_noise_has_the_kernel_covariance():
    d, k1, kp = 5, kappa_one("tanh", 5, 0.1, 0.1), kappa_prime_one("tanh", 5, 0.1, 0.1)
    x = project(torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.0]], dtype=torch.float64), "sphere")
    y = project(torch.tensor([[1.0, 0.03, 0.0, 0.0, 0.0]], dtype=torch.float64), "sphere")
    xi = normal((200_000, 2, d), 5)
    gx, gy = two_point_noise(x, y, k1, kp, xi)
    u = float((x * y).sum())
    n = gx.numel()
    assert float((gx * gx).sum() / n) == pytest.approx(k1, rel=0.01)
    assert float((gy * gy).sum() / n) == pytest.approx(k1, rel=0.01)
    # the difference carries 2(κ(1) − κ(u)), which the linearisation gets to O((1 − u)²)
    diff = float(((gx - gy) ** 2).sum() / n)
    exact = 2 * (k1 - float(kernel(u, "tanh", d, 0.1, 0.1)))
    assert diff == pytest.approx(exact, rel=0.02)


@pytest.mark.parametrize(("activation", "d", "sigma"), [("sigmoid", 5, 0.0), ("relu", 5, 0.1)])
def test_two_point_rates_are_lambda_1_and_lambda_bar(activation, d, sigma):
    lam1 = lyapunov_exponent(activation, d, sigma, sigma)
    lam_bar = coercivity_exponent(activation, d, sigma, sigma)
    k1, kp = kappa_one(activation, d, sigma, sigma), kappa_prime_one(activation, d, sigma, sigma)
    run = two_point_run(d, k1, kp, dt=0.02, steps=1500, paths=64, seed=1)
    mean, se = run.lyapunov()
    assert abs(mean - lam1) < max(0.1 * abs(lam1), 4 * se), (mean, lam1)
    rate, se = run.second_moment_rate()
    assert abs(rate - lam_bar) < max(0.2 * abs(lam_bar), 4 * se), (rate, lam_bar)


def test_two_point_lyapunov_is_deterministic():
    a = two_point_run(3, 0.3, 0.1, 0.05, 50, 4, seed=2)
    b = two_point_run(3, 0.3, 0.1, 0.05, 50, 4, seed=2)
    assert torch.equal(a.log_ratios, b.log_ratios)


def test_energy_rate_bound_is_at_least_lambda_bar_and_f_tends_to_minus_lambda_bar():
    import numpy as np

    from attnlimits.sde.exponents import energy_rate_bound, energy_rate_function

    for act, d, s, beta in [
        ("sigmoid", 5, 0.0, 1.0),
        ("relu", 64, 0.1, 1.0),
        ("tanh", 5, 0.1, 4.0),
    ]:
        lam_bar = coercivity_exponent(act, d, s, s)
        k1 = kappa_one(act, d, s, s)
        bound = energy_rate_bound(
            lambda u, a=act, dd=d, ss=s: kernel(u, a, dd, ss, ss), k1, d, beta
        )
        assert bound >= lam_bar - 1e-6
        u = np.array([1 - 1e-5])
        f = energy_rate_function(u, kernel(u, act, d, s, s), k1, d, beta)
        assert f[0] == pytest.approx(-lam_bar, rel=1e-3, abs=1e-4)


def test_energy_curve_decays_at_lambda_bar_when_typical_and_mean_rates_agree():
    """relu, d = 64, σ = 0.1: 2λ₁ ≈ λ̄, so the mean over few paths already shows λ̄."""
    import numpy as np

    from attnlimits.analysis.fits import exponential_rate_fit
    from attnlimits.sde.discrete import uniform_tokens
    from attnlimits.sde.dynamics import Attention
    from attnlimits.sde.field import GaussianField, zonal_kernel
    from attnlimits.sde.sync import energy_curve

    d, s = 64, 0.1
    lam_bar = coercivity_exponent("relu", d, s, s)
    x0 = uniform_tokens(0, range(48), 6, d)
    dt = 0.02
    layers = int(8.0 / dt)
    field = GaussianField(zonal_kernel("relu", d, s, s))
    curve = energy_curve(
        x0, Attention.identity(d, 1.0, 0.0), field, dt, layers, seed=1, record_every=10
    )
    # the layers of ``simulate`` on the same normals, bit for bit
    from attnlimits.sde.discrete import simulate
    from attnlimits.sde.sync import interaction_energy

    xi = torch.stack([normal((48, 6, d), 1, "sde.sync", 6, d, k) for k in range(30)], 1)
    path = simulate(x0, Attention.identity(d, 1.0, 0.0), dt, field, xi)
    short = energy_curve(x0, Attention.identity(d, 1.0, 0.0), field, dt, 30, 1, record_every=10)
    expected = torch.stack([interaction_energy(path[:, k], 1.0) for k in (0, 10, 20, 30)], 1)
    np.testing.assert_array_equal(short.energy, expected.numpy())
    late = curve.t >= 3.0
    rng = np.random.default_rng(0)
    weights = np.vstack([np.full(48, 1 / 48), rng.multinomial(48, np.full(48, 1 / 48), 100) / 48])
    fit = exponential_rate_fit(curve.t[late], curve.replicates(weights)[:, late])
    assert abs(fit.slope - lam_bar) < 0.2 * abs(lam_bar), (fit.slope, lam_bar)


def test_coarse_two_point_run_takes_double_steps_on_the_summed_normals():
    from attnlimits.geometry import tangent

    d, k1, kp, dt, eps, seed = 4, 0.3, 0.1, 0.05, 1e-4, 3
    fine = two_point_run(d, k1, kp, dt, 7, 5, seed, eps)
    coarse = two_point_run(d, k1, kp, dt, 7, 5, seed, eps, coarsen=2)
    assert coarse.log_ratios.shape == (5, 3) and coarse.dt == 2 * dt
    assert torch.equal(two_point_run(d, k1, kp, dt, 7, 5, seed, eps, coarsen=1).log_ratios,
                       fine.log_ratios)  # fmt: skip
    # the coarse run's first layer, by hand: one step of 2Δ driven by (ξ₀ + ξ₁)/√2
    x = project(normal((5, d), seed, "sde.lyapunov.x", d), "sphere")
    v = tangent(x, normal((5, d), seed, "sde.lyapunov.v", d), "sphere")
    y = project(x + eps * v / torch.linalg.vector_norm(v, dim=-1, keepdim=True), "sphere")
    xi = normal((7, 5, 2, d), seed, "sde.lyapunov.xi", d, 0)
    gx, gy = two_point_noise(x, y, k1, kp, (xi[0] + xi[1]) / math.sqrt(2))
    x1 = project(x + math.sqrt(2 * dt) * gx, "sphere")
    y1 = project(y + math.sqrt(2 * dt) * gy, "sphere")
    expected = torch.log(torch.linalg.vector_norm(y1 - x1, dim=-1) / eps)
    torch.testing.assert_close(coarse.log_ratios[:, 0], expected, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="coarsen"):
        two_point_run(d, k1, kp, dt, 7, 5, seed, eps, coarsen=3)
