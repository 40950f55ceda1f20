"""The ``sde`` activations, kernel κ, its Monte Carlo check, the exponents λ₁, λ̄ and their table
(docs/mathematics.md, experiment ``sde``)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import erf

from attnlimits.sde import activations, kernel_monte_carlo
from attnlimits.sde.activations import ACTIVATIONS, register_activation, registered_activations
from attnlimits.sde.exponents import (
    coercivity_exponent,
    is_odd_field,
    lyapunov_exponent,
    relu_coercivity_exponent,
    relu_lyapunov_exponent,
    synchronization_holds,
)
from attnlimits.sde.exponents_table import TABLE_COLUMNS, exponents_table, write_exponents_table
from attnlimits.sde.kernel import (
    correlation,
    kappa_one,
    kappa_prime_one,
    kernel,
    relu_arccos_expectation,
)
from attnlimits.sde.kernel_monte_carlo import (
    CONTROL_DEGREE,
    monte_carlo_kernel,
    monte_carlo_kernels,
)

SMOOTH = ("silu", "sigmoid", "tanh")
U_GRID = np.linspace(-1.0, 1.0, 41)
# (d, σ_U, σ_W): no bias, the table's σ, large biases (s > 1), the smallest d
CASES = [(5, 0.0, 0.0), (64, 0.1, 0.1), (7, 1.2, 0.3), (2, 0.5, 0.0)]


@pytest.fixture
def registry_guard():
    """Undo any registration a test makes."""
    before = dict(activations._REGISTRY)
    yield
    activations._REGISTRY.clear()
    activations._REGISTRY.update(before)


# --------------------------------------------------------------------------- relu closed forms


@pytest.mark.parametrize(("d", "sigma_u", "sigma_w"), CASES)
def test_relu_quadrature_matches_closed_forms(d, sigma_u, sigma_w):
    q = dict(method="quadrature")
    exact = kernel(U_GRID, "relu", d, sigma_u, sigma_w, method="exact")
    np.testing.assert_allclose(kernel(U_GRID, "relu", d, sigma_u, sigma_w, **q), exact, atol=1e-10)
    s2 = 1.0 / d + sigma_u**2
    assert kappa_one("relu", d, sigma_u, sigma_w, **q) == pytest.approx(
        s2 / 2 + sigma_w**2, abs=1e-10
    )
    assert kappa_prime_one("relu", d, sigma_u, sigma_w, **q) == pytest.approx(
        1 / (2 * d), abs=1e-10
    )
    assert lyapunov_exponent("relu", d, sigma_u, sigma_w, **q) == pytest.approx(
        relu_lyapunov_exponent(d, sigma_u, sigma_w), abs=1e-10
    )
    assert coercivity_exponent("relu", d, sigma_u, sigma_w, **q) == pytest.approx(
        relu_coercivity_exponent(d, sigma_u, sigma_w), abs=1e-10
    )
    # the generic formulas on the exact κ(1), κ′(1) give the closed forms up to rounding
    assert lyapunov_exponent("relu", d, sigma_u, sigma_w, method="exact") == pytest.approx(
        relu_lyapunov_exponent(d, sigma_u, sigma_w), abs=1e-12
    )
    assert coercivity_exponent("relu", d, sigma_u, sigma_w, method="exact") == pytest.approx(
        relu_coercivity_exponent(d, sigma_u, sigma_w), abs=1e-12
    )


def test_relu_arccos_kernel_known_values():
    # ρ = 1: E[relu(sZ)²] = s²/2; ρ = 0: (E relu(sZ))² = s²/(2π); ρ = −1: 0
    s = 0.7
    np.testing.assert_allclose(
        relu_arccos_expectation(np.array([1.0, 0.0, -1.0]), s),
        [s * s / 2, s * s / (2 * math.pi), 0.0],
        atol=1e-15,
    )


def test_gauss_hermite_is_slow_for_relu():
    # the reason for the split rule: plain Gauss–Hermite leaves ~1e-3 errors at relu's kink
    exact = kernel(U_GRID, "relu", 5, 0.0, 0.0, method="exact")
    err = np.abs(kernel(U_GRID, "relu", 5, 0.0, 0.0, method="hermite") - exact).max()
    assert 1e-5 < err < 1e-2


# --------------------------------------------------------------------------- quadrature accuracy


@pytest.mark.parametrize("activation", SMOOTH)
@pytest.mark.parametrize(("d", "sigma_u", "sigma_w"), CASES)
def test_split_rule_converged_and_matches_hermite(activation, d, sigma_u, sigma_w):
    split = kernel(U_GRID, activation, d, sigma_u, sigma_w, method="quadrature")
    fine = kernel(U_GRID, activation, d, sigma_u, sigma_w, method="split", order=160)
    np.testing.assert_allclose(split, fine, rtol=0, atol=1e-13)
    s = math.sqrt(1 / d + sigma_u**2)
    if s < 0.6:  # Gauss–Hermite (an independent rule) is converged here too
        herm = kernel(U_GRID, activation, d, sigma_u, sigma_w, method="hermite")
        np.testing.assert_allclose(split, herm, rtol=0, atol=1e-13)
    for f in (kappa_one, kappa_prime_one):
        assert f(activation, d, sigma_u, sigma_w) == pytest.approx(
            f(activation, d, sigma_u, sigma_w, method="split", order=160), abs=1e-13
        )


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize(("d", "sigma_u", "sigma_w"), CASES)
def test_kernel_at_one_is_kappa_one(activation, d, sigma_u, sigma_w):
    k1 = kappa_one(activation, d, sigma_u, sigma_w, method="quadrature")
    assert float(kernel(1.0, activation, d, sigma_u, sigma_w, method="quadrature")) == (
        pytest.approx(k1, abs=1e-13)
    )


def test_registered_erf_matches_its_closed_form(registry_guard):
    # E[erf(X) erf(Y)] = (2/π) arcsin(2c/(1 + 2s²)) for a centred pair with variances s², cov c
    register_activation("erf", erf, lambda x: 2 / math.sqrt(math.pi) * np.exp(-x * x))
    for d, sigma_u, sigma_w in CASES:
        s2 = 1 / d + sigma_u**2
        c = U_GRID / d + sigma_u**2
        want = 2 / math.pi * np.arcsin(2 * c / (1 + 2 * s2)) + sigma_w**2
        np.testing.assert_allclose(kernel(U_GRID, "erf", d, sigma_u, sigma_w), want, atol=1e-13)
        # κ′(1) = (1/d) E[φ′(sZ)²] = (1/d) (4/π) / sqrt(1 + 4s²)
        assert kappa_prime_one("erf", d, sigma_u, sigma_w) == pytest.approx(
            4 / math.pi / math.sqrt(1 + 4 * s2) / d, abs=1e-13
        )


@pytest.mark.parametrize("activation", SMOOTH)
@pytest.mark.parametrize(("d", "sigma_u", "sigma_w"), CASES)
def test_kappa_prime_one_matches_one_sided_finite_difference(activation, d, sigma_u, sigma_w):
    h = 1e-4
    k0, k1, k2 = kernel(np.array([1.0, 1.0 - h, 1.0 - 2 * h]), activation, d, sigma_u, sigma_w)
    fd = (3 * k0 - 4 * k1 + k2) / (2 * h)  # second order, one-sided
    kp = kappa_prime_one(activation, d, sigma_u, sigma_w)
    assert fd == pytest.approx(kp, rel=1e-6, abs=1e-10)


# --------------------------------------------------------------------------- kernel properties


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize(("d", "sigma_u", "sigma_w"), CASES)
def test_kernel_shape_properties(activation, d, sigma_u, sigma_w):
    k = kernel(U_GRID, activation, d, sigma_u, sigma_w)
    k1 = kappa_one(activation, d, sigma_u, sigma_w)
    # positive-definite kernel: |κ(u)| ≤ κ(1) (Cauchy–Schwarz, equal variances)
    assert np.all(np.abs(k) <= k1 + 1e-14)
    # Mehler: κ − σ_W² = Σ_k a_k² ρ^k, so κ is non-decreasing and convex where ρ(u) ≥ 0
    rho = correlation(U_GRID, d, sigma_u)
    pos = k[rho >= 0]
    assert np.all(np.diff(pos) >= -1e-14)
    assert np.all(np.diff(pos, 2) >= -1e-13)
    # monotone φ (φ′ ≥ 0): κ′(u) = (1/d) E[φ′(X) φ′(Y)] ≥ 0 on all of [−1, 1]
    if activation != "silu":
        assert np.all(np.diff(k) >= -1e-14)


def test_kernel_rejects_bad_input():
    with pytest.raises(ValueError):
        kernel(1.5, "tanh", 4, 0.0, 0.0)
    with pytest.raises(ValueError):
        kernel(0.5, "tanh", 4, 0.0, 0.0, method="exact")
    with pytest.raises(ValueError):
        kernel(0.5, "tanh", 4, -0.1, 0.0)
    with pytest.raises(KeyError):
        kernel(0.5, "gelu", 4, 0.0, 0.0)


# --------------------------------------------------------------------------- Monte Carlo


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize(("d", "sigma_u", "sigma_w"), [(6, 0.0, 0.0), (24, 0.3, 0.2)])
def test_kernel_matches_monte_carlo_of_the_field(activation, d, sigma_u, sigma_w):
    u = np.array([-0.5, 0.0, 0.5, 1.0])
    est, se = monte_carlo_kernel(u, activation, d, sigma_u, sigma_w, samples=60_000, seed=3)
    assert np.all(se > 0)
    k = kernel(u, activation, d, sigma_u, sigma_w)
    assert np.all(np.abs(est - k) <= 5 * se), (est - k) / se


def test_monte_carlo_is_seeded_and_its_error_shrinks():
    a = monte_carlo_kernel(0.5, "tanh", 8, 0.1, 0.1, samples=20_000, seed=1)
    b = monte_carlo_kernel(0.5, "tanh", 8, 0.1, 0.1, samples=20_000, seed=1)
    c = monte_carlo_kernel(0.5, "tanh", 8, 0.1, 0.1, samples=20_000, seed=2)
    big = monte_carlo_kernel(0.5, "tanh", 8, 0.1, 0.1, samples=80_000, seed=1)
    assert a == b
    assert a[0] != c[0]
    assert big[1] == pytest.approx(a[1] / 2, rel=0.1)


def test_monte_carlo_detects_a_wrong_scaling():
    # the test above can fail: a kernel with 1/d → 1/(2d) in s² is far outside 5 s.e.
    est, se = monte_carlo_kernel(1.0, "tanh", 6, 0.0, 0.0, samples=60_000, seed=3)
    wrong = kappa_one("tanh", 12, 0.0, 0.0)
    assert abs(est - wrong) > 20 * se


# U values near the degenerate ends: ρ = 1 − 1e-10 (one-variable controls), ρ = 0.999 (two)
U_MC = np.array([-0.7, -0.3, 0.5, 0.999, 1.0 - 1e-10, 1.0])
MC_CASES = [
    ("relu", 128, 0.0, 0.0),
    ("relu", 7, 0.3, 0.2),
    ("silu", 64, 0.1, 0.1),
    ("sigmoid", 5, 0.0, 0.0),
    ("tanh", 16, 0.5, 0.0),
]


def _mc_z_scores(activation, d, sigma_u, sigma_w, seeds, samples=25_000):
    """(estimate − quadrature)/se of ``monte_carlo_kernel`` at U_MC, one row per seed."""
    want = kernel(U_MC, activation, d, sigma_u, sigma_w)  # relu: the closed form
    rows = []
    for seed in seeds:
        est, se = monte_carlo_kernel(U_MC, activation, d, sigma_u, sigma_w, samples, seed)
        assert np.all(se > 0)
        rows.append((est - want) / se)
    return np.array(rows)


def _looks_unbiased(z):
    """Every z-score below 5 and their mean (4 seeds × 6 u, correlated across u) below 2."""
    return bool(np.all(np.abs(z) < 5) and abs(z.mean()) < 2.0)


@pytest.mark.parametrize(("activation", "d", "sigma_u", "sigma_w"), MC_CASES)
def test_controlled_monte_carlo_is_unbiased(activation, d, sigma_u, sigma_w):
    # small samples (degree-3 controls) against the quadrature (relu: the closed form)
    z = _mc_z_scores(activation, d, sigma_u, sigma_w, seeds=range(4))
    assert _looks_unbiased(z), z


@pytest.mark.parametrize(("activation", "d", "sigma_u", "sigma_w"), MC_CASES)
def test_controlled_monte_carlo_detects_wrong_control_means(
    monkeypatch, activation, d, sigma_u, sigma_w
):
    # the test above can fail: controls whose means are 0.01 instead of 0 bias the estimate
    right = kernel_monte_carlo._control_variates
    monkeypatch.setattr(
        kernel_monte_carlo,
        "_control_variates",
        lambda *args, **kw: np.add(right(*args, **kw), 0.01, out=kw.get("out")),
    )
    z = _mc_z_scores(activation, d, sigma_u, sigma_w, seeds=range(4))
    assert not _looks_unbiased(z), z


def test_controlled_monte_carlo_works_for_a_registered_activation(registry_guard):
    register_activation("erf", erf, lambda x: 2 / math.sqrt(math.pi) * np.exp(-x * x))
    d, sigma_u, sigma_w = 7, 0.3, 0.2
    mc = monte_carlo_kernels(U_MC.tolist(), ["erf"], d, [(sigma_u, sigma_w)], 25_000, 5)
    c = U_MC / d + sigma_u**2
    want = 2 / math.pi * np.arcsin(2 * c / (1 + 2 * (1 / d + sigma_u**2))) + sigma_w**2
    est, se, plain_se = mc.estimate[0, 0], mc.se[0, 0], mc.plain_se[0, 0]
    assert np.all(np.abs(est - want) < 5 * se), (est - want) / se
    assert np.all(se < plain_se / 2)


def test_control_variates_cut_the_standard_error_of_relu():
    # relu at d = 128 without biases, the worst rows of the table: same rows, degree-6 controls
    u = [0.5, 1.0]
    mc = monte_carlo_kernels(u, ["relu"], 128, [(0.0, 0.0)], 1_000_000, 0)
    assert mc.degree == CONTROL_DEGREE == 6
    exact = kernel(np.array(u), "relu", 128, 0.0, 0.0, method="exact")
    est, se = mc.estimate[0, 0], mc.se[0, 0]
    plain, plain_se = mc.plain_estimate[0, 0], mc.plain_se[0, 0]
    assert np.all(np.abs(est - exact) < 5 * se), (est - exact) / se
    assert np.all(np.abs(plain - exact) < 5 * plain_se), (plain - exact) / plain_se
    gain = plain_se / se
    assert gain[0] > 10 and gain[1] > 18, gain
    assert np.all(se / exact < 2e-4)  # relative; the default table's 2e6 rows halve the variance


def test_control_degree_grows_with_the_samples():
    samples = (4, 999, 1_000, 19_999, 20_000, 10**6)
    assert [kernel_monte_carlo._control_degree(n) for n in samples] == [0, 0, 1, 2, 3, 6]
    # plain Monte Carlo (degree 0) still estimates κ
    est, se = monte_carlo_kernel(0.5, "relu", 6, 0.0, 0.0, samples=600, seed=0)
    assert abs(est - kernel(0.5, "relu", 6, 0.0, 0.0)) < 5 * se


def test_controlled_monte_carlo_is_deterministic():
    args = (U_MC, "silu", 16, 0.1, 0.1)
    a = monte_carlo_kernel(*args, samples=30_000, seed=7)
    b = monte_carlo_kernel(*args, samples=30_000, seed=7)
    c = monte_carlo_kernel(*args, samples=30_000, seed=8)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert np.all(a[0] != c[0])
    first = exponents_table(dims=(6,), samples=30_000, seed=3)
    again = exponents_table(dims=(6,), samples=30_000, seed=3)
    pd.testing.assert_frame_equal(first, again, check_exact=True)


# ----------------------------------------------------------------------- oddness, synchronization


def test_oddness_rules():
    assert is_odd_field("tanh", 0.0, 0.0)
    assert not is_odd_field("tanh", 0.1, 0.0)
    assert not is_odd_field("tanh", 0.0, 0.1)
    for name in ("relu", "silu", "sigmoid"):
        assert not is_odd_field(name, 0.0, 0.0)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize(("sigma_u", "sigma_w"), [(0.0, 0.0), (0.2, 0.0), (0.0, 0.2)])
def test_oddness_agrees_with_the_kernel(activation, sigma_u, sigma_w):
    # G(−y) = −G(y) a.s. ⟺ E|G(y) + G(−y)|² = 2d (κ(1) + κ(−1)) = 0
    d = 6
    k1, km1 = kernel(np.array([1.0, -1.0]), activation, d, sigma_u, sigma_w)
    assert (abs(k1 + km1) < 1e-13) == is_odd_field(activation, sigma_u, sigma_w)


def test_synchronization_needs_negative_coercivity_and_no_odd_field():
    # tanh without biases: the field is odd, so no synchronization whatever λ̄ is
    assert not synchronization_holds("tanh", 128, 0.0, 0.0)
    # relu with biases at d = 64: λ̄ = 1/64 − 61·0.03/2 < 0 and relu is not odd
    assert synchronization_holds("relu", 64, 0.1, 0.1)
    # sigmoid (κ(1) ≈ 1/4 ≫ κ′(1)): λ̄ < 0 already without biases for d = 5
    assert coercivity_exponent("sigmoid", 5, 0.0, 0.0) < 0
    assert synchronization_holds("sigmoid", 5, 0.0, 0.0)


def test_relu_bias_condition_of_models_md():
    """docs/mathematics.md, ``sde``: relu without biases never has λ̄ < 0; d(σ_U² + 2σ_W²)(d−3) > 2
    makes it hold.

    Finding: exactly right. From κ(1) = 1/(2d) + σ_U²/2 + σ_W², κ′(1) = 1/(2d),
    λ̄ = 1/d − (d−3)(σ_U² + 2σ_W²)/2 = (2 − d(d−3)(σ_U² + 2σ_W²))/(2d), so λ̄ < 0 iff the stated
    condition holds (which needs d > 3); without biases λ̄ = 1/d > 0.
    """
    sigmas = [0.0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5]
    seen = set()
    for d in (2, 3, 4, 5, 6, 8, 16, 64, 128):
        assert coercivity_exponent("relu", d, 0.0, 0.0, method="quadrature") == pytest.approx(
            1 / d, abs=1e-12
        )
        for su in sigmas:
            for sw in sigmas:
                q = d * (d - 3) * (su**2 + 2 * sw**2)
                if abs(q - 2) < 1e-9:
                    continue
                lam_bar = coercivity_exponent("relu", d, su, sw, method="quadrature")
                assert (lam_bar < 0) == (q > 2), (d, su, sw, lam_bar)
                seen.add(q > 2)
    assert seen == {True, False}


# --------------------------------------------------------------------------- registry


def test_register_activation(registry_guard):
    entry = register_activation("linear", lambda x: x, np.ones_like)
    assert entry.odd
    assert "linear" in registered_activations()
    # φ(x) = x: κ(u) = c + σ_W² = u/d + σ_U² + σ_W², κ′(1) = 1/d
    np.testing.assert_allclose(
        kernel(U_GRID, "linear", 8, 0.2, 0.3), U_GRID / 8 + 0.04 + 0.09, atol=1e-14
    )
    assert kappa_prime_one("linear", 8, 0.2, 0.3) == pytest.approx(1 / 8, abs=1e-14)
    assert is_odd_field("linear", 0.0, 0.0)
    shifted = register_activation("shifted", lambda x: x + 1.0, np.ones_like)
    assert not shifted.odd
    with pytest.raises(ValueError):
        register_activation("linear", lambda x: x, np.ones_like)
    with pytest.raises(ValueError):
        register_activation("none", lambda x: x, np.ones_like)
    assert ACTIVATIONS == ("relu", "silu", "sigmoid", "tanh")


# --------------------------------------------------------------------------- the table


def test_exponents_table(tmp_path):
    df = exponents_table(dims=(5, 16), sigmas=(0.0, 0.1), samples=40_000, seed=0)
    assert list(df.columns) == list(TABLE_COLUMNS)
    assert len(df) == len(ACTIVATIONS) * 2 * 2
    relu = df[df.activation == "relu"]
    assert (relu.closed_abs_diff < 1e-10).all()
    np.testing.assert_allclose(relu.lambda_1, relu.lambda_1_closed, rtol=0, atol=1e-10)
    np.testing.assert_allclose(relu.lambda_bar, relu.lambda_bar_closed, rtol=0, atol=1e-10)
    assert df[df.activation != "relu"].lambda_1_closed.isna().all()
    assert (df.synchronization == ((df.lambda_bar < 0) & ~df.odd_field)).all()
    assert df.odd_field.sum() == 2  # tanh at σ = 0, both d
    for col in ("kappa_1", "kappa_half"):
        z = (df[f"{col}_mc"] - df[col]) / df[f"{col}_mc_se"]
        assert (z.abs() < 5).all(), z
        assert (df[f"{col}_mc_se"] < df[f"{col}_mc_se_plain"]).all()
        np.testing.assert_allclose(df[f"{col}_mc_rel_err"], (df[f"{col}_mc"] - df[col]) / df[col])
    csv, md, page = write_exponents_table(df, tmp_path)
    back = pd.read_csv(csv)
    np.testing.assert_array_equal(back.lambda_bar.to_numpy(), df.lambda_bar.to_numpy())
    assert md.read_text().startswith("| activation")
    assert (
        f"<p>{len(df)} rows</p>" in page.read_text() and "<th>activation</th>" in page.read_text()
    )
    assert exponents_table(dims=(5,), sigmas=(0.0,), samples=0).kappa_1_mc.isna().all()
