"""Rates and verdicts of experiment ``lowtemp`` on synthetic run stores with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from attnlimits.analysis.claims import JUDGED_COLUMNS, judge_tables
from attnlimits.lowtemp.analysis import (
    off_axis_moment,
    phase_rates,
    predicted_phase_rate,
    shape,
    spectrum,
)
from attnlimits.lowtemp.claims import CLAIM_COLUMNS, CLAIMS, lowtemp_tables
from attnlimits.lowtemp.grid import RunKey, TerminalKey

OPTS = {
    "level": 0.95,
    "times": [1.0, 2.0],
    "phase_window": [2.0, 6.0],
    "phase_rate_tol": 0.15,
    "terminal_window": [1.0, 6.0],
    "terminal_floor": 1e-10,
    "terminal_tol": 1e-3,
}
BETAS = np.array([4.0, 8.0, 16.0, 32.0, 64.0])
TIMES = np.linspace(0.0, 6.0, 25)
PLAIN = RunKey("h", "plain")


def synthetic_run(
    lambda_2: float = 0.5, approach: bool = True, beta_exponent: float = -0.5
) -> xr.Dataset:
    """A run store whose quantities follow known laws:

    - W2(μ^β_t, μ^∞_t) = β^beta_exponent · e^{t/2} (so the slope in log β is beta_exponent);
    - W2(μ^∞_t, T#μ₀) = 0.4 e^{−t} if ``approach`` else 0.4 (no approach);
    - W2(μ^β_t, T#μ₀) = W2(μ^∞_t, T#μ₀) + 0.05 s(β) e^{t}: minimal at t* = ½ log(8/s(β)), which
      grows with β;
    - particles (a_i, b_i e^{−λ₂ t}) with V = diag(1, λ₂): off-axis moment Σ w b² e^{−2λ₂ t}.
    """
    rng = np.random.default_rng(0)
    n = 40
    a, b = rng.normal(size=n), rng.normal(size=n)
    w = np.full(n, 1.0 / n)
    decay = np.exp(-lambda_2 * TIMES)
    one = np.stack([np.broadcast_to(a, (len(TIMES), n)), b[None, :] * decay[:, None]], axis=-1)
    particles = np.broadcast_to(one, (len(BETAS), *one.shape))
    hard = 0.4 * np.exp(-TIMES) if approach else np.full(len(TIMES), 0.4)
    w2_hard = BETAS[:, None] ** beta_exponent * np.exp(TIMES / 2)[None, :]
    w2_target = hard[None, :] + 0.05 * shape(BETAS)[:, None] * np.exp(TIMES)[None, :]
    return xr.Dataset(
        {
            "w2_hardmax": (("beta", "time"), w2_hard),
            "coupling_hardmax": (("beta", "time"), 2 * w2_hard),
            "w2_target": (("beta", "time"), w2_target),
            "hardmax_w2_target": (("time",), hard),
            "particles": (("beta", "time", "particle", "component"), particles),
            "hardmax_particles": (("time", "particle", "component"), one),
            "weights": (("particle",), w),
            "head_v": (("row", "column"), np.diag([1.0, lambda_2])),
        },
        coords={"beta": BETAS, "time": TIMES},
        attrs={"exact_w2": 1, "particle_count": n},
    )


def synthetic_terminal(n: int, rate: float) -> xr.Dataset:
    return xr.Dataset(
        {"hardmax_w2_target": (("time",), 0.4 * np.exp(rate * TIMES))},
        coords={"time": TIMES},
        attrs={"particle_count": n},
    )


#: What the claims' premises read: the kind of each head of the synthetic runs.
CONFIG = {"lowtemp": {"heads": {"h": {"kind": "identity"}, "g": {"kind": "identity"}}}}


def claims_of(run: xr.Dataset, key: RunKey = PLAIN, terminals=()):
    tables = lowtemp_tables([(key, run)], list(terminals), OPTS)
    tables = judge_tables(tables, CLAIMS, CONFIG, OPTS)  # as the fit job judges them
    return tables, tables["claims"].set_index("claim", drop=False)


def test_beta_slopes_recover_the_exponent_and_judge_it():
    for exponent, verdict in ((-0.5, "matches"), (-1.0, "faster"), (-0.2, "slower")):
        tables, _ = claims_of(synthetic_run(beta_exponent=exponent))
        claims = tables["claims"]
        rows = claims[claims["claim"] == "beta_slope"]
        assert sorted(rows["time"]) == [1.0, 2.0]  # only the claimed times
        assert np.allclose(rows["fitted"], exponent)
        assert (rows["status"] == verdict).all()
        slopes = tables["slopes"]
        assert len(slopes) == 2 * (len(TIMES) - 1)  # every t > 0, two regressors
        # every time's row judged as a claim row would be
        assert (slopes.loc[slopes["regressor"] == "log_beta", "status"] == verdict).all()


def test_t_star_grows_with_beta_when_the_hardmax_flow_approaches_the_target():
    tables, claims = claims_of(synthetic_run())
    t_star = tables["best_times"].set_index("beta")["t_star"]
    expected = 0.5 * np.log(8.0 / shape(BETAS))  # the vertex of 0.4 e^-t + 0.05 s e^t
    assert np.allclose(t_star.values, expected, atol=0.02)
    row = claims.loc["t_star"]
    assert row["status"] == "as predicted" and row["ci_low"] > 0
    assert "premise fails" not in row["note"]


def test_t_star_has_no_prediction_when_the_hardmax_flow_does_not_approach():
    _, claims = claims_of(synthetic_run(approach=False))
    row = claims.loc["t_star"]
    assert row["status"] == "outside the premise" and "premise fails" in row["note"]


def test_phase_rate_is_recovered_and_judged_against_minus_two_lambda_2():
    for lam in (0.25, 0.5):
        table, curves = phase_rates(synthetic_run(lam), "plain", (2.0, 6.0))
        assert np.allclose(table["rate"], -2 * lam) and np.allclose(table["predicted"], -2 * lam)
        assert set(curves["beta"]) == {*BETAS, np.inf}
    _, claims = claims_of(synthetic_run(0.5))
    phase = claims[claims["claim"] == "phase"]
    assert len(phase) == len(BETAS) + 1 and (phase["status"] == "matches").all()
    # the consensus variant has no derived rate: no phase claim, but the table has the rates
    tables, claims = claims_of(synthetic_run(0.5), RunKey("h", "consensus"))
    assert "phase" not in set(claims["claim"])
    assert tables["phase"]["predicted"].isna().all()


def test_phase_prediction_follows_the_spectrum():
    assert predicted_phase_rate("plain", np.array([1.0, 1.0])) == 0.0  # no gap, no collapse
    assert predicted_phase_rate("plain", np.array([1.0, 0.3])) == pytest.approx(-0.6)
    assert np.isnan(predicted_phase_rate("consensus", np.array([1.0, 0.3])))
    rotation = np.array([[1.0, -0.5], [0.5, 1.0]])  # complex eigenvalues: no top direction
    assert spectrum(rotation) is None
    assert np.isnan(off_axis_moment(np.ones((3, 4, 2)), np.full(4, 0.25), rotation)).all()
    values, vectors = spectrum(np.array([[0.5, 0.0], [0.0, 2.0]]))
    assert values.tolist() == [2.0, 0.5] and abs(vectors[1, 0]) == 1.0  # sorted, largest first


def test_terminal_claims():
    terminals = [
        (TerminalKey("h", "plain", s), synthetic_terminal(4 * s * s, -1.0)) for s in (2, 4, 8)
    ] + [(TerminalKey("g", "plain", s), synthetic_terminal(4 * s * s, 0.1)) for s in (2, 4, 8)]
    tables, _ = claims_of(synthetic_run(), terminals=terminals)
    claims = tables["claims"].set_index(["head", "claim"])
    law, rate = claims.loc[("h", "terminal_law")], claims.loc[("h", "terminal_time")]
    assert law["fitted"] == pytest.approx(0.4 * np.exp(-6.0)) and law["status"] == "matches"
    assert rate["fitted"] == pytest.approx(-1.0) and rate["status"] == "as predicted"
    assert claims.loc[("h", "terminal_N"), "status"] in ("holds on the grid", "holds, not sharp")
    assert claims.loc[("g", "terminal_law"), "status"] == "differs"
    assert claims.loc[("g", "terminal_time"), "status"] == "opposite"
    assert list(tables["claims"].columns) == CLAIM_COLUMNS + JUDGED_COLUMNS
    assert sorted(tables["terminal"]["N"].unique()) == [16, 64, 256]


def test_beta_claims_need_a_positive_definite_qk():
    run = synthetic_run()
    pd_head = run.assign(
        head_q=(("row", "column"), np.eye(2)), head_k=(("row", "column"), np.eye(2))
    )
    _, claims = claims_of(pd_head)
    assert (claims.loc[["beta_shape"], "status"] != "outside the premise").all()
    # QᵀK = diag(1, −1): indefinite, so P3's estimate does not apply
    flip = np.diag([1.0, -1.0])
    bad = run.assign(head_q=(("row", "column"), np.eye(2)), head_k=(("row", "column"), flip))
    _, claims = claims_of(bad)
    rows = claims.loc[["beta_shape", "beta_slope"]]
    assert (rows["status"] == "outside the premise").all()
    assert rows["note"].str.contains("not positive definite").all()
