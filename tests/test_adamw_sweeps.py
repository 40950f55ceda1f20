"""The ε sweep and the per-cell / per-step tables of experiment adamw (adamw.sweeps), on
synthetic grid statistics with known power laws."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from attnlimits.adamw.sweeps import (
    CELL_DIMS,
    cells_table,
    eps_table,
    rate,
    steps_table,
)

OPTIONS = {"level": 0.95, "solver_margin": 10.0, "max_slope_d": 0.1}
DS = [3, 6, 12, 24]
EPSS = [1e-8, 1e-4, 1e-2]
REPLICATES, STEPS = 60, 3
L, H = 16, 16
# exponent in d of the worst-step error per (variant, variable)
D_SLOPES = {
    ("blockwise", "x"): 0.0,
    ("blockwise", "p"): 0.3,
    ("blockwise", "theta"): 1.0,
    ("standard", "x"): 0.2,
    ("standard", "p"): 0.5,
    ("standard", "theta"): 1.2,
}
# exponent in eps of the worst-step error (standard theta grows as eps -> 0)
EPS_SLOPES = {("standard", "theta"): -0.05}


def synthetic_stats() -> xr.Dataset:
    """A dims line (eps = 1e-8, d = 3..24) and an eps line (d = 3) per variant; NaN elsewhere."""
    rng = np.random.default_rng(0)
    coords = {
        "variant": ["blockwise", "standard"],
        "eps": EPSS,
        "N": [16],
        "d": DS,
        "beta": [1.0],
        "L": [L],
        "H": [H],
    }
    shape = tuple(len(v) for v in coords.values())
    noise = np.exp(0.01 * rng.standard_normal((*shape, REPLICATES)))
    noise[..., 0] = 1.0
    dd = np.asarray(DS, float)[None, None, None, :, None, None, None, None]
    ee = np.asarray(EPSS)[None, :, None, None, None, None, None, None]
    on_line = np.zeros(shape, bool)
    on_line[:, 0] = True  # eps = 1e-8: every d
    on_line[:, :, :, 0] = True  # d = 3: every eps
    data = {}
    for var in ("x", "p", "theta"):
        value = np.empty((*shape, REPLICATES))
        for v, variant in enumerate(coords["variant"]):
            s, e = D_SLOPES[(variant, var)], EPS_SLOPES.get((variant, var), 0.0)
            value[v] = (0.05 * (dd / 3) ** s * (ee / 1e-8) ** e)[0] * noise[v]
        value[~on_line] = np.nan
        for sel, factor in (("worst", 1.0), ("last", 0.5)):
            data[f"{var}_{sel}_err"] = ((*CELL_DIMS, "replicate"), factor * value)
        steps = value[..., None, :] * np.linspace(0.5, 1.0, STEPS)[:, None]
        names = ("err", "bias", "fluct") if var != "theta" else ("err",)
        for q in names:
            data[f"{var}_step_{q}"] = ((*CELL_DIMS, "step", "replicate"), steps)
    limit = np.where(on_line, 1e-4, np.nan)
    theta_limit = limit.copy()
    theta_limit[1, 0] = 0.05  # standard, eps = 1e-8: the limit's theta did not converge
    data["limit_error_x"] = data["limit_error_p"] = (CELL_DIMS, limit)
    data["limit_error_theta"] = (CELL_DIMS, theta_limit)
    curve = np.where(on_line[..., None], np.linspace(1.0, 0.2, STEPS), np.nan)
    data["loss"] = ((*CELL_DIMS, "step"), curve)
    data["loss_limit"] = ((*CELL_DIMS, "step"), 0.9 * curve)
    return xr.Dataset(
        data, coords={**coords, "step": np.arange(STEPS), "replicate": np.arange(REPLICATES)}
    )


@pytest.fixture(scope="module")
def stats():
    return synthetic_stats()


def test_eps_table_constants_ratios_and_slopes(stats):
    table = eps_table(stats, OPTIONS)
    assert len(table) == 2 * 3 * len(EPSS)  # one eps line per variant, 3 variables
    assert list(table["eps"][:3]) == sorted(EPSS, reverse=True)  # from the largest eps down
    np.testing.assert_allclose(table["constant"], table["err"] / rate(L, H))
    theta = table[(table["variant"] == "standard") & (table["variable"] == "theta")]
    assert np.isnan(theta["local_slope_eps"].iloc[0])
    np.testing.assert_allclose(theta["local_slope_eps"].iloc[1:], -0.05, atol=1e-12)
    np.testing.assert_allclose(
        theta["ratio_to_largest_eps"], (np.array(EPSS[::-1]) / 1e-2) ** -0.05
    )
    assert list(theta["limit_accurate"]) == [True, True, False]
    flat = table[(table["variant"] == "blockwise") & (table["variable"] == "x")]
    np.testing.assert_allclose(flat["ratio_to_largest_eps"], 1.0)


def test_rate_is_the_bound_of_models_md():
    assert rate(8.0, 4.0) == pytest.approx(1 / 8 + 8 ** (-1 / 3) / 2)


def test_cells_and_steps_tables_cover_the_simulated_cells(stats):
    cells = cells_table(stats, 0.95)
    valid = int(stats["x_worst_err"].isel(replicate=0).notnull().sum())
    assert len(cells) == valid == 2 * (len(DS) + len(EPSS) - 1)
    for _, row in cells.iterrows():
        at = {dim: row[dim] for dim in CELL_DIMS}
        for name in ("x_worst", "p_last", "theta_worst"):
            assert row[name] == float(stats[f"{name}_err"].sel(at).isel(replicate=0))
            assert row[f"{name}_low"] <= row[name] <= row[f"{name}_high"] * (1 + 1e-12)
    steps = steps_table(stats, 0.95)
    assert len(steps) == valid * STEPS
    first = steps.iloc[:STEPS]
    at = {dim: first[dim].iloc[0] for dim in CELL_DIMS}
    np.testing.assert_allclose(first["x_err"], stats["x_step_err"].sel(at).isel(replicate=0))
    np.testing.assert_allclose(first["loss_limit"], stats["loss_limit"].sel(at))
