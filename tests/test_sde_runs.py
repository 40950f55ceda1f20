"""Runners of experiment ``sde`` (src/attnlimits/sde/runs/) against the stores' schema."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from attnlimits.sde.chaos import simulate_particles, uniform_sphere, w2_squared
from attnlimits.sde.discrete import brownian_normals, simulate_depth, uniform_tokens
from attnlimits.sde.dynamics import Attention
from attnlimits.sde.exponents_table import TABLE_COLUMNS
from attnlimits.sde.features import draw_coefficients, draw_features
from attnlimits.sde.field import CholeskyNoise, GaussianField, zonal_kernel
from attnlimits.sde.limit import pathwise_error, reference, reference_error_by_levels
from attnlimits.sde.runs.chaos import run_chaos
from attnlimits.sde.runs.depth import brownian_blocks, run_depth
from attnlimits.sde.runs.kernel_table import run_kernel_table
from attnlimits.sde.runs.sync import run_sync
from attnlimits.sde.runs.width import run_width
from attnlimits.sde.sync import interaction_energy

ROW = {"activation": "tanh", "d": 3, "sigma": 0.1, "beta": 1.0, "T": 1.0, "seed": 3}
DEPTH = {**ROW, "attention_sign": 1, "N": 4, "L": [2, 4, 8], "fine": 64, "levels": 2, "seeds": 16}
WIDTH = {**ROW, "attention_sign": 1, "N": 4, "L": 4, "m": [4, 64, 1024], "seeds": 16}
CHAOS = {
    **ROW,
    "activation": "relu",
    "sigma": 0.0,
    "attention_sign": 1,
    "N": [4, 16, 64],
    "N_ref": 256,
    "P": 128,
    "L": 4,
    "replicas": 3,
    "floor_times": 2,
}
SYNC = {
    "activation": "sigmoid",
    "d": 5,
    "sigma": 0.0,
    "beta": 1.0,
    "seed": 1,
    "attention_sign": 0,
    "N": 4,
    "paths": 16,
    "horizon": 4.0,
    "dt": 0.05,
    "record_every": 4,
    "two_point": {"paths": 8, "steps": 40, "dt": 0.05, "eps": 1e-4},
}

ROW_ATTRS = {"activation", "d", "sigma", "attention_sign", "beta"}
EXPONENT_ATTRS = {"kappa_1", "lambda_1", "lambda_bar"}
SCHEMA = {
    "depth": (
        {
            "err2": ("L", "seed"),
            "level_diff2": ("level", "seed"),
            "reference_error": (),
            "reference_error_orthogonal": (),
            "factor_fallbacks": (),
            "x0": ("seed", "token", "component"),
            "x_ref_sample": ("time", "token", "component"),
        },
        ROW_ATTRS | EXPONENT_ATTRS | {"T", "N", "fine", "noise_factor"},
    ),
    "width": (
        {"err2": ("m", "seed"), "cov_rel_err": ("m", "seed")},
        ROW_ATTRS | EXPONENT_ATTRS | {"T", "N", "L"},
    ),
    "chaos": (
        {
            "sup_w2": ("N", "replica"),
            "w2_final": ("N", "replica"),
            "sup_w2_half": ("N", "replica"),
            "floor": ("replica",),
            "kappa_truncation": ("u",),
        },
        ROW_ATTRS
        | {"T", "N_ref", "P", "L", "kappa_1", "rate_ambient_exponent", "rate_intrinsic_exponent"}
        | {"rate_note"},
    ),
    "sync": (
        {
            "energy": ("path", "time"),
            "tokens_sample": ("snapshot", "token", "component"),
            "cosines": ("snapshot", "pair"),
            "snapshot_time": ("snapshot",),
        },
        ROW_ATTRS
        | EXPONENT_ATTRS
        | {"N", "dt", "horizon", "kappa_prime_1", "rate_bound", "odd_field", "synchronization"}
        | {"two_point_dt"},
    ),
}
TWO_POINT = {
    name: ("path2",)
    for name in (
        "lyap_per_path",
        "moment_ratio_sq",
        "lyap_per_path_coarse",
        "moment_ratio_sq_coarse",
    )
}
NON_NEGATIVE = {
    "depth": (
        "err2",
        "level_diff2",
        "reference_error",
        "reference_error_orthogonal",
        "factor_fallbacks",
    ),
    "width": ("err2", "cov_rel_err"),
    "chaos": ("sup_w2", "w2_final", "sup_w2_half", "floor", "kappa_truncation"),
    "sync": ("energy", "moment_ratio_sq"),
}


@pytest.fixture(scope="module")
def stores() -> dict[str, xr.Dataset]:
    return {
        "depth": run_depth(DEPTH, "cpu"),
        "width": run_width(WIDTH, "cpu"),
        "chaos": run_chaos(CHAOS, "cpu"),
        "sync": run_sync(SYNC, "cpu"),
    }


def check_schema(ds: xr.Dataset, variables: dict[str, tuple[str, ...]], attrs: set[str]) -> None:
    assert dict(ds.data_vars).keys() == variables.keys()
    for name, dims in variables.items():
        assert ds[name].dims == dims, name
    for name in [*ds.data_vars, *ds.coords]:
        assert isinstance(ds[name].attrs.get("long_name"), str), name
        assert isinstance(ds[name].attrs.get("units"), str), name
    assert set(ds.attrs) == attrs
    for key, value in ds.attrs.items():
        assert type(value) in (int, float, str, bool), (key, type(value))


@pytest.mark.parametrize("kind", ["depth", "width", "chaos", "sync"])
def test_runner_output_has_exactly_the_schema(stores, kind):
    ds = stores[kind]
    variables, attrs = SCHEMA[kind]
    if kind == "sync":
        variables = {**variables, **TWO_POINT}
    check_schema(ds, variables, attrs)
    for name in ds.data_vars:
        assert np.all(np.isfinite(ds[name].values)), name
    for name in NON_NEGATIVE[kind]:
        assert np.all(ds[name].values >= 0), name


def test_coordinates_and_sizes(stores):
    depth, width, chaos, sync = (stores[k] for k in ("depth", "width", "chaos", "sync"))
    assert depth.L.values.tolist() == [2, 4, 8]
    assert depth.level.values.tolist() == [32, 16]
    assert depth.sizes["seed"] == 16 and depth.sizes["time"] == 65
    assert depth.time.values[-1] == pytest.approx(1.0)
    assert width.m.values.tolist() == [4, 64, 1024]
    assert chaos.N.values.tolist() == [4, 16, 64] and chaos.sizes["replica"] == 3
    assert sync.sizes["snapshot"] == 9 and sync.sizes["path"] == 16
    assert sync.sizes["pair"] == 16 * 6
    assert sync.time.values[0] == 0.0
    np.testing.assert_allclose(np.diff(sync.time.values), 4 * sync.attrs["dt"])


def test_runners_are_deterministic(stores):
    xr.testing.assert_identical(run_depth(DEPTH, "cpu"), stores["depth"])
    xr.testing.assert_identical(run_width(WIDTH, "cpu"), stores["width"])
    xr.testing.assert_identical(run_chaos(CHAOS, "cpu"), stores["chaos"])
    xr.testing.assert_identical(run_sync(SYNC, "cpu"), stores["sync"])


def test_depth_error_decreases_with_layers(stores):
    err = stores["depth"].err2.mean("seed").values
    assert np.all(np.diff(err) < 0), err
    # the reference's own error is far below the coarse errors
    assert float(stores["depth"].reference_error) ** 2 < err[-1]


def library_composition(spec: dict) -> tuple:
    """The inputs of a depth run of ``spec`` and its fine reference, built from the library's
    pieces (tokens, Brownian normals, the Cholesky noise field): (x0, attn, field, xi, ref)."""
    seeds = range(spec["seeds"])
    activation, d, sigma = spec["activation"], spec["d"], spec["sigma"]
    field = CholeskyNoise(GaussianField(zonal_kernel(activation, d, sigma, sigma)))
    attn = Attention.identity(d, 1.0, 1.0)
    x0 = uniform_tokens(spec["seed"], seeds, spec["N"], d)
    xi = brownian_normals(spec["seed"], seeds, spec["fine"], spec["N"], d)
    return x0, attn, field, xi, reference(x0, attn, 1.0, field, xi)


def test_depth_streaming_matches_the_library_composition():
    """The ladder equals ``simulate_depth`` for every L and the fine reference, each with the
    Cholesky noise factor: bit for bit, so every model and the reference use the same F."""
    spec = {**DEPTH, "seeds": 3, "levels": 3}
    x0, attn, field, xi, ref = library_composition(spec)
    err2 = torch.stack(
        [pathwise_error(simulate_depth(x0, attn, 1.0, field, xi, L), ref) for L in spec["L"]]
    )
    levels = reference_error_by_levels(x0, attn, 1.0, field, xi, 3, reference_path=ref)
    for block in (64, 16, 2):  # one block; whole layers per block; layers across blocks
        ds = run_depth(spec, "cpu", block=block)
        exact = block == 64
        compare = np.testing.assert_array_equal if exact else np.testing.assert_allclose
        compare(ds.err2.values, err2.numpy())
        compare(ds.level_diff2.values, torch.stack(levels.per_seed).numpy())
        compare(ds.x_ref_sample.values, ref[0].numpy())
        assert ds.attrs["noise_factor"] == "cholesky" and int(ds.factor_fallbacks) == 0
        assert float(ds.reference_error) == pytest.approx(levels.reference_error, rel=1e-12)
        assert float(ds.reference_error_orthogonal) == pytest.approx(
            levels.reference_error_orthogonal, rel=1e-12
        )


def test_depth_ladder_with_strides_that_do_not_divide_each_other():
    """L = 3 and 4 of fine = 12 (strides 4 and 3): batches that are not the first models of the
    ladder (gathered rows), still bit for bit the library composition."""
    spec = {**DEPTH, "seeds": 2, "levels": 1, "L": [3, 4], "fine": 12}
    x0, attn, field, xi, ref = library_composition(spec)
    ds = run_depth(spec, "cpu", block=12)
    for L in spec["L"]:
        err2 = pathwise_error(simulate_depth(x0, attn, 1.0, field, xi, L), ref)
        np.testing.assert_array_equal(ds.err2.sel(L=L).values, err2.numpy())
    levels = reference_error_by_levels(x0, attn, 1.0, field, xi, 1, reference_path=ref)
    np.testing.assert_array_equal(ds.level_diff2.values, torch.stack(levels.per_seed).numpy())


def test_brownian_blocks_are_the_brownian_normals():
    whole = brownian_normals(7, [0, 2], 12, 3, 2)
    blocks = torch.cat(list(brownian_blocks(7, [0, 2], 12, 3, 2, block=4)), dim=1)
    assert torch.equal(whole, blocks)


def test_width_error_decreases_with_m(stores):
    width = stores["width"]
    for name in ("err2", "cov_rel_err"):
        mean = width[name].mean("seed").values
        assert np.all(np.diff(mean) < 0), (name, mean)


def test_chaos_w2_decreases_with_n(stores):
    mean = stores["chaos"].sup_w2.mean("replica").values
    assert np.all(np.diff(mean) < 0), mean
    assert np.all(stores["chaos"].w2_final.values <= stores["chaos"].sup_w2.values)


def test_chaos_halved_reference_matches_a_direct_recomputation(stores):
    """sup_w2_half: sup over the recorded layers (all L + 1 here) of W2² between the N tokens and
    the first N_ref/2 tokens of reference 0, recomputed from the library pieces for each replica."""
    chaos, spec = stores["chaos"], CHAOS
    d, P, L, n_ref = spec["d"], spec["P"], spec["L"], spec["N_ref"]
    attn = Attention.identity(d, spec["beta"], spec["attention_sign"])
    for r in range(spec["replicas"]):
        parts = (spec["seed"], d, r)
        features = draw_features(P, d, spec["sigma"], parts)
        coeffs = draw_coefficients(P, d, L, parts)

        def run(x0, features=features, coeffs=coeffs):
            return simulate_particles(x0, attn, 1.0 / L, L, features, coeffs, "relu", 0.0)

        ref = run(uniform_sphere(n_ref, d, *parts, "reference", 0))
        pool = uniform_sphere(max(spec["N"]), d, *parts, "particles")
        for n in spec["N"]:
            traj = run(pool[:n])
            full = max(w2_squared(traj[t], ref[t]) for t in range(L + 1))
            half = max(w2_squared(traj[t], ref[t, : n_ref // 2]) for t in range(L + 1))
            assert float(chaos.sup_w2.sel(N=n, replica=r)) == pytest.approx(full, rel=1e-12)
            assert float(chaos.sup_w2_half.sel(N=n, replica=r)) == pytest.approx(half, rel=1e-12)
    # a different measure from the full reference, but close to it on average
    assert not np.array_equal(chaos.sup_w2_half.values, chaos.sup_w2.values)
    assert abs(float((chaos.sup_w2_half - chaos.sup_w2).mean())) < 0.1 * float(chaos.sup_w2.mean())


def test_sync_energy_decays_and_two_point_only_for_sign_zero(stores):
    sync = stores["sync"]
    assert sync.attrs["lambda_bar"] < 0 and sync.attrs["synchronization"]
    mean = sync.energy.mean("path").values
    assert mean[-1] < 0.5 * mean[0]
    rate = max(abs(sync.attrs["lambda_bar"]), 2 * abs(sync.attrs["lambda_1"]))
    assert sync.attrs["dt"] == pytest.approx(SYNC["dt"] / rate)
    # horizon in units of 1/|λ̄| (at least rate/4), whole multiples of record_every layers
    horizon_rate = max(abs(sync.attrs["lambda_bar"]), rate / 4)
    layers = sync.attrs["horizon"] / sync.attrs["dt"]
    assert layers == pytest.approx(round(layers)) and round(layers) % SYNC["record_every"] == 0
    assert sync.attrs["horizon"] == pytest.approx(
        SYNC["horizon"] / horizon_rate, abs=SYNC["record_every"] * sync.attrs["dt"] / 2
    )
    # the snapshots are the energy run's own paths
    at = np.searchsorted(sync.time.values, sync.snapshot_time.values)
    tokens = torch.from_numpy(sync.tokens_sample.values)
    np.testing.assert_allclose(
        interaction_energy(tokens, SYNC["beta"]).numpy(), sync.energy.values[0, at], rtol=1e-10
    )
    other = run_sync({**SYNC, "attention_sign": 1, "paths": 4, "horizon": 1.0}, "cpu")
    variables, attrs = SCHEMA["sync"]
    check_schema(other, variables, attrs)


def test_progress_is_reported():
    calls: list[tuple[int, int]] = []
    run_width({**WIDTH, "m": [4], "seeds": 2}, "cpu", progress=lambda d, t: calls.append((d, t)))
    assert calls and calls[-1][0] == calls[-1][1]
    assert all(b[0] >= a[0] for a, b in zip(calls, calls[1:], strict=False))


def test_kernel_table_wraps_exponents_table():
    spec = {"activations": ["relu"], "dims": [5], "sigmas": [0.1], "mc_samples": 1000, "seed": 0}
    df = run_kernel_table(spec)
    assert list(df.columns) == list(TABLE_COLUMNS) and len(df) == 1
    assert df.closed_abs_diff.iloc[0] < 1e-12


def test_depth_store_counts_the_cholesky_fallbacks(monkeypatch):
    """A matrix whose Cholesky factorisation fails takes the symmetric root, and is counted."""
    cholesky_ex = torch.linalg.cholesky_ex

    def failing_first(c):  # report the first system of every batched layer as failed
        factor, info = cholesky_ex(c)
        info = info.clone()
        info[0] = 1
        return factor, info

    spec = {**DEPTH, "seeds": 2, "fine": 16, "levels": 1, "L": [4, 8]}
    clean = run_depth(spec, "cpu")
    monkeypatch.setattr(torch.linalg, "cholesky_ex", failing_first)
    ds = run_depth(spec, "cpu")
    assert int(clean.factor_fallbacks) == 0
    assert int(ds.factor_fallbacks) == spec["fine"]  # one batched layer per fine step
    assert ds.attrs["noise_factor"] == "cholesky"
    # the fallback changes the values (another factor for those matrices), still finite
    assert not np.array_equal(ds.err2.values, clean.err2.values)
    assert np.all(np.isfinite(ds.err2.values))
