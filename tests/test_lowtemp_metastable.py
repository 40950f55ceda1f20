"""The metastable window of experiment ``lowtemp`` (``window_grid``, ``window_runs``,
``metastability``, ``metastable_claims``, the figure and the configuration rules), on stores built
to have known answers."""

from __future__ import annotations

import copy
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr
from config_edits import assert_invalid, put
from test_lowtemp_claims import OPTS

from attnlimits.analysis.claims import judge_tables
from attnlimits.config import load_config, validate_config
from attnlimits.lowtemp import grid
from attnlimits.lowtemp import window_grid as wg
from attnlimits.lowtemp.claims import CLAIMS, lowtemp_tables
from attnlimits.lowtemp.regime_plots import metastability_figure
from attnlimits.lowtemp.runs import run
from attnlimits.lowtemp.window_runs import run_window
from attnlimits.verdicts import verdict_table

REPO = Path(__file__).resolve().parents[1]
DEFAULT = load_config(REPO / "config" / "config.yaml")
BETAS = np.array([4.0, 8.0, 16.0, 32.0])
TIMES = np.linspace(0.0, 40.0, 161)
START, FRACTION = 0.4, 0.5  # W2(μ₀, T#μ₀) and the claims' fraction: threshold 0.2
FITS = {**OPTS, "metastable_fraction": FRACTION, "metastable_check_fraction": 0.25,
        "metastable_n_tol": 0.05, "metastable_heads": ["h"]}  # fmt: skip


def series(t_in: float, t_out: float | None, level: float = FRACTION * START) -> np.ndarray:
    """log W2 linear in t from log START at t = 0 through log ``level`` at ``t_in``, flat at
    level / e until t_out − 1, back up to ``level`` at ``t_out`` with slope 1 (None: stays down):
    the window at ``level`` is [t_in, t_out] exactly (the crossings lie on straight pieces)."""
    down = np.log(START) + (np.log(level) - np.log(START)) * TIMES / t_in
    floor = np.full(len(TIMES), np.log(level) - 1.0)
    log_w2 = np.maximum(down, floor)
    if t_out is not None:
        log_w2 = np.maximum(log_w2, np.log(level) + TIMES - t_out)
    return np.exp(log_w2)


def store(rows: list[np.ndarray], n: int) -> xr.Dataset:
    return xr.Dataset(
        {"w2_target": (("beta", "time"), np.stack(rows)), "w2_start": ((), START)},
        coords={"beta": BETAS, "time": TIMES},
        attrs={"particle_count": n},
    )


def tables_of(stores: list[tuple[wg.WindowKey, xr.Dataset]]) -> dict:
    tables = lowtemp_tables([], [], FITS, windows=stores)
    return judge_tables(tables, CLAIMS, {"lowtemp": {"heads": {}}}, FITS)


def consensus_stores(late: float = 1.0) -> list[tuple[wg.WindowKey, xr.Dataset]]:
    """t_in = 1, t_out = β / 2 for β ≥ 8 (exit linear in β), β = 4 never below; the larger size
    equal but for β = 32, whose exit is ``late`` times later."""

    def rows(scale: float) -> list[np.ndarray]:
        never = np.full(len(TIMES), START)
        return [never] + [series(1.0, b / 2 * (scale if b == 32 else 1.0)) for b in BETAS[1:]]

    return [
        (wg.WindowKey("h", "consensus", 3), store(rows(1.0), 36)),
        (wg.WindowKey("h", "consensus", 4), store(rows(late), 64)),
    ]


def claim(tables: dict, name: str, variant: str):
    c = tables["claims"]
    return c[(c["claim"] == name) & (c["variant"] == variant)].iloc[0]


# ------------------------------------------------------------------------ tables and claims
def test_consensus_windows_exit_linearly_in_beta_and_the_claims_say_so():
    tables = tables_of(consensus_stores())
    table = tables["metastability"]
    big = table[(table["N"] == 64) & (table["fraction"] == FRACTION)].set_index("beta")
    assert np.allclose(big.loc[[8, 16, 32], "t_out"], [4.0, 8.0, 16.0])
    assert np.allclose(big.loc[[8, 16, 32], "t_in"], 1.0) and big.loc[[8, 16, 32], "closed"].all()
    assert not big.loc[4, "entered"] and big.loc[[8, 16, 32], "n_converged"].all()
    fits = tables["metastable_fits"].set_index(["fraction", "quantity"])
    assert fits.loc[(FRACTION, "log_t_out"), "slope"] == pytest.approx(1.0)
    exit_ = claim(tables, "metastable_exit", "consensus")
    assert exit_["fitted"] == pytest.approx(1.0) and exit_["status"] == "matches"
    window = claim(tables, "metastable_window", "consensus")
    # lengths 3, 7, 15: local slopes 4/log 2 and 8/log 2, exact across N (interval of width 0)
    assert window["fitted"] == pytest.approx(4 / np.log(2)) and window["ci_low"] == window["fitted"]
    assert window["status"] == "as predicted" and "at fraction 0.25" in window["note"]
    assert "metastable_open" not in set(tables["claims"]["claim"])  # a plain-only claim


def test_a_window_that_moves_with_N_is_left_out_of_the_fits():
    tables = tables_of(consensus_stores(late=1.5))  # β = 32 exits at 24 instead of 16
    big = tables["metastability"].query("N == 64 and fraction == @FRACTION").set_index("beta")
    assert big.loc[32, "n_change"] == pytest.approx((24 - 16) / 24)
    assert not big.loc[32, "n_converged"] and big.loc[[8, 16], "n_converged"].all()
    exit_ = claim(tables, "metastable_exit", "consensus")
    assert exit_["n_points"] == 2 and exit_["status"] == "unresolved"
    assert "ends not converged in N for beta = 32" in exit_["note"]


def test_plain_windows_that_stay_open_or_close_are_judged():
    def stores(t_out):
        rows = [series(1.0, t_out) for _ in BETAS]
        return [(wg.WindowKey("h", "plain", s), store(rows, n)) for s, n in ((3, 36), (4, 64))]

    tables = tables_of(stores(None))
    row = claim(tables, "metastable_open", "plain")
    assert row["observed"] == "open" and row["status"] == "as predicted"
    assert claim(tables, "metastable_window", "plain")["status"] == "outside the premise"
    tables = tables_of(stores(20.0))
    row = claim(tables, "metastable_open", "plain")
    assert row["observed"] == "closes" and row["status"] == "opposite"
    other = judge_tables(
        lowtemp_tables([], [], FITS, windows=stores(None)), CLAIMS,
        {"lowtemp": {"heads": {"h": {"kind": "random"}}}}, FITS,
    )  # fmt: skip
    assert claim(other, "metastable_open", "plain")["status"] == "outside the premise"
    page = verdict_table({"lowtemp": tables["claims"]}).set_index("claim")
    assert page.loc["metastable_open", "source"].startswith("derived")
    assert page.loc["metastable_open", "premise"].startswith("the plain flow")


def test_the_figure_draws_the_windows_of_the_largest_N():
    tables = tables_of(consensus_stores())
    ax = metastability_figure(tables).axes[0]
    bars = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 2 and ln.get_linewidth() == 3]
    assert sorted(bar.get_xdata()[0] for bar in bars) == [8.0, 16.0, 32.0]
    ends = {bar.get_xdata()[0]: tuple(bar.get_ydata()) for bar in bars}
    assert np.allclose(ends[16.0], (1.0, 8.0))
    assert any("metastable_exit: 1.00" in t.get_text() for t in ax.get_legend().get_texts())
    plt.close("all")


# ------------------------------------------------------------------------ the window jobs
def test_a_window_run_is_the_main_run_on_a_longer_grid_bit_for_bit():
    block = validate_config(load_config(REPO / "config" / "test_lowtemp.yaml"))["lowtemp"]
    keys = wg.window_keys(block)
    assert [k.size for k in keys] == [3, 4, 3, 4] and {k.variant for k in keys} == {
        "plain", "consensus"}  # fmt: skip
    block["metastable"]["consensus"] = {"horizon": 2 * block["horizon"],
                                        "records": 2 * block["records"],
                                        "substeps": block["substeps"]}  # fmt: skip
    key = wg.WindowKey("identity", "consensus", block["measure"]["size"])
    spec = wg.window_spec(block, key)
    long = run_window(spec)
    main = run(grid.run_spec(block, grid.RunKey("identity", "consensus")))
    head = long["w2_target"].isel(time=slice(0, block["records"] + 1)).values
    assert np.array_equal(head, main["w2_target"].values)  # same flows, same distances
    assert float(long["w2_start"]) == float(main["hardmax_w2_target"][0])
    assert long.identical(run_window(spec))  # deterministic
    assert wg.window_path(block, key).startswith("lowtemp/window/identity/consensus_size4_")


# ------------------------------------------------------------------------ configuration
@pytest.mark.parametrize(
    ("modify", "expected"),
    [
        (put("lowtemp.fits.metastable_check_fraction", 0.75),
         ["lowtemp.fits.metastable_check_fraction: equal to"]),
        (put("lowtemp.metastable.sizes", [12, 12]), ["lowtemp.metastable.sizes"]),
        (put("lowtemp.metastable.sizes", [12]), ["lowtemp.metastable.sizes"]),
        (put("lowtemp.metastable.consensus.records", 0), ["lowtemp.metastable.consensus.records"]),
        (put("lowtemp.fits.metastable_fraction", 1.0), ["lowtemp.fits.metastable_fraction"]),
    ],
)  # fmt: skip
def test_bad_window_configs_are_refused_with_the_key_named(modify, expected):
    assert_invalid(DEFAULT, modify, expected)


def test_no_metastable_heads_no_window_jobs():
    config = copy.deepcopy(DEFAULT)
    config["lowtemp"]["fits"]["metastable_heads"] = []
    assert wg.window_keys(validate_config(config)["lowtemp"]) == []
