"""Cell statistics of experiment adamw (attnlimits.adamw.statistics) on a synthetic cell store."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from attnlimits.adamw.statistics import (
    SELECTIONS,
    STATS,
    STEP_STATS,
    VARIABLES,
    cell_statistics,
    step_statistics,
)
from attnlimits.analysis.statistics import replicate_weights

K1, R, S, L1, N, D = 3, 5, 2, 4, 6, 3


def synthetic_cell(seed: int = 0) -> tuple[xr.Dataset, dict[str, np.ndarray]]:
    """A cell store built from explicit deviations (step, seed, input, layer, token, component)."""
    rng = np.random.default_rng(seed)
    data, devs = {}, {}
    for var in VARIABLES:
        dev = 0.1 * rng.standard_normal((K1, R, S, L1, N, D)) + 0.05  # a common bias
        dev *= np.arange(1, K1 + 1)[:, None, None, None, None, None]  # grows with k
        devs[var] = dev
        sq = (dev**2).sum(-1).mean(-1)  # (step, seed, input, layer)
        data[f"e2_{var}"] = (("step", "seed", "input"), np.sqrt(sq.max(-1)))
        data[f"einf_{var}"] = (
            ("step", "seed", "input"),
            np.linalg.norm(dev, axis=-1).max(axis=(-1, -2)),
        )
        gram = np.einsum("ksrlnd,kqrlnd->krlsq", dev, dev) / N
        data[f"gram_{var}"] = (("step", "input", "layer", "seed", "seed2"), gram)
    data["theta_error"] = (("step", "seed"), rng.uniform(0.1, 1.0, (K1, R)))
    return xr.Dataset(data), devs


def test_statistics_follow_their_definitions():
    cell, devs = synthetic_cell()
    w = replicate_weights(R, 7, 3)
    stats = cell_statistics(cell, w)
    assert set(stats) == {f"{v}_{s}_{q}" for v in VARIABLES for s in SELECTIONS for q in STATS} | {
        f"theta_{s}_err" for s in SELECTIONS
    }
    for var, dev in devs.items():
        for sel, ks in (("worst", slice(None)), ("last", slice(-1, None))):
            d = dev[ks]  # (k, seed, input, layer, N, d)
            for b in range(w.shape[0]):
                e2 = np.sqrt((d**2).sum(-1).mean(-1).max(axis=(0, 3)))  # (seed, input)
                err = np.sqrt(w[b] @ e2.max(-1) ** 2)
                assert stats[f"{var}_{sel}_err"][b] == pytest.approx(err, rel=1e-12)
                mean = np.einsum("s,ksilnd->kilnd", w[b], d)
                raw = np.sqrt((mean**2).sum(-1).mean(-1).max())
                assert stats[f"{var}_{sel}_bias_raw"][b] == pytest.approx(raw, rel=1e-12)
    theta = cell["theta_error"].values
    np.testing.assert_allclose(stats["theta_last_err"][0], np.sqrt(np.mean(theta[-1] ** 2)))
    np.testing.assert_allclose(stats["theta_worst_err"][0], np.sqrt(np.mean(theta.max(0) ** 2)))


def test_worst_is_at_least_last():
    cell, _ = synthetic_cell(1)
    stats = cell_statistics(cell, replicate_weights(R, 20, 4))
    for var in (*VARIABLES, "theta"):
        assert (stats[f"{var}_worst_err"] >= stats[f"{var}_last_err"] - 1e-15).all()


def test_weights_must_match_the_seeds():
    cell, _ = synthetic_cell()
    for statistics in (cell_statistics, step_statistics):
        with pytest.raises(ValueError, match="seeds"):
            statistics(cell, replicate_weights(R + 1, 3, 0))


def test_step_statistics_follow_their_definitions():
    """Per step k: err, bias (noise-corrected) and fluct from the deviations themselves; the
    ``last`` selection is the last step's; ``worst`` err (max over k inside the mean over seeds) is
    at least the max over k of the per-step err."""
    cell, devs = synthetic_cell(2)
    w = replicate_weights(R, 5, 1)
    steps, whole = step_statistics(cell, w), cell_statistics(cell, w)
    assert set(steps) == {f"{v}_step_{q}" for v in VARIABLES for q in STEP_STATS} | {
        "theta_step_err"
    }
    for var, dev in devs.items():
        for k in range(K1):
            d = dev[k]  # (seed, input, layer, N, d)
            e2 = np.sqrt((d**2).sum(-1).mean(-1).max(-1))  # (seed, input)
            for b in range(w.shape[0]):
                assert steps[f"{var}_step_err"][k, b] == pytest.approx(
                    np.sqrt(w[b] @ e2.max(-1) ** 2), rel=1e-12
                )
            mean = d.mean(0)  # replicate 0: equal weights
            sq = (d - mean) ** 2
            var1 = sq.sum(-1).mean(-1).sum(0) / (R - 1)  # (input, layer)
            raw2 = (mean**2).sum(-1).mean(-1)
            bias = np.sqrt(np.maximum(raw2 - var1 / R, 0).max())
            assert steps[f"{var}_step_fluct"][k, 0] == pytest.approx(np.sqrt(var1.max()), rel=1e-12)
            assert steps[f"{var}_step_bias"][k, 0] == pytest.approx(bias, rel=1e-12)
        for q in ("err", "bias", "fluct"):
            last = whole[f"{var}_last_{q}"]
            assert steps[f"{var}_step_{q}"][-1] == pytest.approx(last, rel=1e-12)
        assert np.all(whole[f"{var}_worst_err"] >= steps[f"{var}_step_err"].max(0) - 1e-15)
    theta = cell["theta_error"].values
    np.testing.assert_allclose(steps["theta_step_err"][:, 0], np.sqrt(np.mean(theta**2, axis=1)))
