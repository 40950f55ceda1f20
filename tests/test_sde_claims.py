"""Claims and figures of experiment ``sde`` on synthetic stores with known exponents."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sde_synthetic import (
    CHAOS_REFERENCE_ERROR,
    synthetic_chaos,
    synthetic_depth,
    synthetic_stores,
    synthetic_sync,
)

from attnlimits.analysis.claims import JUDGED_COLUMNS, STATUSES, judge_tables
from attnlimits.sde.claims import (
    CLAIMS,
    COLUMNS,
    effective_paths,
    rms_replicates,
    sde_claims,
    write_tables,
)
from attnlimits.sde.plots import FIGURES, sde_figures

OPTIONS = {
    "bootstrap": 200,
    "bootstrap_seed": 3,
    "level": 0.95,
    "tolerance_depth": 0.1,
    "tolerance_width": 0.1,
    "tolerance_energy": 0.2,
    "tolerance_lyapunov": 0.1,
    "floor_factor": 10.0,
    "late_fraction": 0.5,
    "min_effective_paths": 32,
    "cluster_threshold": 1e-3,
    "law_replicates": 30,
    "tolerance_joint": 0.1,
    "cluster_angle": 0.1,
    "antipodal_threshold": 0.5,
}
PLOTS = {"format": "png", "dpi": 50, "context": "paper"}


@pytest.fixture(scope="module")
def stores():
    return synthetic_stores()


@pytest.fixture(scope="module")
def tables(stores):
    joint = {kind: stores[kind] for kind in ("joint_width", "joint_tokens")}
    raw = sde_claims(
        stores["depth"], stores["width"], stores["chaos"], stores["sync"], OPTIONS, joint,
        stores["odd"],
    )  # fmt: skip
    return judge_tables(raw, CLAIMS, {}, OPTIONS)


def judged(tables):
    return judge_tables(tables, CLAIMS, {}, OPTIONS)


def agrees(row):
    return STATUSES[row["status"]]


def claim(tables, name, **keys):
    rows = tables["claims"]
    rows = rows[rows["claim"] == name]
    for key, value in keys.items():
        rows = rows[rows[key] == value]
    assert len(rows) == 1, (name, keys, len(rows))
    return rows.iloc[0]


def test_tables_have_their_columns(tables):
    assert set(tables) == set(COLUMNS)
    for name, columns in COLUMNS.items():
        judged_columns = JUDGED_COLUMNS if name == "claims" else []
        assert list(tables[name].columns) == [*columns, *judged_columns]
        assert len(tables[name]) > 0, name
    assert (tables["claims"]["experiment"] == "sde").all()


def test_rms_replicates_matches_the_definition():
    err2 = np.array([[1.0, 4.0], [9.0, 16.0]])
    w = np.array([[0.5, 0.5], [1.0, 0.0]])
    np.testing.assert_allclose(rms_replicates(err2, w), [[np.sqrt(2.5), np.sqrt(12.5)], [1, 3]])


def test_depth_claims_recover_the_exponents(tables):
    good = claim(tables, "depth_L", activation="tanh", attention_sign=1)
    assert good["fitted"] == pytest.approx(-0.5, abs=0.04)
    assert good["status"] == "holds on the grid" and agrees(good)
    assert good["n_points"] == 5 and good["n_excluded"] == 0
    fast = claim(tables, "depth_L", activation="tanh", attention_sign=0)
    assert fast["fitted"] == pytest.approx(-1.0, abs=0.08)
    assert fast["status"] == "holds, not sharp" and agrees(fast)
    slow = claim(tables, "depth_L", activation="relu")
    assert slow["fitted"] == pytest.approx(-0.25, abs=0.04)
    assert slow["status"] == "contradicted" and agrees(slow) is False


def test_depth_exclusion_near_the_reference_error(tables):
    row = claim(tables, "depth_L", activation="tanh", attention_sign=0)
    assert row["n_points"] == 3 and row["n_excluded"] == 1
    pts = tables["points"].query(
        "quantity == 'rms_error' and swept == 'L' and activation == 'tanh' and attention_sign == 0"
    )
    np.testing.assert_array_equal(pts["excluded"], pts["y"] <= 10 * 1e-3)
    assert list(pts.loc[pts["excluded"], "x"]) == [32]
    ref = tables["reference"].set_index("attention_sign").loc[0]
    assert ref["smallest_rms_error"] == pytest.approx(pts["y"].min())
    assert ref["ratio"] == pytest.approx(pts["y"].min() / 1e-3)
    assert not ref["margin_met"]
    assert tables["reference"]["margin_met"].sum() == 2


def test_width_claims(tables):
    good = claim(tables, "width_m", activation="tanh")
    assert good["fitted"] == pytest.approx(-0.5, abs=0.04) and good["status"] == "holds on the grid"
    bad = claim(tables, "width_m", activation="relu")
    assert bad["fitted"] == pytest.approx(-0.25, abs=0.04) and bad["status"] == "contradicted"
    cov = tables["lines"].query("quantity == 'cov_rel_err' and activation == 'tanh'")
    assert (cov["y_low"] <= cov["y"]).all() and (cov["y"] <= cov["y_high"]).all()


def test_chaos_claims_ambient_and_intrinsic(tables):
    for kind in ("ambient", "intrinsic"):
        row = claim(tables, f"chaos_N_{kind}", d=3)
        # the interval straddles the rate: the constant does not grow significantly
        assert row["predicted"] == -0.5 and row["status"] == "holds on the grid"
        # N = 512 within 10 × its reference error (the floor, 0.02, would exclude N >= 32)
        assert row["n_points"] == 5 and row["n_excluded"] == 1
    ambient = claim(tables, "chaos_N_ambient", d=6)
    intrinsic = claim(tables, "chaos_N_intrinsic", d=6)
    assert ambient["fitted"] == intrinsic["fitted"] == pytest.approx(-0.4, abs=0.05)
    assert ambient["predicted"] == pytest.approx(-1 / 3) and ambient["status"] == "holds, not sharp"
    assert intrinsic["predicted"] == pytest.approx(-0.4)
    assert intrinsic["status"] == "holds on the grid"
    pts = tables["points"].query("quantity == 'sup_w2' and d == 3")
    ref = tables["points"].query("quantity == 'reference_error' and d == 3")
    np.testing.assert_allclose(ref["y"], CHAOS_REFERENCE_ERROR, rtol=1e-9)
    np.testing.assert_array_equal(pts["excluded"], pts["y"].values <= 10 * ref["y"].values)
    assert list(pts.loc[pts["excluded"], "x"]) == [512]
    rows = tables["chaos_reference"].set_index(["d", "N"])
    assert list(rows.loc[3, "rule"].unique()) == ["halving"]
    assert list(rows.loc[6, "rule"].unique()) == ["floor"]  # no sup_w2_half: the fallback
    assert not rows.loc[6, "excluded"].any() and rows.loc[6, "reference_error"].isna().all()
    trunc = tables["chaos_truncation"].set_index("d")
    assert sorted(trunc.index) == [3, 6]
    assert trunc.loc[3, "truncation_max"] == pytest.approx(0.02)
    assert trunc.loc[3, "relative_max"] == pytest.approx(0.02 / 1.2)


def test_chaos_exclusion_uses_each_n_reference_error():
    errors = [1e-4, 1e-4, 0.02, 1e-4]  # N = 64 (mean ≈ 0.125) lies within 10 × its own
    ds = synthetic_chaos(d=3, N=(16, 32, 64, 128), floor=0.01, reference_error=errors)
    out = sde_claims([], [], [ds], [], OPTIONS)
    for kind in ("ambient", "intrinsic"):
        row = claim(out, f"chaos_N_{kind}")
        assert row["n_points"] == 3 and row["n_excluded"] == 1
        assert "reference error" in row["note"] and "64: 0.02" in row["note"]
        assert "not used" in row["note"]
    pts = out["points"].query("quantity == 'sup_w2'")
    assert list(pts.loc[pts["excluded"], "x"]) == [64]
    ref = out["points"].query("quantity == 'reference_error'")
    # the difference is exact on every bootstrap replicate of the synthetic store
    np.testing.assert_allclose(ref[["y", "y_low", "y_high"]].values.T, [errors] * 3, rtol=1e-9)
    table = out["chaos_reference"]
    assert list(table.columns) == COLUMNS["chaos_reference"]
    assert list(table["N"]) == [16, 32, 64, 128] and (table["rule"] == "halving").all()
    assert list(table.loc[table["excluded"], "N"]) == [64]
    np.testing.assert_allclose(table["reference_error"], errors, rtol=1e-9)
    np.testing.assert_allclose(table["sup_w2_half"] - table["sup_w2"], errors, rtol=1e-9)
    np.testing.assert_allclose(table["sup_w2"], pts["y"])
    np.testing.assert_allclose(table["ratio"], table["sup_w2"] / table["reference_error"])
    assert (table["N_ref"] == 2048).all() and (table["margin"] == 10.0).all()

    # an old store without sup_w2_half: the floor rule (10 × 0.01 excludes N = 128 only)
    old = sde_claims([], [], [ds.drop_vars("sup_w2_half")], [], OPTIONS)
    row = claim(old, "chaos_N_ambient")
    assert row["n_points"] == 3 and row["n_excluded"] == 1 and "mean floor" in row["note"]
    table = old["chaos_reference"]
    assert list(table.loc[table["excluded"], "N"]) == [128] and (table["rule"] == "floor").all()
    assert table["reference_error"].isna().all()
    np.testing.assert_allclose(table["ratio"], table["sup_w2"] / table["floor"])
    assert old["points"].query("quantity == 'reference_error'").empty


def test_chaos_note_at_k4():
    out = sde_claims([], [], [synthetic_chaos(d=5)], [], OPTIONS)
    intrinsic = claim(out, "chaos_N_intrinsic", d=5)
    assert "log" in intrinsic["note"] and "log" not in claim(out, "chaos_N_ambient")["note"]


def test_energy_rates(tables):
    noise = claim(tables, "energy_rate", activation="tanh", attention_sign=0)
    assert noise["fitted"] == pytest.approx(-1.0, abs=0.01)
    assert noise["predicted"] == -1.0 and noise["status"] == "matches"
    assert noise["n_points"] == 61  # t >= 6 of 0..12 in steps of 0.1
    attract = claim(tables, "energy_bound", activation="tanh", attention_sign=1)
    assert attract["predicted"] == -0.6 and attract["status"] == "holds, not sharp"
    repulse = claim(tables, "energy_bound", activation="tanh", attention_sign=-1)
    # the bound's ε = 0 holds for attractive attention only: no verdict for a repulsive head
    assert repulse["status"] == "outside the premise" and agrees(repulse) is None
    off = claim(tables, "energy_rate", activation="relu", attention_sign=0)
    assert off["status"] == "outside the premise" and agrees(off) is None


def test_energy_fit_skips_underflow():
    ds = synthetic_sync()
    energy = ds["energy"].values.copy()
    energy[:, -20:] = 0.0
    ds = ds.assign(energy=(("path", "time"), energy))
    row = claim(sde_claims([], [], [], [ds], OPTIONS), "energy_rate")
    # resolved up to t = 10: the late window is its second half, t in [5, 10]
    assert row["n_points"] == 51 and row["fitted"] == pytest.approx(-1.0, abs=0.01)


def test_energy_fit_stops_at_the_numerical_floor():
    ds = synthetic_sync(rate=-4.0)  # e^{-48} at t = 12: far below the floor
    energy = ds["energy"].values.copy()
    floor = 1e-17 * energy[:, :1]
    assert (energy < floor).any()
    ds = ds.assign(energy=(("path", "time"), np.maximum(energy, floor)))  # a collapsed plateau
    row = claim(sde_claims([], [], [], [ds], OPTIONS), "energy_rate")
    assert row["fitted"] == pytest.approx(-4.0, abs=0.05)


def test_effective_paths():
    even = np.ones((10, 3))
    one = np.zeros((10, 3))
    one[0] = 1.0
    np.testing.assert_allclose(effective_paths(even), 10.0)
    np.testing.assert_allclose(effective_paths(one), 1.0)
    assert effective_paths(np.zeros((4, 2))).tolist() == [0.0, 0.0]


def test_energy_fit_stops_where_few_paths_carry_the_mean():
    """Log-normal paths: log E_p = −1.5 t + sqrt(2 v t) Z_p with v = 0.5, so that
    E[E] = e^{(v − 1.5) t} = e^{−t}; past a few time units a handful of paths carry the sample
    mean, which then decays faster than −1 (towards −1.5). The window must stop before that."""
    rng = np.random.default_rng(0)
    ds = synthetic_sync(paths=256)
    t = ds["time"].values
    z = rng.standard_normal((256, 1))
    energy = 0.3 * np.exp(-1.5 * t[None, :] + np.sqrt(2 * 0.5 * t[None, :]) * z)
    ds = ds.assign(energy=(("path", "time"), energy))
    strict = claim(sde_claims([], [], [], [ds], OPTIONS), "energy_rate")
    loose = claim(
        sde_claims([], [], [], [ds], {**OPTIONS, "min_effective_paths": 1}), "energy_rate"
    )
    assert effective_paths(energy)[-1] < 32 <= effective_paths(energy)[0]
    assert strict["n_points"] < loose["n_points"]
    assert abs(strict["fitted"] + 1.0) < abs(loose["fitted"] + 1.0)
    assert strict["fitted"] == pytest.approx(-1.0, abs=0.2)
    assert "effective paths" in strict["note"]


def test_lyapunov_and_moment_rate(tables):
    lyap = claim(tables, "lyapunov", activation="tanh")
    assert lyap["predicted"] == -0.8 and lyap["fitted"] == pytest.approx(-0.8, abs=0.04)
    assert lyap["ci_low"] < lyap["fitted"] < lyap["ci_high"] and lyap["status"] == "matches"
    moment = claim(tables, "moment_rate", activation="tanh")
    assert moment["fitted"] == pytest.approx(-1.0, abs=0.05) and moment["status"] == "matches"
    assert not (tables["claims"]["claim"].isin(["lyapunov", "moment_rate"])
                & (tables["claims"]["attention_sign"] != 0)).any()  # fmt: skip
    parity = tables["points"].query("swept == 'predicted'")
    assert sorted(parity["quantity"]) == sorted(
        ["lyapunov"] * 2 + ["moment_rate"] * 2 + ["energy_rate"]
    )


def test_cluster_logic(tables):
    rows = tables["claims"].query("claim == 'cluster'")
    assert len(rows) == 5
    for sign in (1, 0):
        row = claim(tables, "cluster", activation="tanh", attention_sign=sign)
        assert row["observed"] == row["expected"] == "clusters" and row["status"] == "as predicted"
        assert row["fitted"] < 1e-3
    repulse = claim(tables, "cluster", activation="tanh", attention_sign=-1)
    assert repulse["observed"] == "no clusters" and repulse["expected"] == "no prediction"
    assert repulse["status"] == "outside the premise"
    row = claim(tables, "cluster", activation="relu", attention_sign=0)
    assert row["observed"] == "no clusters" and row["expected"] == "no prediction"
    assert row["status"] == "outside the premise" and row["fitted"] == pytest.approx(1.0, abs=0.05)
    # with attention on, a bound λ̄′ >= 0 guarantees nothing: no prediction
    row = claim(tables, "cluster", activation="relu", attention_sign=1)
    assert row["observed"] == "no clusters" and row["expected"] == "no prediction"
    assert row["status"] == "outside the premise"


def test_cluster_prediction_can_fail():
    # the bound predicts clustering (rate_bound < 0) but the energy stays flat
    ds = synthetic_sync(attention_sign=1, rate=0.0, rate_bound=-0.5)
    row = claim(judged(sde_claims([], [], [], [ds], OPTIONS)), "cluster")
    assert row["observed"] == "no clusters" and row["expected"] == "clusters"
    assert row["status"] == "contradicted"
    odd = synthetic_sync(attention_sign=0, rate=-1.0, odd_field=True)
    row = claim(judged(sde_claims([], [], [], [odd], OPTIONS)), "cluster")
    # an odd field: no prediction, whatever is observed
    assert row["observed"] == "clusters" and row["expected"] == "no prediction"
    assert row["status"] == "outside the premise"


def test_bootstrap_is_reproducible_and_brackets_the_estimate(stores, tables):
    again = sde_claims([synthetic_depth()], [], [], [], OPTIONS)
    first = claim(tables, "depth_L", activation="tanh", attention_sign=1)
    row = claim(again, "depth_L")
    assert row["ci_low"] == first["ci_low"] and row["ci_high"] == first["ci_high"]
    pts = tables["points"]
    finite = pts[np.isfinite(pts["y_low"])]
    assert (finite["y_low"] <= finite["y_high"]).all()


def test_empty_inputs_give_empty_tables(tmp_path):
    out = sde_claims([], [], [], [], OPTIONS)
    assert all(frame.empty for frame in out.values())
    paths = sde_figures(out, {}, tmp_path, PLOTS)
    assert [p.stem for p in paths] == list(FIGURES)
    assert all(p.stat().st_size > 0 for p in paths)


def test_write_tables_and_figures(stores, tables, tmp_path):
    paths = write_tables(tables, tmp_path / "tables")
    assert len(paths) == 3 * len(COLUMNS)  # csv, md and html
    assert all(p.stat().st_size > 0 for p in paths)
    back = {name: pd.read_csv(tmp_path / "tables" / f"{name}.csv") for name in COLUMNS}
    figures = sde_figures(back, stores, tmp_path / "plots", PLOTS)
    assert [f.name for f in figures] == [f"{name}.png" for name in FIGURES]
    assert all(f.stat().st_size > 5000 for f in figures)


def test_two_point_claims_carry_the_step_extrapolation():
    ds = synthetic_sync(attention_sign=0, lambda_1=-0.8)
    assert "extrapolated" not in ds
    plain = claim(judged(sde_claims([], [], [], [ds], OPTIONS)), "lyapunov")
    assert np.isnan(plain["extrapolated"])
    # the step-Δ estimate is off by 20%; the 2Δ run twice as far: Richardson recovers λ₁
    biased = ds.assign(lyap_per_path=ds["lyap_per_path"] * 1.2)
    biased["lyap_per_path_coarse"] = ds["lyap_per_path"] * 1.4
    biased["moment_ratio_sq_coarse"] = ds["moment_ratio_sq"] ** 2
    row = claim(judged(sde_claims([], [], [], [biased], OPTIONS)), "lyapunov")
    mean = float(ds["lyap_per_path"].mean())
    assert row["fitted"] == pytest.approx(1.2 * mean)
    assert row["extrapolated"] == pytest.approx(mean)
    assert row["status"] == "unresolved" and "finite-step bias" in row["reason"]
    # a coarse run that agrees with the fine one: no step bias, the difference stands
    biased["lyap_per_path_coarse"] = biased["lyap_per_path"]
    row = claim(judged(sde_claims([], [], [], [biased], OPTIONS)), "lyapunov")
    assert row["status"] == "contradicted"
    moment = claim(judged(sde_claims([], [], [], [biased], OPTIONS)), "moment_rate")
    dt = float(ds.attrs["two_point_dt"])
    fine = np.log(float(ds["moment_ratio_sq"].mean())) / dt
    coarse = np.log(float((ds["moment_ratio_sq"] ** 2).mean())) / (2 * dt)
    assert moment["extrapolated"] == pytest.approx(2 * fine - coarse)


def test_cluster_interval_straddling_the_threshold_is_unresolved():
    ds = synthetic_sync(attention_sign=0, rate=-1.0)
    horizon = float(ds["time"].max())
    threshold = float(np.exp(-horizon))  # the mean energy ends near the threshold
    row = claim(
        judged(sde_claims([], [], [], [ds], {**OPTIONS, "cluster_threshold": threshold})),
        "cluster",
    )
    assert row["ci_low"] <= threshold <= row["ci_high"]
    assert row["status"] == "unresolved" and "straddles" in row["reason"]
