"""Claims of experiment ``heads`` on synthetic datasets with known rates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fit_options import FIT_OPTIONS
from heads_synthetic import synthetic_heads

from attnlimits.analysis.claims import JUDGED_COLUMNS, judge_tables
from attnlimits.analysis.tables import write_tables
from attnlimits.heads.claims import CLAIMS, heads_claims, heads_statistics
from attnlimits.heads.plots import heads_figures, trajectories_figure
from attnlimits.p1.rates import COLUMNS, find_grids
from attnlimits.plots import read_tables

OPTIONS = FIT_OPTIONS
PLOTS = {"format": "png", "dpi": 50, "context": "paper"}


@pytest.fixture(scope="module")
def dataset():
    # encoder: bias ∝ 1/L as predicted; causal: bias ∝ L^(-1/2), a violation.
    return synthetic_heads(bias_exponent={"encoder": 1.0, "causal": 0.5})


def judged(tables):
    """The claims judged as the fit job judges them (attnlimits.heads.jobs.fit)."""
    return judge_tables(tables, CLAIMS, {"heads": {"fits": OPTIONS}})


@pytest.fixture(scope="module")
def tables(dataset):
    return judged(heads_claims(dataset, OPTIONS))


def claim(tables, name, mask):
    rows = tables["claims"].query("claim == @name and mask == @mask")
    assert len(rows) == 1
    return rows.iloc[0]


def test_grids_found(dataset):
    stats = heads_statistics(dataset, OPTIONS)
    grids = find_grids(stats)
    depth = [g for g in grids if g.name == "depth_heads"]
    tokens = [g for g in grids if g.name == "tokens"]
    assert [g.fixed["mask"] for g in depth] == ["encoder", "causal"]
    np.testing.assert_array_equal(depth[0].swept["L"], [4, 8, 16, 32])
    np.testing.assert_array_equal(depth[0].swept["H"], [1, 4, 16, 64])
    assert depth[0].fixed["N"] == 16
    assert len(tokens) == 2
    assert (tokens[0].fixed["L"], tokens[0].fixed["H"]) == (16, 4)
    np.testing.assert_array_equal(tokens[0].swept["N"], [8, 16, 32, 64])


def test_tables_have_their_columns(tables):
    for name, columns in COLUMNS.items():
        extra = JUDGED_COLUMNS if name == "claims" else []
        assert list(tables[name].columns) == columns + extra
        assert len(tables[name]) > 0, name


def test_bias_claim_recovers_known_exponents(tables):
    good = claim(tables, "bias_L", "encoder")
    assert good["fitted"] == pytest.approx(-1.0, abs=0.05)
    assert good["status"] == "holds on the grid" and good["source"].startswith("P1")
    assert good["H"] == 64 and pd.isna(good["L"]) and good["n_points"] == 4
    bad = claim(tables, "bias_L", "causal")
    assert bad["fitted"] == pytest.approx(-0.5, abs=0.05)
    assert bad["status"] == "contradicted"


def test_fluctuation_claims(tables):
    for mask in ("encoder", "causal"):
        h = claim(tables, "fluct_H", mask)
        assert h["fitted"] == pytest.approx(-0.5, abs=0.05) and h["status"] == "holds on the grid"
        assert h["n_points"] == 16
        bound = claim(tables, "fluct_L_bound", mask)
        clt = claim(tables, "fluct_L_clt", mask)
        assert bound["fitted"] == clt["fitted"] == pytest.approx(-0.5, abs=0.05)
        assert bound["status"] == "holds, not sharp"
        assert bound["predicted"] == pytest.approx(-1 / 3)
        assert clt["ci_low"] < -0.45 and clt["ci_high"] > -0.55


def test_tokens_claims_pass_when_error_decays(tables):
    for mask in ("encoder", "causal"):
        row = claim(tables, "e_inf_N", mask)
        assert row["ci_high"] < 0 and row["status"] == "holds, not sharp"
        err = claim(tables, "err_N", mask)
        assert err["fitted"] == pytest.approx(-0.5, abs=0.05)


def test_tokens_claim_fails_when_error_grows():
    ds = synthetic_heads(L=(16,), H=(4,), n_exponent=0.5, bias_exponent={"encoder": 1.0})
    out = judged(heads_claims(ds, OPTIONS))
    assert set(out["claims"]["claim"]) == {"e_inf_N", "err_N"}  # no depth × heads grid
    row = claim(out, "e_inf_N", "encoder")
    assert row["ci_low"] > 0.1 and row["status"] == "contradicted"
    assert out["two_term"].empty


def test_solver_and_snr_exclusions():
    ds = synthetic_heads(bias_exponent={"encoder": 1.0}, limit_error=0.0015, bias_scale=0.3)
    out = heads_claims(ds, OPTIONS)
    pts = out["points"]
    np.testing.assert_array_equal(pts["excluded_solver"], pts["err"] < 10 * 0.0015)
    np.testing.assert_array_equal(pts["bias_below_snr"], ~(pts["bias"] > 2 * pts["noise_floor"]))
    assert pts["excluded_solver"].any() and not pts["excluded_solver"].all()
    depth = pts[(pts.grid == "depth_heads") & (pts.H == 64)]
    assert depth["bias_below_snr"].any()
    bias = claim(out, "bias_L", "encoder")
    dropped = depth["excluded_solver"] | depth["bias_below_snr"]
    assert bias["n_excluded"] == dropped.sum() and bias["n_points"] == (~dropped).sum()
    fluct = claim(out, "fluct_H", "encoder")
    solver = pts[pts.grid == "depth_heads"]["excluded_solver"].sum()
    assert fluct["n_excluded"] == solver and fluct["n_points"] == 16 - solver


def test_local_slopes_match_points(tables):
    pts = tables["points"].query("grid == 'depth_heads' and mask == 'encoder' and H == 4")
    err = pts.set_index("L")["err"]
    rows = tables["local_slopes"].query(
        "grid == 'depth_heads' and mask == 'encoder' and quantity == 'err' and H == 4"
    )
    assert list(rows["x_low"]) == [4, 8, 16]
    want = [np.log(err[2 * a] / err[a]) / np.log(2) for a in (4, 8, 16)]
    np.testing.assert_allclose(rows["slope"], want, rtol=1e-12)
    assert (rows["ci_low"] <= rows["ci_high"]).all()


def test_slopes_table_and_lines(tables):
    slopes = tables["slopes"]
    per_h = slopes.query("mask == 'encoder' and quantity == 'err' and swept == 'L'")
    assert sorted(per_h["H"]) == [1, 4, 16, 64]
    joint = slopes.query("mask == 'encoder' and fit == 'joint'")
    assert sorted(joint["swept"]) == ["H", "L"]
    lines = tables["lines"].query("mask == 'encoder' and quantity == 'bias'")
    assert (lines["y_low"] <= lines["y"]).all() and (lines["y"] <= lines["y_high"]).all()
    assert lines["x"].min() == pytest.approx(4) and lines["x"].max() == pytest.approx(32)


def test_two_term_table(tables):
    tt = tables["two_term"]
    assert len(tt) == 12
    for _, group in tt.groupby("mask"):
        forms = ["bound", "clt", "free"]
        assert sorted(group["form"]) == sorted(forms + [f"{f}_quadrature" for f in forms])
        assert group["supported"].sum() == 1
        assert group.loc[group["supported"], "delta_aic"].item() == 0
        assert (group["delta_aic"] >= 0).all()
        fixed = group.set_index("form")
        assert fixed.loc["bound", "q"] == pytest.approx(1 / 3)
        assert fixed.loc["clt", "q"] == pytest.approx(0.5)


def test_statistics_input_gives_the_same_tables(dataset, tables):
    again = judged(heads_claims(heads_statistics(dataset, OPTIONS), OPTIONS))
    pd.testing.assert_frame_equal(again["claims"], tables["claims"])


def test_write_tables_and_figures(tables, tmp_path):
    paths = write_tables(tables, tmp_path / "tables")
    assert len(paths) == 3 * (len(COLUMNS) + 1)  # csv, md and html; and the solver table
    pages = [p for p in paths if p.suffix == ".html"]
    assert all(f"<p>{len(tables[p.stem])} rows</p>" in p.read_text() for p in pages)
    assert all(p.stat().st_size > 0 for p in paths)
    back = read_tables(tmp_path / "tables")
    figures = heads_figures(back, tmp_path / "plots", PLOTS)
    assert [f.name for f in figures] == [
        "err_vs_L.png", "err_vs_H.png", "bias_fluct_vs_L.png", "e_inf_vs_N.png",
        "local_slopes.png",
    ]  # fmt: skip
    assert all(f.stat().st_size > 1000 for f in figures)


@pytest.mark.parametrize("d", [2, 3])
def test_trajectories_figure(tmp_path, d):
    rng = np.random.default_rng(0)
    t_limit = np.linspace(0, 1, 17)
    x = rng.standard_normal((17, 5, d)).cumsum(axis=0) * 0.05
    X = x[::4] + 0.01 * rng.standard_normal((5, 5, d))
    path = trajectories_figure(X, x, t_limit[::4], t_limit, tmp_path / "t.png", PLOTS, "cell")
    assert path.stat().st_size > 1000


def test_solver_table_compares_limit_error_with_smallest_error(tables):
    solver = tables["solver"]
    assert len(solver) > 0
    np.testing.assert_allclose(solver["ratio"], solver["smallest_err"] / solver["limit_error"])
    assert (solver["margin_met"] == (solver["ratio"] >= 10.0)).all()
