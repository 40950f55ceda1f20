"""Cell statistics against brute-force computations from explicit trajectories."""

from __future__ import annotations

import numpy as np
import pytest
from heads_synthetic import gram_of, synthetic_heads

from attnlimits.analysis.statistics import (
    cell_statistics,
    gram_statistics,
    percentile_interval,
    replicate_interval,
    replicate_weights,
)


def test_replicate_weights_rows_and_determinism():
    w = replicate_weights(seeds=7, replicates=50, seed=3)
    assert w.shape == (51, 7)
    np.testing.assert_allclose(w[0], 1 / 7)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    counts = w[1:] * 7
    np.testing.assert_allclose(counts, np.round(counts))
    assert np.any(w[1:] != 1 / 7)
    np.testing.assert_array_equal(w, replicate_weights(7, 50, 3))
    assert not np.array_equal(w, replicate_weights(7, 50, 4))
    # Each seed is drawn with probability 1/R: mean count 1.
    big = replicate_weights(5, 20000, 0)[1:] * 5
    np.testing.assert_allclose(big.mean(axis=0), 1.0, atol=0.03)


def brute_force(X, x, w, nf2_original=0.0):
    """Direct formulas with X̄_w = Σ_s w_s X_s; X (R, S, layers, N, d), x (S, layers, N, d).

    ``nf2_original``: the original sample's noise floor² per (input, layer), subtracted from the
    bias² of a bootstrap replicate.
    """
    R = X.shape[0]
    mean = np.einsum("s,s...->...", w, X)
    raw2 = np.mean(np.sum((mean - x) ** 2, axis=-1), axis=-1)  # (S, layers)
    var = np.einsum("s,s...->...", w, np.mean(np.sum((X - mean) ** 2, axis=-1), axis=-1))
    var1 = var * R / (R - 1)
    nf2 = var1 / R
    return {
        "bias": np.sqrt(np.max(np.maximum(raw2 - nf2 - nf2_original, 0))),
        "bias_raw": np.sqrt(np.max(raw2)),
        "noise_floor": np.sqrt(np.max(nf2)),
        "fluct": np.sqrt(np.max(var1)),
    }


def test_gram_statistics_match_brute_force():
    rng = np.random.default_rng(1)
    R, S, layers, N, d = 6, 3, 5, 4, 3
    x = rng.standard_normal((S, layers, N, d))
    X = x + 0.3 + 0.5 * rng.standard_normal((R, S, layers, N, d))
    weights = np.vstack([replicate_weights(R, 4, 0), rng.dirichlet(np.ones(R), size=3)])
    gram = gram_of(X - x)
    # NaN padding layers must be ignored.
    padded = np.concatenate([gram, np.full((S, 2, R, R), np.nan)], axis=1)
    got = gram_statistics(padded[None], weights)
    original = brute_force(X, x, weights[0])
    assert original["noise_floor"] > 0.05
    R_ = weights.shape[1]
    var = np.mean(np.sum((X - X.mean(axis=0)) ** 2, axis=-1), axis=-1).mean(axis=0)
    nf2_original = var / (R_ - 1)  # var1 / R with var1 the unbiased variance
    for b, w in enumerate(weights):
        want = brute_force(X, x, w, nf2_original if b else 0.0)
        for name, value in want.items():
            assert got[name][0, b] == pytest.approx(value, rel=1e-10), (name, b)


def test_bootstrap_bias_is_centred_on_the_point_estimate():
    # A precise bias with seed noise: replicates must scatter around replicate 0's bias.
    rng = np.random.default_rng(3)
    R, N, d = 16, 200, 3
    D = 0.1 + 0.2 * rng.standard_normal((R, 1, 1, N, d))
    got = gram_statistics(gram_of(D), replicate_weights(R, 2000, 0))
    bias2 = got["bias"] ** 2
    spread = np.std(bias2[1:])
    assert abs(np.mean(bias2[1:]) - bias2[0]) < 0.1 * spread + 1e-12
    assert bias2[0] == pytest.approx(0.03, rel=0.02)
    assert got["noise_floor"][0] ** 2 > 2 * spread  # the shift being removed is large


def test_bias_clipped_at_zero_when_below_noise_floor():
    rng = np.random.default_rng(2)
    R, S, layers, N, d = 8, 1, 2, 3, 2
    X = rng.standard_normal((R, S, layers, N, d))
    X -= X.mean(axis=0)  # seed mean exactly on the limit: raw2 = 0 < nf2
    got = gram_statistics(gram_of(X), replicate_weights(R, 0, 0))
    assert got["bias"][0] == 0.0
    assert got["bias_raw"][0] == pytest.approx(0.0, abs=1e-7)
    assert got["fluct"][0] > 0


def test_cell_statistics_on_synthetic_dataset_and_dask():
    ds = synthetic_heads(L=(4, 8, 16), H=(1, 4), tokens_N=(8, 16, 32), seeds=5)
    w = replicate_weights(5, 6, 0)
    stats = cell_statistics(ds, w, block=7)
    assert stats["err"].dims[-1] == "replicate" and stats.sizes["replicate"] == 7
    valid = ds["e2"].notnull().any(["seed", "input"])
    assert bool((stats["err"].isel(replicate=0).notnull() == valid).all())
    # err = (Σ_s w_s max_input e2²)^(1/2) at one cell, by hand.
    cell = dict(mask="causal", normalisation="sphere", N=16, d=3, beta=1.0, L=8, H=4)
    e2 = ds["e2"].sel(cell).transpose("seed", "input").values
    for b in (0, 3):
        want = np.sqrt(np.sum(w[b] * np.max(e2, axis=1) ** 2))
        assert float(stats["err"].sel(cell).sel(replicate=b)) == pytest.approx(want, rel=1e-12)
    want_inf = np.sqrt(np.mean(np.max(ds["e_inf"].sel(cell).values, axis=1) ** 2))
    assert float(stats["err_inf"].sel(cell).sel(replicate=0)) == pytest.approx(want_inf, rel=1e-12)
    # Dask-backed input gives the same numbers.
    lazy = cell_statistics(ds.chunk({"L": 1, "H": 1, "N": 1}), w)
    for name in ("err", "err_inf", "bias", "fluct", "noise_floor", "bias_raw"):
        np.testing.assert_allclose(lazy[name].values, stats[name].values, rtol=1e-12)
    assert "limit_error" in stats


def test_percentile_intervals():
    samples = np.arange(101.0)
    lo, hi = percentile_interval(samples, 0.9)
    np.testing.assert_allclose([lo, hi], [5.0, 95.0])
    values = np.concatenate([[1e9], samples, [np.nan]])  # replicate 0 and NaN are ignored
    np.testing.assert_allclose(replicate_interval(values, 0.9), [5.0, 95.0])
