"""A lowtemp run on a small measure, the mean-field regime check, and the rate analysis on
synthetic stores with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from attnlimits.analysis.fits import line_fit
from attnlimits.lowtemp.analysis import best_times, beta_slopes, shape
from attnlimits.lowtemp.measures import regime_problems
from attnlimits.lowtemp.runs import make_head, run

SPEC = {
    "variant": "consensus",
    "measure": {"kind": "disc", "size": 4, "d": 2},  # 4 x 16 = 64 particles
    "head": {"kind": "random", "scale": 0.2, "seed": 3},
    "betas": [2.0, 4.0, 8.0],
    "horizon": 2.0,
    "records": 4,
    "substeps": 4,
    "exact_max": 1000,
    "regime": {"factor": 1.0, "allow_outside": False},
}


@pytest.fixture(scope="module")
def store():
    return run(SPEC)


def test_run_store_shapes_and_bounds(store):
    sizes = {"beta": 3, "time": 5, "particle": 64, "component": 2, "row": 2, "column": 2}
    assert store.sizes == sizes
    assert store.attrs["exact_w2"] == 1 and store.attrs["outside_regime"] == ""
    # the identity coupling bounds W2; at t = 0 both flows start at μ₀
    assert (store["w2_hardmax"] <= store["coupling_hardmax"] + 1e-7).all()  # sqrt of rounding
    assert np.allclose(store["w2_hardmax"].isel(time=0), 0.0, atol=1e-7)
    assert np.isclose(float(store["weights"].sum()), 1.0)
    # a larger β stays closer to the hardmax flow at every t > 0
    w2 = store["w2_hardmax"].isel(time=slice(1, None)).values
    assert (np.diff(w2, axis=0) < 0).all()


def test_runs_are_deterministic(store):
    again = run(SPEC)
    assert all(np.array_equal(store[v].values, again[v].values) for v in store.data_vars)


def test_outside_the_mean_field_regime_is_refused_unless_allowed():
    problems = regime_problems(64, 2, [8.0, 100.0], 1.0)
    assert len(problems) == 1 and "beta=100" in problems[0] and "N=64" in problems[0]
    bad = {**SPEC, "betas": [2.0, 100.0]}
    with pytest.raises(ValueError, match="outside the mean-field regime.*beta=100"):
        run(bad)
    allowed = run({**bad, "records": 1, "regime": {"factor": 1.0, "allow_outside": True}})
    assert "beta=100" in allowed.attrs["outside_regime"]


def test_head_must_have_positive_definite_qk():
    assert make_head({"kind": "identity"}, 3).q.shape == (3, 3)
    with pytest.raises(ValueError, match="positive definite"):
        make_head({"kind": "random", "scale": 5.0, "seed": 0}, 2)
    with pytest.raises(ValueError, match="unknown head kind"):
        make_head({"kind": "other"}, 2)


def synthetic(
    w2: np.ndarray, betas: np.ndarray, times: np.ndarray, target: np.ndarray
) -> xr.Dataset:
    return xr.Dataset(
        {"w2_hardmax": (("beta", "time"), w2), "w2_target": (("beta", "time"), target)},
        coords={"beta": betas, "time": times},
    )


def test_beta_slopes_recover_known_laws():
    betas, times = np.array([4.0, 16.0, 64.0, 256.0]), np.linspace(0, 2, 5)
    power = 0.3 * betas[:, None] ** -0.5 * np.exp(times)[None]
    table = beta_slopes(synthetic(power, betas, times, power))
    rows = table[table["regressor"] == "log_beta"]
    assert np.allclose(rows["slope"], -0.5) and "verdict" not in table
    shaped = 0.3 * shape(betas)[:, None] * np.exp(times)[None]
    table = beta_slopes(synthetic(shaped, betas, times, shaped))
    rows = table[table["regressor"] == "log_shape"]
    assert np.allclose(rows["slope"], 1.0) and (rows["ci_low"] <= 1.0).all()
    faster = 0.3 * betas[:, None] ** -1.0 * np.exp(times)[None]
    slopes = beta_slopes(synthetic(faster, betas, times, faster)).groupby("regressor")["slope"]
    assert np.allclose(slopes.get_group("log_beta"), -1.0)
    assert (slopes.get_group("log_shape") > 1.0).all()  # faster than the shape s(β)


def test_best_times_follow_log_beta():
    betas, times = np.array([8.0, 32.0, 128.0, 512.0]), np.linspace(0, 10, 101)
    t_star = 0.5 + 1.0 * np.log(betas)
    target = 0.01 + (times[None] - t_star[:, None]) ** 2
    table, fit = best_times(synthetic(target, betas, times, target))
    assert np.allclose(table["t_star"], t_star, atol=1e-9)
    assert fit.slope == pytest.approx(1.0) and not table["at_horizon"].any()


def test_line_fit_interval():
    x = np.arange(10.0)
    exact = line_fit(x, 2.0 + 3.0 * x)
    assert exact.slope == pytest.approx(3.0) and exact.ci_high - exact.ci_low < 1e-9
    noisy = line_fit(x, 2.0 + 3.0 * x + np.random.default_rng(0).normal(0, 0.5, 10))
    assert noisy.ci_low < 3.0 < noisy.ci_high and noisy.n_points == 10
    assert np.isnan(line_fit(x[:2], x[:2]).slope)
