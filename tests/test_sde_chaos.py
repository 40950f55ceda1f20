"""Random-feature noise field and propagation of chaos (docs/mathematics.md, ``sde``, predictions:
tokens)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from attnlimits.sde.chaos import (
    chaos_rates,
    halved_reference,
    halving_reference_error,
    reference_floor,
    simulate_particles,
    sup_w2_squared,
    uniform_sphere,
    w2_squared,
    w2_squared_path,
)
from attnlimits.sde.dynamics import Attention
from attnlimits.sde.features import (
    coarsen_coefficients,
    draw_coefficients,
    draw_features,
    feature_covariance,
    feature_kernel,
    field_increment,
    pairs_at,
    truncation_error,
)
from attnlimits.sde.kernel import kernel

# --------------------------------------------------------------------------- features


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_feature_kernel_converges_to_kappa(activation):
    d, su, sw = 5, 0.3, 0.2
    us = np.linspace(-1.0, 1.0, 5)
    errs = []
    for P in (64, 256, 1024, 4096):
        f = draw_features(P, d, su, ("conv", P), replicas=4)
        errs.append(truncation_error(f, activation, d, su, sw, us, pairs=64).summary()["rms_mean"])
    errs = np.array(errs)
    # ~ P^(−1/2): a factor 8 from 64 to 4096; demand at least 4 and a decreasing trend
    assert errs[-1] < errs[0] / 4, errs
    slope = np.polyfit(np.log([64, 256, 1024, 4096]), np.log(errs), 1)[0]
    assert -0.75 < slope < -0.3, (slope, errs)


def test_truncation_error_reports_kappa():
    f = draw_features(16, 4, 0.0, 1)
    te = truncation_error(f, "relu", 4, 0.0, 0.1, [0.0, 1.0], pairs=8)
    np.testing.assert_allclose(te.kappa, kernel(np.array([0.0, 1.0]), "relu", 4, 0.0, 0.1))
    assert te.kappa_one == pytest.approx(1.0 / 8 + 0.01)
    assert set(te.summary()) >= {"rms_mean", "max_abs_max_rel", "zonal_max"}
    with pytest.raises(ValueError):
        truncation_error(f, "relu", 5, 0.0, 0.1)


def test_pairs_have_the_requested_inner_product():
    x, y = pairs_at(-0.3, 6, 50, 7)
    torch.testing.assert_close((x * y).sum(-1), torch.full((50,), -0.3, dtype=torch.float64))
    torch.testing.assert_close(torch.linalg.vector_norm(y, dim=-1), torch.ones(50).double())


def test_field_increment_covariance():
    """E[G(xⁱ) G(xʲ)ᵀ | features] = κ_P(xⁱ, xʲ) I_d, Monte Carlo over the coefficients."""
    P, d, n, S, sw = 24, 3, 4, 40_000, 0.4
    f = draw_features(P, d, 0.5, 3)
    x = uniform_sphere(n, d, "cov-test")
    xi = draw_coefficients(P, d, S, 9)  # S independent layers, used as Monte Carlo draws
    g = field_increment(x, f, xi, "tanh", sw, dt=1.0)  # (S, n, d)
    flat = g.reshape(S, n * d)
    emp = flat.T @ flat / S  # (n d, n d)
    c = feature_covariance(x, f, "tanh", sw)
    expected = torch.kron(c, torch.eye(d, dtype=torch.float64))
    diag = expected.diagonal()
    se = torch.sqrt((diag[:, None] * diag[None, :] + expected**2) / S)
    z = (emp - expected) / se
    assert z.abs().max() < 5.0, z.abs().max()
    # the feature covariance agrees with the pairwise feature kernel
    torch.testing.assert_close(c.diagonal(), feature_kernel(x, x, f, "tanh", sw))


def test_field_increment_scaling_chunking_and_coarsening():
    P, d = 40, 4
    f = draw_features(P, d, 0.1, 0)
    x = uniform_sphere(50, d, "scale")
    xi = draw_coefficients(P, d, 6, 0)
    full = field_increment(x, f, xi[0], "silu", 0.3, dt=1.0)
    torch.testing.assert_close(field_increment(x, f, xi[0], "silu", 0.3, dt=0.25), 0.5 * full)
    chunked = field_increment(x, f, xi[0], "silu", 0.3, dt=1.0, max_elements=3 * P)
    torch.testing.assert_close(chunked, full)
    coarse = coarsen_coefficients(xi, 3)  # (2, P+1, d)
    dt = 0.1
    fine_sum = sum(field_increment(x, f, xi[j], "silu", 0.3, dt) for j in range(3))
    torch.testing.assert_close(field_increment(x, f, coarse[0], "silu", 0.3, 3 * dt), fine_sum)
    with pytest.raises(ValueError):
        coarsen_coefficients(xi, 4)


def test_streams_do_not_depend_on_batch_size():
    a = draw_features(8, 3, 0.2, 5, replicas=2)
    b = draw_features(8, 3, 0.2, 5, replicas=5)
    torch.testing.assert_close(a.u, b.u[:2])
    torch.testing.assert_close(a.b, b.b[:2])
    c4 = draw_coefficients(8, 3, 4, 1)
    c9 = draw_coefficients(8, 3, 9, 1)
    torch.testing.assert_close(c4, c9[:4])
    assert not torch.equal(b.u[0], b.u[1])


# --------------------------------------------------------------------------- W2


def test_w2_matches_assignment_for_equal_sizes():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((30, 3)), rng.standard_normal((30, 3))
    cost = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    brute = cost[rows, cols].mean()
    assert w2_squared(x, y) == pytest.approx(brute, rel=1e-12)
    assert w2_squared(y, x) == pytest.approx(brute, rel=1e-12)
    assert w2_squared(x, x) == pytest.approx(0.0, abs=1e-14)
    # unequal sizes: a cloud against itself repeated twice is the same measure
    assert w2_squared(torch.from_numpy(x), torch.from_numpy(np.vstack([x, x]))) < 1e-14
    # one point against a cloud: the mean squared distance
    assert w2_squared(x[:1], y) == pytest.approx(((y - x[0]) ** 2).sum(-1).mean(), rel=1e-12)


def test_w2_path_and_sup_shapes():
    a = uniform_sphere(2 * 3 * 10, 3, "a").reshape(2, 3, 10, 3)
    b = uniform_sphere(2 * 3 * 25, 3, "b").reshape(2, 3, 25, 3)
    path = w2_squared_path(a, b)
    assert path.shape == (2, 3)
    np.testing.assert_allclose(sup_w2_squared(a, b), path.max(-1))
    np.testing.assert_allclose(sup_w2_squared(a, b, layers=[0]), path[:, 0])
    np.testing.assert_allclose(reference_floor(a, a), 0.0, atol=1e-14)


def test_halved_reference_is_the_first_half_of_the_reference():
    traj = uniform_sphere(2 * 3 * 11, 3, "halve").reshape(2, 3, 11, 3)  # (replica, T, n_ref, d)
    half = halved_reference(traj)
    assert half.shape == (2, 3, 5, 3)
    torch.testing.assert_close(half, traj[..., :5, :], rtol=0, atol=0)
    assert half.data_ptr() == traj.data_ptr()  # a view of the same tokens, not a new system
    with pytest.raises(ValueError):
        halved_reference(traj[..., :1, :])


def test_halving_reference_error_is_the_absolute_difference():
    full = np.array([[0.6, 0.4], [0.5, 0.3]])
    half = np.array([[0.61, 0.38], [0.5, 0.33]])
    np.testing.assert_allclose(halving_reference_error(full, half), [[0.01, 0.02], [0.0, 0.03]])


# --------------------------------------------------------------------------- particles


def _system(d=3, n=20, L=6, P=32, seed=0, act="relu", sign=1.0):
    f = draw_features(P, d, 0.1, seed, replicas=2)
    xi = draw_coefficients(P, d, L, seed, replicas=2)
    x0 = torch.stack([uniform_sphere(n, d, seed, r) for r in range(2)])
    attn = Attention.identity(d, beta=2.0, sign=sign)
    return simulate_particles(x0, attn, 1.0 / L, L, f, xi, act, 0.2)


def test_tokens_stay_on_the_sphere_and_runs_are_deterministic():
    traj = _system()
    assert traj.shape == (2, 7, 20, 3)
    norms = torch.linalg.vector_norm(traj, dim=-1)
    torch.testing.assert_close(norms, torch.ones_like(norms))
    torch.testing.assert_close(_system(), traj, rtol=0, atol=0)
    assert not torch.equal(_system(seed=1), traj)
    assert not torch.equal(traj[:, 0], traj[:, -1])


def test_record_every_and_no_mlp():
    d, L, P = 3, 6, 8
    f = draw_features(P, d, 0.0, 0)
    xi = draw_coefficients(P, d, L, 0)
    x0 = uniform_sphere(10, d, "rec")
    attn = Attention.identity(d, beta=1.0, sign=1.0)
    full = simulate_particles(x0, attn, 0.1, L, f, xi, "tanh", 0.0)
    every = simulate_particles(x0, attn, 0.1, L, f, xi, "tanh", 0.0, record_every=3)
    torch.testing.assert_close(every, full[[0, 3, 6]])
    still = simulate_particles(x0, Attention.identity(d, 1.0, 0.0), 0.1, L, f, xi, "none", 0.0)
    torch.testing.assert_close(still[-1], x0)
    with pytest.raises(ValueError):
        simulate_particles(x0, attn, 0.1, L, f, xi[:3], "tanh", 0.0)


def test_same_field_drives_both_systems():
    """A subset of the tokens follows the same path in the small and the large system when there
    is no interaction (s = 0): the noise field is evaluated pointwise, shared by both."""
    d, L, P = 4, 5, 16
    f = draw_features(P, d, 0.2, 2)
    xi = draw_coefficients(P, d, L, 2)
    x0 = uniform_sphere(40, d, "shared")
    attn = Attention.identity(d, beta=1.0, sign=0.0)
    big = simulate_particles(x0, attn, 0.2, L, f, xi, "relu", 0.1)
    small = simulate_particles(x0[:7], attn, 0.2, L, f, xi, "relu", 0.1)
    torch.testing.assert_close(small, big[:, :7])


def test_chaos_rates():
    n = np.array([16.0, 256.0])
    r3 = chaos_rates(n, 3)
    assert r3["ambient"]["k"] == 3 and r3["intrinsic"]["k"] == 2
    assert r3["ambient"]["exponent"] == r3["intrinsic"]["exponent"] == -0.5
    np.testing.assert_allclose(r3["ambient"]["r"], n**-0.5)
    r5 = chaos_rates(n, 5)
    assert r5["ambient"]["exponent"] == pytest.approx(-0.4)
    np.testing.assert_allclose(r5["ambient"]["r"], n**-0.4)
    np.testing.assert_allclose(r5["intrinsic"]["r"], n**-0.5 * np.log1p(n))
    # the log at k = 4 flattens the local slope: d log r / d log N
    h = 1e-6
    num = (
        math.log(math.log1p(16 * (1 + h)) * (16 * (1 + h)) ** -0.5)
        - math.log(math.log1p(16) * 16**-0.5)
    ) / math.log1p(h)
    assert r5["intrinsic"]["local_slope"][0] == pytest.approx(num, rel=1e-4)
    assert chaos_rates(n, 9)["intrinsic"]["exponent"] == pytest.approx(-0.25)
