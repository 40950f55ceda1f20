"""Rate fits on synthetic data with known exponents, and against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from attnlimits.analysis import fits


def noisy_replicates(y, sigma, replicates, rng, exact_first=True):
    """(B+1, n): y times lognormal noise; replicate 0 exact (or noisy too)."""
    noise = np.exp(sigma * rng.standard_normal((replicates + 1, len(y))))
    if exact_first:
        noise[0] = 1.0
    return y * noise


def test_two_point_fit_by_hand():
    x = np.array([2.0, 8.0])
    y = np.array([[3.0, 0.75], [2.0, 1.0], [4.0, 0.25], [3.0, 3.0]])
    fit = fits.power_law_fit(x, y, level=0.5)
    assert fit.slope == pytest.approx(np.log(0.25) / np.log(4))
    assert fit.intercept == pytest.approx(np.log(3) - fit.slope * np.log(2))
    boot = np.log(y[1:, 1] / y[1:, 0]) / np.log(4)
    np.testing.assert_allclose(fit.boot_slopes[:, 0], boot, atol=1e-12)
    np.testing.assert_allclose(fit.ci[0], np.percentile(boot, [25, 75]))
    assert fit.n_points == 2


def test_weighted_least_squares_by_hand():
    rng = np.random.default_rng(0)
    x = np.array([1.0, 2.0, 4.0, 8.0])
    sig = np.array([0.1, 0.2, 0.05, 0.3])
    y = np.exp(rng.standard_normal(4)) * x**-0.7
    reps = np.vstack([y, y * np.exp(sig * rng.standard_normal((400, 4)))])
    fit = fits.power_law_fit(x, reps)
    w = 1 / np.var(np.log(reps[1:]), axis=0, ddof=1)
    A = np.column_stack([np.ones(4), np.log(x)])
    coef = np.linalg.solve(A.T @ (w[:, None] * A), A.T @ (w * np.log(y)))
    assert fit.intercept == pytest.approx(coef[0], rel=1e-10)
    assert fit.slope == pytest.approx(coef[1], rel=1e-10)
    np.testing.assert_allclose(fit.weights, w)


def test_recovers_known_exponent_and_ignores_noisy_outlier():
    rng = np.random.default_rng(1)
    x = np.geomspace(4, 256, 7)
    y = 2.0 * x**-1.0
    reps = noisy_replicates(y, 0.02, 300, rng)
    # The last point is off the line, but its replicates say it is very uncertain.
    reps[0, -1] *= 3.0
    reps[1:, -1] *= np.exp(2.0 * rng.standard_normal(300))
    fit = fits.power_law_fit(x, reps)
    assert fit.slope == pytest.approx(-1.0, abs=0.01)
    assert fit.ci_low < -1.0 < fit.ci_high
    unweighted = np.polyfit(np.log(x), np.log(reps[0]), 1)[0]
    assert abs(unweighted + 1.0) > 0.1
    lo, hi = fit.band(x)
    assert np.all(lo <= fit.predict(x)) and np.all(fit.predict(x) <= hi)
    np.testing.assert_allclose(fit.predict(x)[:-1], y[:-1], rtol=0.05)


def test_drops_nonpositive_and_excluded_points():
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    y = x**-0.5
    reps = np.vstack([y, y * 1.01, y * 0.99])
    reps[0, 1] = 0.0
    reps[0, 2] = np.nan
    fit = fits.power_law_fit(x, reps, exclude=np.array([0, 0, 0, 0, 1], bool))
    np.testing.assert_array_equal(fit.used, [True, False, False, True, False])
    assert fit.n_points == 2
    assert fit.slope == pytest.approx(-0.5)
    one = fits.power_law_fit(x, reps, exclude=np.array([1, 0, 0, 0, 1], bool))
    assert one.n_points == 1
    assert np.isnan(one.slope) and np.isnan(one.ci_low) and np.isnan(one.intercept)


def test_bootstrap_replicate_with_zero_refits_on_remaining_points():
    x = np.array([1.0, 2.0, 4.0])
    y = x**-1.0
    reps = np.vstack([y, y, y * [1.0, 1.0, 0.0]])
    fit = fits.power_law_fit(x, reps)
    np.testing.assert_allclose(fit.boot_slopes[:, 0], [-1.0, -1.0])


def test_multi_variable_fit_recovers_both_exponents():
    rng = np.random.default_rng(2)
    L, H = np.meshgrid([4.0, 8.0, 16.0, 32.0], [1.0, 4.0, 16.0], indexing="ij")
    x = np.column_stack([L.ravel(), H.ravel()])
    y = 0.5 * x[:, 0] ** -0.5 * x[:, 1] ** -0.25
    reps = noisy_replicates(y, 0.03, 200, rng, exact_first=False)
    fit = fits.power_law_fit_multi(x, reps)
    np.testing.assert_allclose(fit.slopes, [-0.5, -0.25], atol=0.03)
    assert fit.ci[0, 0] < -0.5 < fit.ci[0, 1]
    assert fit.ci[1, 0] < -0.25 < fit.ci[1, 1]
    assert fit.n_points == 12


def two_term_data(p, q, r, sigma=0.02, seed=3):
    rng = np.random.default_rng(seed)
    L, H = np.meshgrid([4.0, 8.0, 16.0, 32.0, 64.0], [1.0, 4.0, 16.0, 64.0], indexing="ij")
    L, H = L.ravel(), H.ravel()
    y = 0.8 * L**-p + 1.5 * L**-q * H**-r
    return L, H, noisy_replicates(y, sigma, 60, rng, exact_first=False)


def test_two_term_fixed_form_recovers_coefficients_and_is_preferred():
    L, H, reps = two_term_data(1.0, 0.5, 0.5)
    clt = fits.two_term_fit(L, H, reps, **fits.TWO_TERM_FORMS["clt"], replicates=30)
    bound = fits.two_term_fit(L, H, reps, **fits.TWO_TERM_FORMS["bound"], replicates=30)
    assert clt.params["a"] == pytest.approx(0.8, rel=0.05)
    assert clt.params["b"] == pytest.approx(1.5, rel=0.05)
    assert clt.ci["a"][0] < 0.8 < clt.ci["a"][1]
    assert clt.ci["q"] == (0.5, 0.5)
    assert clt.aic < bound.aic - 10
    assert clt.rms_log < 0.05 < bound.rms_log
    assert clt.n_params == 2


def test_two_term_free_exponents():
    L, H, reps = two_term_data(1.0, 1 / 3, 0.5, sigma=0.005)
    free = fits.two_term_fit(L, H, reps, free=fits.EXPONENTS, replicates=20)
    assert free.params["p"] == pytest.approx(1.0, abs=0.1)
    assert free.params["q"] == pytest.approx(1 / 3, abs=0.05)
    assert free.params["r"] == pytest.approx(0.5, abs=0.05)
    assert free.n_params == 5
    with pytest.raises(ValueError):
        fits.two_term_fit(L, H, reps, free=("s",))


def test_local_slopes_by_hand():
    x = np.array([1.0, 2.0, 8.0])
    y = np.array([[1.0, 0.5, 0.25], [1.0, 0.0, 1.0]])
    s = fits.local_slopes(x, y)
    np.testing.assert_allclose(s[0], [-1.0, -0.5])
    assert np.all(np.isnan(s[1]))
    with pytest.raises(ValueError):
        fits.local_slopes(x[::-1], y)


def test_corrected_power_law_recovers_leading_exponent_where_plain_fit_is_biased():
    from attnlimits.analysis.fits import corrected_power_law_fit, power_law_fit

    rng = np.random.default_rng(0)
    L = np.array([4.0, 8, 16, 32, 64, 128])
    truth = 0.2 / L * (1 - 1.5 / L)  # a/L + c/L² with c < 0: local slopes approach −1 from above
    noise = 1 + 0.005 * rng.standard_normal((201, L.size))
    noise[0] = 1.0
    y = truth * noise
    plain = power_law_fit(L, y)
    corrected = corrected_power_law_fit(L, y)
    assert plain.ci_low > -1.0  # the plain fit is pulled off −1 by the correction term
    assert corrected.ci_low <= -1.0 <= corrected.ci_high
    assert abs(corrected.slope + 1.0) < 0.02
    assert abs(corrected.correction + 1.5) < 0.2
    np.testing.assert_allclose(corrected.predict(L), truth, rtol=0.02)


def test_corrected_power_law_needs_four_points():
    from attnlimits.analysis.fits import corrected_power_law_fit

    fit = corrected_power_law_fit(np.array([1.0, 2.0, 4.0]), np.ones((5, 3)))
    assert np.isnan(fit.slope) and fit.n_points == 3


def test_two_term_quadrature_recovers_exponents_that_the_sum_form_distorts():
    from attnlimits.analysis.fits import two_term_fit, two_term_model

    L, H = (g.ravel().astype(float) for g in np.meshgrid([4, 8, 16, 32, 64, 128], [1, 4, 16, 64]))
    truth = two_term_model({"a": 0.2, "b": 0.4, "p": 1.0, "q": 0.5, "r": 0.5}, L, H, "quadrature")
    rng = np.random.default_rng(1)
    y = truth * (1 + 0.01 * rng.standard_normal((41, L.size)))
    y[0] = truth
    quad = two_term_fit(L, H, y, free=("p", "q", "r"), combine="quadrature", replicates=20)
    summed = two_term_fit(L, H, y, free=("p", "q", "r"), combine="sum", replicates=20)
    for k, v in {"p": 1.0, "q": 0.5, "r": 0.5}.items():
        assert abs(quad.params[k] - v) < 0.02, (k, quad.params[k])
    assert quad.aic < summed.aic
    np.testing.assert_allclose(quad.predict(L, H), truth, rtol=1e-3)


def test_exponential_rate_fit_recovers_rate_and_predicts():
    from attnlimits.analysis.fits import exponential_rate_fit

    rng = np.random.default_rng(3)
    t = np.linspace(0.0, 10.0, 21)
    truth = 2.0 * np.exp(-0.7 * t)
    y = truth * np.exp(0.01 * rng.standard_normal((101, t.size)))
    y[0] = truth
    fit = exponential_rate_fit(t, y)
    assert fit.slope == pytest.approx(-0.7, abs=1e-12)
    assert fit.ci_low < -0.7 < fit.ci_high and fit.ci_high - fit.ci_low < 0.01
    np.testing.assert_allclose(fit.predict(t), truth, rtol=1e-10)
    lo, hi = fit.band(t)
    assert np.all(lo <= fit.predict(t) * (1 + 1e-12)) and np.all(hi >= fit.predict(t) * (1 - 1e-12))
