"""Joint (L, m) and (L, N) grids of experiment sde (issue 16, part 3): the interpolated sup, the
coupled errors, the law fits and their claims on cases with a known answer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from config_edits import assert_invalid, put
from sde_synthetic import JOINT_LAYERS, JOINT_PATH, joint_law, synthetic_joint

from attnlimits.analysis.claims import judge_tables
from attnlimits.config import load_config
from attnlimits.sde.claims import CLAIMS, sde_claims
from attnlimits.sde.discrete import brownian_normals, uniform_tokens
from attnlimits.sde.dynamics import Attention
from attnlimits.sde.field import GaussianField, zonal_kernel
from attnlimits.sde.joint import coupled_errors, interpolated_sup
from attnlimits.sde.joint_fits import cross_share, fit_law, log_share
from attnlimits.sde.joint_plots import joint_figure
from attnlimits.sde.limit import pathwise_error
from attnlimits.sde.runs.joint import run_joint_tokens, run_joint_width

OPTIONS = {
    "bootstrap": 60, "bootstrap_seed": 3, "level": 0.95, "floor_factor": 10.0,
    "law_replicates": 40, "tolerance_joint": 0.1, "tolerance_depth": 0.1,
}  # fmt: skip
SPEC = {
    "activation": "relu", "d": 3, "sigma": 0.1, "attention_sign": 1, "beta": 1.0, "T": 1.0,
    "seed": 0, "L": [2, 4], "fine": 16, "seeds": 3,
}  # fmt: skip


def test_interpolated_sup_holds_the_layer_value_between_layer_times():
    ref = torch.arange(5.0, dtype=torch.float64).view(1, 5, 1, 1)  # X̄(t_k) = k, fine = 4
    coarse = ref[:, ::2].clone()  # L = 2 equals the reference at its layer times
    assert float(pathwise_error(coarse, ref)[0]) == 0.0
    # held path 0, 0, 2, 2, 4 against 0, 1, 2, 3, 4: the sup over all times is 1
    assert float(interpolated_sup(coarse, ref)[0]) == 1.0


def test_coupled_errors_vanish_for_the_reference_itself():
    d, n, fine = 3, 3, 8
    x0 = uniform_tokens(0, [0, 1], n, d)
    xi = brownian_normals(0, [0, 1], fine, n, d)
    field = GaussianField(zonal_kernel("relu", d, 0.1, 0.1))
    attn = Attention.identity(d, 1.0, 1.0)
    layers, path, _ = coupled_errors(x0, attn, 1.0, field, xi, [2, fine], [field])
    assert layers.shape == path.shape == (2, 1, 2)
    assert torch.all(layers[1] == 0) and torch.all(path[1] == 0)  # L = fine: the reference
    assert torch.all(path[0] >= layers[0]) and torch.all(layers[0] > 0)


def test_joint_runs_store_both_sups_and_are_deterministic():
    width = run_joint_width({**SPEC, "N": 3, "m": [8, 32]})
    assert width["err2_layers"].dims == ("L", "m", "seed")
    assert np.isinf(width["m"].values[-1]) and list(width["m"].values[:-1]) == [8, 32]
    assert (width["err2_path"] >= width["err2_layers"]).all()
    assert float(width["reference_error"]) > 0
    again = run_joint_width({**SPEC, "N": 3, "m": [8, 32]})
    np.testing.assert_array_equal(width["err2_path"].values, again["err2_path"].values)
    tokens = run_joint_tokens({**SPEC, "N": [2, 3]})
    assert tokens["err2_path"].dims == ("L", "N", "seed")
    assert tokens["reference_error_by_N"].shape == (2,)


def _replicates(theta, L, g, noise=0.0):
    """y (B+1, n) on the law ``theta`` with replicate rows scattered by ``noise`` (relative)."""
    rng = np.random.default_rng(0)
    law = joint_law(L, g, theta)
    return law * np.exp(noise * rng.standard_normal((41, len(L))))


def test_fit_law_recovers_the_coefficients_and_prefers_the_true_law():
    L, x = (a.ravel() for a in np.meshgrid([2.0, 4, 8, 16, 32], [16.0, 64, 256], indexing="ij"))
    g = 1.0 / x
    y = _replicates(JOINT_PATH, L, g, 0.02)
    y[0] = joint_law(L, g, JOINT_PATH)  # the sample on the law exactly
    fits = {law: fit_law(law, L, g, y, replicates=40) for law in ("theorem", "nolog", "log")}
    np.testing.assert_allclose(fits["log"].theta, JOINT_PATH[:3], rtol=1e-6)
    assert fits["log"].aic < min(fits["nolog"].aic, fits["theorem"].aic)
    share = log_share(fits["log"], 32.0)
    assert share[0] == pytest.approx(0.15 * math.log(32) / (0.6 + 0.15 * math.log(32)))
    crossed = (0.6, 0.15, 0.6, -2.0)
    y_cross = _replicates(crossed, L, g, 0.02)
    cross = fit_law("cross", L, g, y_cross, replicates=40)
    expected = -2.0 / 16 / 2 / joint_law(np.array([2.0]), np.array([1 / 16]), crossed)[0]
    assert cross_share(cross, 2.0, 1 / 16)[0] == pytest.approx(expected, rel=0.2)


def test_joint_claims_on_known_laws():
    joint = {
        "joint_width": [
            synthetic_joint(),
            synthetic_joint(activation="relu", path=(0.6, 0.15, 0.8, -2.0)),
        ],
        "joint_tokens": [synthetic_joint(axis="N", values=(4, 8, 16))],
    }
    tables = judge_tables(sde_claims([], [], [], [], OPTIONS, joint), CLAIMS, {}, OPTIONS)
    claims = tables["claims"].set_index(["claim", "activation", "quantity", "swept"])
    additive = claims.loc[("joint_commute", "tanh", "mse_path", "L,m")]
    assert additive["status"] == "matches"
    crossed = claims.loc[("joint_commute", "relu", "mse_path", "L,m")]
    assert crossed["status"] == "differs" and crossed["ci_high"] < 0
    assert claims.loc[("joint_log", "tanh", "mse_path", "L,m"), "status"] == "as predicted"
    assert claims.loc[("joint_log_layers", "tanh", "mse_layers", "L,m"), "status"] == "matches"
    bound = claims.loc[("joint_bound", "tanh", "mse_path", "1/rate(L,m)")]
    assert bound["status"] in ("holds on the grid", "holds, not sharp")
    laws = tables["joint_laws"]
    layers = laws[(laws["activation"] == "tanh") & (laws["grid"] == "width")]
    layers = layers[layers["quantity"] == "mse_layers"].set_index("law")
    assert layers.loc["nolog", "aic"] < layers.loc["theorem", "aic"]  # the no-log law's data
    assert layers.loc["log", "inv_L"] == pytest.approx(JOINT_LAYERS[0], rel=0.3)
    points = tables["joint_points"]
    assert set(points["grid"]) == {"width", "tokens"}
    assert np.isinf(points["x"]).any()
    fig = joint_figure(tables)
    axes = fig.axes
    assert len(axes) >= 6  # 3 stores × 2 quantities
    # the first panel draws, per width, the data and two laws against L
    lines = [line for line in axes[0].get_lines() if len(line.get_xdata()) == 5]
    assert len(lines) >= 3 * 4
    np.testing.assert_array_equal(lines[0].get_xdata(), [2, 4, 8, 16, 32])


def test_joint_tokens_unresolved_with_too_few_points():
    tiny = synthetic_joint(axis="N", values=(4, 8), L=(2, 4))
    tables = sde_claims([], [], [], [], OPTIONS, {"joint_tokens": [tiny]})
    claims = judge_tables(tables, CLAIMS, {}, OPTIONS)["claims"]
    commute = claims[claims["claim"] == "joint_commute"]
    assert (commute["status"] == "unresolved").all()
    assert commute["note"].str.contains("law needs").all()


def test_config_refuses_a_depth_that_does_not_divide_fine():
    config = load_config("config/test_sde.yaml")
    assert_invalid(config, put("sde.joint_width.L", [2, 3]), ["sde.joint_width.L[1]:", "divide"])
    assert_invalid(config, put("sde.joint_tokens.fine", 15), ["sde.joint_tokens.fine: 15 is odd"])
