"""Jobs of experiment adamw (attnlimits.adamw.runs): limit store, cell store, their errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from adamw_specs import TINY_SPEC

import attnlimits.adamw.runs as runs
from attnlimits.adamw.runs import LIMIT_ERRORS, parameter_error, run_cell, run_limit
from attnlimits.p1 import errors

SPEC = TINY_SPEC
CELL = {**SPEC, "L": 4, "H": 5, "seeds": 3, "seed": 0}


@pytest.fixture(scope="module")
def limit():
    return run_limit(SPEC)


@pytest.fixture(scope="module")
def cell(limit):
    return run_cell(CELL, limit)


def test_limit_store_shapes_and_own_error(limit):
    assert dict(limit.sizes) == {
        "step": 3, "input": 2, "time": 9, "token": 6, "component": 3, "time_param": 8,
        "atom": 3, "role": 3, "row": 3, "col": 3,
    }  # fmt: skip
    np.testing.assert_allclose(limit["time"].values, np.arange(9) / 8)
    # on the sphere, and trained: the loss changes and the parameters move
    norms = np.linalg.norm(limit["x"].values, axis=-1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-12)
    assert limit["loss"].values[-1] != limit["loss"].values[0]
    theta = limit["theta"].values
    assert np.abs(theta[-1] - theta[0]).max() > 1e-3
    # halving: a first-order gap, small but not zero
    for name in LIMIT_ERRORS:
        assert 0 < limit.attrs[name] < 0.05, name


def test_limit_error_halves_with_the_grid(limit):
    finer = run_limit({**SPEC, "limit": {"steps": 128, "records": 8}})
    ratio = limit.attrs["limit_error"] / finer.attrs["limit_error"]
    assert 1.6 < ratio < 2.4, ratio


def test_cell_store_shapes(cell, limit):
    sizes = dict(cell.sizes)
    assert sizes["step"] == 3 and sizes["seed"] == 3 and sizes["seed2"] == 3
    assert sizes["layer"] == 5 and sizes["layer_param"] == 4 and sizes["input"] == 2
    for name in ("e2_x", "einf_x", "e2_p", "einf_p"):
        assert cell[name].dims == ("step", "seed", "input")
        assert (cell[name].values > 0).all()
    assert cell["gram_x"].dims == ("step", "input", "layer", "seed", "seed2")
    assert cell["counts"].values.sum(-1).tolist() == [[5] * 4] * 3
    assert {name: cell.attrs[name] for name in LIMIT_ERRORS} == {
        name: limit.attrs[name] for name in LIMIT_ERRORS
    }


def test_gram_diagonal_gives_e2(cell):
    # (1/N) Σ_i |D_s^i|² at the worst layer is e_2²: the Gram diagonal carries the same errors
    diag = np.diagonal(cell["gram_x"].values, axis1=-2, axis2=-1)  # (step, input, layer, seed)
    e2 = np.sqrt(diag.max(axis=2)).transpose(0, 2, 1)  # (step, seed, input)
    np.testing.assert_allclose(e2, cell["e2_x"].values, rtol=1e-12)


def test_cell_at_the_limit_grid_has_no_error():
    """One head per atom in every layer and L = the limit's grid: the two computations coincide,
    so every error after every training step is zero (up to rounding)."""
    spec = {**SPEC, "limit": {"steps": 8, "records": 8}}
    lim = run_limit(spec)
    cell = {**spec, "L": 8, "H": 3, "seeds": 2, "seed": 0}
    picks = np.tile(np.arange(3), (2, 8, 1))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runs, "head_atoms", lambda seeds, layers, heads, atoms, seed: picks)
        out = run_cell(cell, lim)
    for name in ("e2_x", "e2_p", "theta_error"):
        assert float(out[name].max()) < 1e-12, name


def test_parameter_error_is_the_rms_over_heads():
    rng = np.random.default_rng(0)
    theta = torch.from_numpy(rng.standard_normal((2, 3, 4, 3, 2, 2)))  # (R, L, M, 3, d, d)
    lim = torch.from_numpy(rng.standard_normal((3, 4, 3, 2, 2)))
    counts = torch.tensor(rng.integers(0, 3, (2, 3, 4)), dtype=torch.float64)
    counts[..., 0] += 1
    w = counts / counts.sum(-1, keepdim=True)
    got = parameter_error(theta, lim, w)
    for s in range(2):
        per_layer = []
        for ell in range(3):
            heads = [r for r in range(4) for _ in range(int(counts[s, ell, r]))]
            sq = [float((theta[s, ell, r] - lim[ell, r]).square().sum()) for r in heads]
            per_layer.append(np.sqrt(np.mean(sq)))
        assert float(got[s]) == pytest.approx(max(per_layer), rel=1e-12)


def test_errors_helpers_take_a_leading_step_axis():
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal((3, 2, 4, 5, 6, 3)))  # (K+1, R, S, L+1, N, d)
    lim = torch.from_numpy(rng.standard_normal((3, 4, 9, 6, 3)))  # records 8
    at = errors.limit_at_layers(lim, 4)
    assert at.shape == (3, 4, 5, 6, 3)
    dev = errors.deviations(x, at)
    for k in range(3):
        one = errors.deviations(x[k], errors.limit_at_layers(lim[k], 4))
        torch.testing.assert_close(dev[k], one)
        torch.testing.assert_close(errors.gram(dev)[k], errors.gram(one))
        torch.testing.assert_close(errors.e2(dev)[k], errors.e2(one))


def test_runs_are_deterministic(limit, cell):
    again = run_cell(CELL, run_limit(copy.deepcopy(SPEC)))
    for name in cell.data_vars:
        np.testing.assert_array_equal(cell[name].values, again[name].values)


def test_bad_specs_fail_before_work():
    with pytest.raises(ValueError, match="even"):
        run_limit({**SPEC, "limit": {"steps": 63, "records": 7}})
    with pytest.raises(ValueError, match="multiple"):
        run_limit({**SPEC, "limit": {"steps": 64, "records": 6}})  # 6 does not divide 64
