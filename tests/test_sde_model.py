"""The ``sde`` discrete model, its limit references and their couplings (docs/mathematics.md,
``sde``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attnlimits.sde.activations import get_activation, torch_activation
from attnlimits.sde.discrete import (
    brownian_normals,
    coarsen,
    simulate,
    simulate_depth,
    uniform_tokens,
)
from attnlimits.sde.dynamics import Attention, attention_drift
from attnlimits.sde.field import (
    CholeskyNoise,
    GaussianField,
    NoiseField,
    cholesky_factor,
    finite_width_covariance,
    finite_width_field,
    infinite_width_covariance,
    psd_sqrt,
    zonal_kernel,
)
from attnlimits.sde.kernel import kernel
from attnlimits.sde.limit import (
    euler_maruyama,
    pathwise_error,
    reference,
    reference_error_by_levels,
    rms,
)

N, D, R, L_FINE, T, BETA = 8, 3, 64, 256, 1.0, 1.0
SEED = 7


def slope(xs, ys) -> float:
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


@pytest.fixture(scope="module")
def relu_field() -> GaussianField:
    return GaussianField(zonal_kernel("relu", D, 0.0, 0.0))


@pytest.fixture(scope="module")
def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    seeds = range(R)
    return uniform_tokens(SEED, seeds, N, D), brownian_normals(SEED, seeds, L_FINE, N, D)


@pytest.fixture(scope="module")
def depth_runs(relu_field, inputs):
    """{sign: (reference path, {L: RMS error})} for the depth ladder L = 2..16."""
    x0, xi = inputs
    out = {}
    for sign in (1.0, 0.0):
        attn = Attention.identity(D, BETA, sign)
        ref = reference(x0, attn, T, relu_field, xi)
        errs = {
            L: rms(pathwise_error(simulate_depth(x0, attn, T, relu_field, xi, L), ref))
            for L in (2, 4, 8, 16)
        }
        out[sign] = (ref, errs)
    return out


# --------------------------------------------------------------------------- the kernel κ


@pytest.mark.parametrize("activation", ["silu", "sigmoid", "tanh"])
@pytest.mark.parametrize(("d", "sigma"), [(3, 0.0), (5, 0.1), (7, 1.2)])
def test_kernel_table_matches_quadrature(activation, d, sigma):
    kap = zonal_kernel(activation, d, sigma, sigma)
    assert kap.interpolation_error(points=257) <= 1e-10
    u = np.random.default_rng(0).uniform(-1.0, 1.0, 200)
    exact = kernel(u, activation, d, sigma, sigma, method="quadrature")
    approx = kap(torch.as_tensor(u)).numpy()
    np.testing.assert_allclose(approx, exact, rtol=0, atol=1e-10 * kap.kappa_1)


@pytest.mark.parametrize(("d", "sigma_u", "sigma_w"), [(3, 0.0, 0.0), (5, 0.3, 0.1)])
def test_relu_kernel_closed_form(d, sigma_u, sigma_w):
    kap = zonal_kernel("relu", d, sigma_u, sigma_w)
    u = np.linspace(-1.0, 1.0, 101)
    got = kap(torch.as_tensor(u)).numpy()
    for method in ("exact", "quadrature"):
        np.testing.assert_allclose(
            got, kernel(u, "relu", d, sigma_u, sigma_w, method=method), rtol=0, atol=1e-13
        )


def test_psd_sqrt():
    a = torch.as_tensor(np.random.default_rng(1).standard_normal((4, 6, 3)))
    c = a @ a.transpose(-1, -2)  # rank 3: eigenvalues 0 up to rounding
    s = psd_sqrt(c)
    torch.testing.assert_close(s, s.transpose(-1, -2), rtol=0, atol=0)
    torch.testing.assert_close(s @ s, c, rtol=0, atol=1e-12)
    assert torch.linalg.eigvalsh(s).min() > -1e-7


def test_cholesky_factor_is_a_factor_and_lower_triangular(relu_field):
    y = uniform_tokens(5, range(6), N, D)
    c = infinite_width_covariance(y, relu_field.kappa)
    f, fallbacks = cholesky_factor(c)
    assert fallbacks == 0
    torch.testing.assert_close(f @ f.transpose(-1, -2), c, rtol=0, atol=1e-13)
    assert torch.equal(f, f.tril()) and bool((f.diagonal(dim1=-2, dim2=-1) > 0).all())
    assert torch.equal(f, torch.linalg.cholesky(c))


def test_cholesky_factor_falls_back_to_the_symmetric_root_per_matrix():
    good = torch.tensor([[2.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 3.0]], dtype=torch.float64)
    a = torch.as_tensor(np.random.default_rng(2).standard_normal((3, 1)))
    singular = torch.diag(torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64))  # zero pivot
    indefinite = a @ a.T - 1e-9 * torch.eye(3, dtype=torch.float64)  # rounding-negative
    c = torch.stack([good, singular, good, indefinite])
    f, fallbacks = cholesky_factor(c)
    assert fallbacks == 2
    for k in (0, 2):  # the matrices Cholesky factors keep their Cholesky factor
        assert torch.equal(f[k], torch.linalg.cholesky(good))
    for k in (1, 3):  # the others take the symmetric root, exactly psd_sqrt's
        assert torch.equal(f[k], psd_sqrt(c[k]))
    torch.testing.assert_close(f[1] @ f[1].T, singular, rtol=0, atol=1e-15)

    # CholeskyNoise counts the fallbacks of every sample and uses F ξ
    class Fixed(NoiseField):
        def covariance(self, y, layer):
            return c

    noise = CholeskyNoise(Fixed())
    xi = torch.as_tensor(np.random.default_rng(3).standard_normal((4, 3, 2)))
    for _ in range(3):
        assert torch.equal(noise.sample(xi, 0, xi), f @ xi)
    assert noise.fallbacks == 6


def test_cholesky_noise_has_the_law_of_the_field(relu_field):
    """F ξ with F = chol(K) and S ξ with S = K^{1/2}: the same covariance K ⊗ I_d."""
    y = uniform_tokens(1, [0], N, D)[0]
    xi = torch.as_tensor(np.random.default_rng(4).standard_normal((20000, N, D)))
    ys = y.expand(xi.shape[0], N, D)
    k = infinite_width_covariance(y, relu_field.kappa)
    for field in (relu_field, CholeskyNoise(relu_field)):
        g = field.sample(ys, 0, xi)
        emp = torch.einsum("rik,rjk->ij", g, g) / (xi.shape[0] * D)
        assert float((emp - k).abs().max()) < 0.03 * float(k.abs().max())


def test_identity_head_drift_is_the_general_attention_bit_for_bit():
    x = uniform_tokens(9, range(5), N, D)
    for beta in (1.0, 2.5):
        fast = Attention.identity(D, beta, -1.0)
        general = Attention(fast.head.map(lambda t: t.clone()), beta, -1.0)
        object.__setattr__(general, "identity_head", False)  # force the general path
        assert fast.identity_head
        assert torch.equal(attention_drift(x, fast), attention_drift(x, general))
    other = Attention(fast.head.map(lambda t: 2 * t), 1.0, 1.0)
    assert not other.identity_head


# --------------------------------------------------------------------------- finite width


def test_finite_width_covariance_formula_and_nesting():
    kap = zonal_kernel("silu", D, 0.3, 0.2)
    seeds = (0, 5)
    y = uniform_tokens(SEED, seeds, N, D)
    small, large = (
        finite_width_field(kap, 16, SEED, seeds),
        finite_width_field(kap, 64, SEED, seeds),
    )
    u, b = small.weights(3)
    u2, b2 = large.weights(3)
    torch.testing.assert_close(u, u2[:, :16], rtol=0, atol=0)  # widths are nested
    torch.testing.assert_close(b, b2[:, :16], rtol=0, atol=0)
    phi = get_activation("silu").phi
    a = phi(u.numpy() @ y.numpy().transpose(0, 2, 1) / math.sqrt(D) + b.numpy()[..., None])
    expected = a.transpose(0, 2, 1) @ a / 16 + 0.2**2
    np.testing.assert_allclose(small.covariance(y, 3).numpy(), expected, rtol=1e-13, atol=1e-15)


def test_finite_width_covariance_converges():
    """|C_m − K|_F / |K|_F decreases like m^(−1/2) (mean over seeds and layers)."""
    kap = zonal_kernel("relu", D, 0.2, 0.1)
    seeds = range(16)
    y = uniform_tokens(SEED, seeds, N, D)
    k = infinite_width_covariance(y, kap)
    widths = (64, 256, 1024, 4096)
    errs = []
    for m in widths:
        f = finite_width_field(kap, m, SEED, seeds)
        rel = [torch.linalg.matrix_norm(f.covariance(y, layer) - k) for layer in range(4)]
        errs.append(float((torch.stack(rel) / torch.linalg.matrix_norm(k)).mean()))
    s = slope(widths, errs)
    print(f"covariance slope in m: {s:.3f}")
    assert -0.6 < s < -0.4


def test_width_coupling_pathwise_slope(relu_field, inputs):
    """Finite width m vs infinite width, same ξ, fixed L: RMS pathwise error ~ m^(−1/2)."""
    layers, reps = 8, 32
    x0 = inputs[0][:reps]
    xi = coarsen(inputs[1][:reps], layers)
    attn = Attention.identity(D, BETA, 1.0)
    inf = simulate(x0, attn, T / layers, relu_field, xi)
    widths = (16, 64, 256, 1024)
    errs = []
    for m in widths:
        fm = finite_width_field(relu_field.kappa, m, SEED, range(reps))
        errs.append(rms(pathwise_error(simulate(x0, attn, T / layers, fm, xi), inf)))
    s = slope(widths, errs)
    print(f"width: RMS errors {np.round(errs, 4)}, slope {s:.3f}")
    assert all(e1 < e0 for e0, e1 in zip(errs, errs[1:], strict=False))
    assert -0.8 < s < -0.3


# --------------------------------------------------------------------------- depth coupling


def test_coarsen_sums_and_is_standard_normal(inputs):
    xi = inputs[1]
    torch.testing.assert_close(coarsen(xi, L_FINE), xi, rtol=0, atol=0)
    c = coarsen(xi, 4)
    r = L_FINE // 4
    # sqrt(Δ) ξ_ℓ is the sum of the fine increments sqrt(h) ξ_fine[k] of layer ℓ
    fine_sums = math.sqrt(T / L_FINE) * xi.reshape(R, 4, r, N, D).sum(2)
    torch.testing.assert_close(math.sqrt(T / 4) * c, fine_sums, rtol=0, atol=1e-14)
    torch.testing.assert_close(coarsen(coarsen(xi, 16), 4), c, rtol=0, atol=1e-13)
    assert abs(float(c.mean())) < 5 / math.sqrt(c.numel())
    assert abs(float(c.var()) - 1.0) < 5 * math.sqrt(2 / c.numel())
    with pytest.raises(ValueError):
        coarsen(xi, 3)


def test_coupling_reproduces_reference_exactly(relu_field, inputs, depth_runs):
    x0, xi = inputs
    ref = depth_runs[1.0][0]
    attn = Attention.identity(D, BETA, 1.0)
    assert torch.equal(simulate_depth(x0, attn, T, relu_field, xi, L_FINE), ref)
    assert torch.equal(simulate(x0, attn, T / L_FINE, relu_field, coarsen(xi, L_FINE)), ref)
    assert pathwise_error(ref, ref).max() == 0.0


@pytest.mark.parametrize("sign", [1.0, 0.0])
def test_depth_slope(depth_runs, sign):
    errs = depth_runs[sign][1]
    s = slope(list(errs), list(errs.values()))
    print(f"depth (sign {sign:+}): RMS errors {np.round(list(errs.values()), 4)}, slope {s:.3f}")
    assert -0.7 < s < -0.3


def test_tokens_stay_on_sphere(relu_field, inputs, depth_runs):
    ref = depth_runs[1.0][0]
    assert float((torch.linalg.vector_norm(ref, dim=-1) - 1).abs().max()) < 1e-14
    fm = finite_width_field(relu_field.kappa, 32, SEED, range(4))
    x = simulate(inputs[0][:4], Attention.identity(D, BETA, 1.0), 0.1, fm, inputs[1][:4, :10])
    assert float((torch.linalg.vector_norm(x, dim=-1) - 1).abs().max()) < 1e-14


# --------------------------------------------------------------------------- the Itô SDE


def test_ito_correction_keeps_tokens_on_sphere(relu_field, inputs):
    """Unprojected Euler–Maruyama: E|X_t|² − 1 = O(h) with the Itô term, (d−1)κ(1)t without."""
    x0, xi = inputs
    attn = Attention.identity(D, BETA, 1.0)
    drift = (D - 1) * relu_field.kappa.kappa_1 * T  # E|X_T|² − 1 without the correction
    xi64 = coarsen(xi, 64)
    with_ito = (euler_maruyama(x0, attn, T, relu_field, xi64) ** 2).sum(-1).mean((0, 2)) - 1
    without = (euler_maruyama(x0, attn, T, relu_field, xi64, ito=False) ** 2).sum(-1).mean((0, 2))
    print(f"max_t |E|X_t|²−1|: {float(with_ito.abs().max()):.2e} (Itô), drift {drift:.3f}")
    assert float(with_ito.abs().max()) < 0.03 * drift
    assert float(without[-1] - 1) == pytest.approx(drift, rel=0.05)


def test_euler_maruyama_agrees_with_projected_reference(relu_field, inputs):
    """The two references (projected, unprojected Itô) converge to each other as h → 0."""
    x0, xi = inputs
    attn = Attention.identity(D, BETA, 1.0)
    steps = (16, 64, 256)
    diffs = [
        rms(
            pathwise_error(
                euler_maruyama(x0, attn, T, relu_field, coarsen(xi, n)),
                simulate_depth(x0, attn, T, relu_field, xi, n),
            )
        )
        for n in steps
    ]
    s = slope(steps, diffs)
    print(f"EM vs projected: {np.round(diffs, 4)}, slope {s:.3f}")
    assert -0.8 < s < -0.3


# --------------------------------------------------------------------------- reference error


def test_reference_error_by_levels(relu_field, inputs, depth_runs):
    x0, xi = inputs
    attn = Attention.identity(D, BETA, 1.0)
    ref, errs = depth_runs[1.0]
    lev = reference_error_by_levels(x0, attn, T, relu_field, xi, 3, reference_path=ref)
    assert lev.levels == (256, 128, 64, 32)
    print(
        f"level differences {np.round(lev.rms, 4)}, ratios {np.round(lev.ratios, 3)}, "
        f"reference error {lev.reference_error:.4f} "
        f"(orthogonal {lev.reference_error_orthogonal:.4f}), "
        f"coarse errors {np.round(list(errs.values()), 4)}"
    )
    # successive differences shrink by ≈ sqrt(2) per halving of the step (strong order 1/2)
    assert all(1.2 < q < 1.7 for q in lev.ratios)
    # the estimate bounds the true error: take L = 64 as a "reference", 256 as the truth
    small = reference_error_by_levels(x0, attn, T, relu_field, coarsen(xi, 64), 2)
    actual = rms(pathwise_error(simulate_depth(x0, attn, T, relu_field, xi, 64), ref))
    assert 0.7 * small.reference_error_orthogonal < actual < small.reference_error
    # against the coarsest level of the ladder: ≥ 10× (orthogonal estimate), ≥ 3× (triangle bound);
    # with order 1/2 the margin is ≈ sqrt(L_fine/L) (÷ 2.4 for the bound), so a 10× margin at the
    # finest L of a ladder needs L_fine ≳ 100 L (orthogonal) or ≳ 600 L (bound)
    assert lev.reference_error_orthogonal < errs[2] / 10
    assert lev.reference_error < errs[2] / 3


# --------------------------------------------------------------------------- determinism


def test_determinism_and_batch_independence():
    kap = zonal_kernel("tanh", D, 0.1, 0.1)
    attn = Attention.identity(D, BETA, 1.0)

    def run(seeds, m=None):
        x0 = uniform_tokens(3, seeds, N, D)
        xi = brownian_normals(3, seeds, 8, N, D)
        f = GaussianField(kap) if m is None else finite_width_field(kap, m, 3, seeds)
        return simulate(x0, attn, 0.125, f, xi)

    for m in (None, 64):
        a, b = run((0, 1, 2), m), run((0, 1, 2), m)
        assert torch.equal(a, b)
        torch.testing.assert_close(run((1,), m)[0], a[1], rtol=0, atol=1e-13)
        assert not torch.allclose(a[0], a[1])
    torch.testing.assert_close(
        finite_width_covariance(
            torch.eye(D, dtype=torch.float64)[None],
            torch.zeros(1, 4, D, dtype=torch.float64),
            torch.zeros(1, 4, dtype=torch.float64),
            0.5,
            torch_activation("sigmoid"),
        ),
        torch.full((1, D, D), 0.25 + 0.25, dtype=torch.float64),
    )
