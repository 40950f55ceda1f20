"""The N sweep, the regime in N and the metastable window's crossings of experiment ``lowtemp``
(``families``, ``convergence``, ``regime``, ``metastability.window``, their claims, checks and
figures), on cases built to have known answers; the window's jobs, tables and claims are in
``test_lowtemp_metastable.py``."""

from __future__ import annotations

import copy
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr
from config_edits import assert_invalid, put
from test_lowtemp_claims import BETAS, OPTS, TIMES, synthetic_run

from attnlimits.analysis.claims import judge_tables
from attnlimits.config import load_config, validate_config
from attnlimits.lowtemp import convergence_grid as cg
from attnlimits.lowtemp import grid
from attnlimits.lowtemp.claims import CLAIMS, lowtemp_tables
from attnlimits.lowtemp.convergence import run_sweep
from attnlimits.lowtemp.families import family_measure, halton, radical_inverse
from attnlimits.lowtemp.metastability import window
from attnlimits.lowtemp.regime_plots import n_convergence_figure, regime_figure
from attnlimits.lowtemp.runs import run
from attnlimits.verdicts import verdict_table

REPO = Path(__file__).resolve().parents[1]
DEFAULT = load_config(REPO / "config" / "config.yaml")
MAIN = grid.RunKey("h", "plain")


# ------------------------------------------------------------------------------ particle families
def test_radical_inverse_and_halton_points():
    assert radical_inverse(np.array([1, 2, 3, 4]), 2).tolist() == [0.5, 0.25, 0.75, 0.125]
    assert np.allclose(radical_inverse(np.array([1, 2, 3, 4]), 3), [1 / 3, 2 / 3, 1 / 9, 4 / 9])
    assert np.allclose(halton(1, 2, 2), [[0.5, 1 / 3], [0.25, 2 / 3]])


def test_families_share_the_count_and_the_density():
    ref, _ = family_measure("grid", "disc", 12, 2)
    # uniform on the disc: mean 0, E|x|² = 1/2; quasi-random to ~1e-2, i.i.d. to 4 sigma
    for family, tol in (("halton", 0.01), ("iid", 4 * 0.5 / 576**0.5)):
        points, weights = family_measure(family, "disc", 12, 2, seed=5)
        assert points.shape == ref.shape == (576, 2) and np.allclose(weights, 1 / 576)
        assert ((points**2).sum(-1) < 1).all()
        assert np.abs(points.mean(0)).max() < tol
        assert abs((points**2).sum(-1).mean() - 0.5) < tol
        again, _ = family_measure(family, "disc", 12, 2, seed=5)
        assert np.array_equal(points, again)  # deterministic
    other, _ = family_measure("iid", "disc", 12, 2, seed=6)
    assert not np.array_equal(other, family_measure("iid", "disc", 12, 2, seed=5)[0])
    ball, _ = family_measure("halton", "ball", 5, 3)
    assert len(ball) == len(family_measure("grid", "ball", 5, 3)[0])
    with pytest.raises(ValueError, match="d <= 6"):
        family_measure("halton", "ball", 3, 7)
    with pytest.raises(ValueError, match="unknown particle family"):
        family_measure("sobol", "disc", 3, 2)


# ------------------------------------------------------------------------------ the sweep's jobs
def test_the_sweep_at_the_main_size_reproduces_the_main_run():
    block = validate_config(load_config(REPO / "config" / "test_lowtemp.yaml"))["lowtemp"]
    keys = cg.sweep_keys(block)
    size = block["measure"]["size"]
    assert cg.SweepKey("identity", "plain", "grid", size) not in keys  # read from the main run
    assert cg.SweepKey("identity", "plain", "halton", size) in keys
    main = run(grid.run_spec(block, grid.RunKey("identity", "plain")))
    swept = run_sweep(cg.sweep_spec(block, cg.SweepKey("identity", "plain", "grid", size)))
    assert swept["time"].values.tolist() == block["fits"]["times"]
    for name in ("w2_hardmax", "coupling_hardmax"):
        expected = main[name].sel(time=swept["time"].values).values
        assert np.array_equal(swept[name].values, expected)  # same flows, bit for bit


# ------------------------------------------------------------------------ the regime, known answer
#: Designed local slopes per (family, size): pair 0 agrees everywhere (N* = 4), pair 1 from N = 16
#: on (N* = 16), pair 2 only at the largest N (never converged), pair 3 disagrees between
#: the families at the largest N.
SLOPES = {
    ("grid", 1): [-1.0, -0.3, -0.3, -0.3],
    ("halton", 1): [-1.0, -0.3, -0.3, -0.3],
    ("grid", 2): [-1.0, -1.0, -0.3, -0.3],
    ("halton", 2): [-1.0, -1.0, -0.3, -0.3],
    ("halton", 3): [-1.0, -1.0, -1.0, -0.5],
}  # the grid at size 3 is the main run: W2 = β^-1 e^(t/2), every local slope -1


def sweep_store(slopes: list[float], n: int) -> xr.Dataset:
    log_w2 = np.concatenate([[0.0], np.cumsum(np.asarray(slopes) * np.diff(np.log(BETAS)))])
    w2 = np.exp(log_w2)[:, None] * np.ones(len(OPTS["times"]))
    return xr.Dataset(
        {"w2_hardmax": (("beta", "time"), w2), "coupling_hardmax": (("beta", "time"), 2 * w2)},
        coords={"beta": BETAS, "time": OPTS["times"]},
        attrs={"particle_count": n, "exact_w2": 1},
    )


def block(premise: str = "converged", factor: float = 1.0) -> dict:
    fits = {**OPTS, "n_slope_tol": 0.1, "metastable_heads": [], "metastable_fraction": 0.5}
    return {
        "measure": {"kind": "disc", "size": 3, "d": 2},
        "regime": {"factor": factor, "allow_outside": True, "premise": premise},
        "convergence": {
            "heads": ["h"], "variants": ["plain"], "families": ["grid", "halton"],
            "sizes": [1, 2, 3], "seed": 0,
        },
        "fits": fits,
    }  # fmt: skip


def regime_tables(premise: str = "converged", factor: float = 1.0, main=None):
    main = synthetic_run(beta_exponent=-1.0) if main is None else main
    main = main.assign_attrs(particle_count=36)
    sweeps = [
        (cg.SweepKey("h", "plain", family, size), sweep_store(s, 4 * size * size))
        for (family, size), s in SLOPES.items()
    ]
    low = block(premise, factor)
    tables = lowtemp_tables([(MAIN, main)], [], low["fits"], sweeps, low)
    config = {"lowtemp": {"heads": {"h": {"kind": "identity"}}}}
    return judge_tables(tables, CLAIMS, config, low["fits"])


def test_regime_boundary_and_revised_slopes_have_the_designed_answer():
    tables = regime_tables()
    regime = tables["regime"]
    at = regime[regime["time"] == 1.0].set_index("beta_low")
    assert at["N_star"].tolist()[:2] == [4.0, 16.0] and at["N_star"].iloc[2:].isna().all()
    assert at["converged_at_main"].tolist() == [True, True, False, False]
    assert at.loc[32.0, "spread_N_max"] == pytest.approx(0.5)
    assert len(tables["n_slopes"]) == 2 * 6 * 4  # times x (family, N) x pairs
    fits_ = tables["n_fits"].set_index(["time", "family", "N"])
    assert fits_.loc[(1.0, "grid", 36), "slope"] == pytest.approx(-1.0)
    claims = tables["claims"].set_index("claim")
    slope = claims.loc["beta_slope"]
    # refitted over β = 4, 8, 16 (converged at N = 36): exactly -1, faster than -1/2
    assert (slope["n_points"] == 3).all() and np.allclose(slope["fitted"], -1.0)
    assert (slope["status"] == "faster").all() and slope["note"].str.contains("4..16").all()
    # the power rule (factor 1: N >= β) admits β <= 32, where pair 2 has not converged
    rule = claims.loc["regime_rule"]
    assert (rule["observed"] == "not converged").all() and (rule["status"] == "opposite").all()


def test_the_verdict_page_shows_the_new_claims_with_their_setting():
    page = verdict_table({"lowtemp": regime_tables()["claims"]}).set_index("claim")
    rule = page.loc["regime_rule"]
    assert (rule["source"] == "heuristic").all() and (rule["kind"] == "sign").all()
    assert set(rule["setting"]) == {
        "variant=plain, head=h, time=1",
        "variant=plain, head=h, time=2",
    }
    assert not page["setting"].str.contains("resolved").any()  # evidence, not a coordinate


def test_a_power_rule_inside_the_data_regime_is_as_predicted():
    rule = regime_tables(factor=2.0)["claims"].set_index("claim").loc["regime_rule"]
    assert (rule["observed"] == "converged").all() and (rule["status"] == "as predicted").all()


def test_too_few_converged_betas_leave_the_slope_unresolved_and_power_keeps_it():
    main = synthetic_run(beta_exponent=-1.0)
    w2 = main["w2_hardmax"].values.copy()
    w2[1:] *= 3.0  # the main grid's pair 0 now rises: pair 0 never converges
    main = main.assign(w2_hardmax=(("beta", "time"), w2))
    slope = regime_tables(main=main)["claims"].set_index("claim").loc["beta_slope"]
    assert (slope["status"] == "unresolved").all()
    assert slope["note"].str.contains("not converged in N").all()
    power = regime_tables("power", main=main)["claims"].set_index("claim").loc["beta_slope"]
    assert (power["n_points"] == len(BETAS)).all() and (power["status"] != "unresolved").all()


# --------------------------------------------------------------------- the metastable window
def designed_series(a: float, m: float, level: float) -> np.ndarray:
    """log W2 falls with slope -1 through ``level`` at t = a, turns at m, rises with slope 1:
    the window is [a, 2m - a] exactly (the crossings lie on straight pieces)."""
    return level * np.exp(np.where(TIMES <= m, a - TIMES, TIMES - 2 * m + a))


def test_window_ends_are_interpolated_exactly_and_open_or_never_windows_are_flagged():
    w = window(TIMES, designed_series(0.6, 2.0, 0.2), 0.2)
    assert w["t_in"] == pytest.approx(0.6) and w["t_out"] == pytest.approx(3.4) and w["closed"]
    open_ = window(TIMES, designed_series(0.6, 4.0, 0.2), 0.2)  # exit at 7.4 > 6
    assert open_["entered"] and not open_["closed"] and open_["t_out"] == 6.0
    never = window(TIMES, np.full(len(TIMES), 0.3), 0.2)
    assert not never["entered"] and np.isnan(never["length"])


# ------------------------------------------------------------------------------ configuration
@pytest.mark.parametrize(
    ("modify", "expected"),
    [
        (put("lowtemp.convergence.heads", ["identity", "x"]), ["convergence.heads[1]: 'x'"]),
        (put("lowtemp.convergence.families", ["grid"]), ["lowtemp.convergence.families"]),
        (put("lowtemp.convergence.families", ["grid", "sobol"]), ["'sobol' is not one of"]),
        (put("lowtemp.convergence.sizes", [6]), ["lowtemp.convergence.sizes"]),
        (put("lowtemp.regime.premise", "guess"), ["lowtemp.regime.premise: 'guess'"]),
        (put("lowtemp.fits.metastable_heads", ["x"]), ["fits.metastable_heads[0]: 'x'"]),
        (put("lowtemp.fits.metastable_fraction", 0), ["lowtemp.fits.metastable_fraction"]),
        (
            put("lowtemp.measure", {"kind": "ball", "size": 3, "d": 7}),
            ["lowtemp.convergence.families: halton need lowtemp.measure.d <= 6"],
        ),
    ],
)
def test_bad_sweep_configs_are_refused_with_the_key_named(modify, expected):
    assert_invalid(DEFAULT, modify, expected)


def test_the_sweep_variants_must_be_run_variants():
    config = copy.deepcopy(DEFAULT)
    config["lowtemp"]["variants"] = ["consensus"]
    assert_invalid(config, lambda c: None, ["lowtemp.convergence.variants[0]: 'plain' is not"])


# ------------------------------------------------------------------------------ figures
def test_figures_draw_the_tables():
    tables = regime_tables()
    fig = n_convergence_figure(tables)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 2  # one (variant, head) x two times
    lines = [ln for ln in panels[0].get_lines() if ln.get_label().startswith("halton, N = 36")]
    assert np.allclose(lines[0].get_ydata(), SLOPES[("halton", 3)])
    fig = regime_figure(tables)
    ax = fig.axes[0]
    found = [ln for ln in ax.get_lines() if ln.get_label() == "plain, h, t = 1"][0]
    assert np.allclose(found.get_ydata(), [4.0, 16.0])  # N* of the converged pairs
    power = [ln for ln in ax.get_lines() if ln.get_label().startswith("power rule")][0]
    assert np.allclose(power.get_ydata(), [8.0, 16.0, 32.0, 64.0])  # factor 1, k = 2
    plt.close("all")
