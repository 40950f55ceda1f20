"""The studies of experiment adamw (adamw.studies, hierarchy, sites, dims, peaks): keys, specs,
learning-rate scalings, the hierarchical bootstrap, the d-slopes and their claims, the worst
steps, and the validation of a study's settings; on synthetic stores with known answers."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from adamw_study_data import SLOPES, adamw_block, site_stores
from config_edits import assert_invalid, put
from fit_options import FIT_OPTIONS

from attnlimits.adamw import dims, hierarchy, peaks, sites, studies
from attnlimits.adamw import grid as g
from attnlimits.adamw.claims import CLAIMS, study_tables
from attnlimits.analysis.claims import judge_tables
from attnlimits.config import load_config
from attnlimits.grids import key_wildcards

REPO = Path(__file__).resolve().parents[1]
DEFAULT = load_config(REPO / "config" / "config.yaml")
OPTIONS = {**FIT_OPTIONS, "bootstrap": 200, "bootstrap_seed": 3, "max_slope_d": 0.1}


def test_learning_rate_scalings():
    assert studies.learning_rate(0.05, 12, 3, "fixed") == 0.05
    assert studies.learning_rate(0.05, 3, 3, "inverse_sqrt") == 0.05
    assert studies.learning_rate(0.05, 12, 3, "inverse_sqrt") == pytest.approx(0.025)
    assert studies.learning_rate(0.05, 6, 12, "inverse_sqrt") == pytest.approx(0.05 * math.sqrt(2))


def test_study_keys_share_d0_and_specs_carry_lr_and_task_seed():
    adamw = adamw_block(DEFAULT["adamw"])
    cells = studies.cells(adamw)
    # 2 variants x 4 tasks x (d0 once + 3 other d x 2 scalings)
    assert len(cells) == 2 * 4 * 7 and len(studies.limits(adamw)) == len(cells)
    cell = next(c for c in cells if c.d == 12 and c.lr < 0.05 and c.task_seed == 2)
    spec = studies.cell_spec(adamw, cell)
    assert spec["optimizer"]["lr"] == cell.lr == pytest.approx(0.025)
    assert spec["task"]["seed"] == 2 and spec["seeds"] == 6
    # an override changes every path of the study (it is hashed), the task seed is in the path
    other = copy.deepcopy(adamw)
    other["studies"]["syn"]["task"] = {"teacher_v_bar": 1.0}
    assert studies.cell_path(adamw, cell) != studies.cell_path(other, cell)
    assert studies.limit_spec(other, cell.limit)["task"]["teacher_v_bar"] == 1.0
    assert "_task2_" in studies.limit_path(adamw, cell.limit)
    assert g.find(cells, key_wildcards(cell)) == cell  # the find of the study jobs


def test_default_studies():
    adamw = DEFAULT["adamw"]
    dims_cells = [c for c in studies.cells(adamw) if c.study == "dims"]
    # 2 variants x 3 task seeds x (d = 3 once, d = 6, 12 for each scaling)
    assert len(dims_cells) == 2 * 3 * 5
    paper = load_config(REPO / "config" / "paper.yaml")["adamw"]["studies"]
    assert max(paper["dims"]["grid"]["d"]) > max(adamw["studies"]["dims"]["grid"]["d"])
    assert len(paper["dims"]["task_seeds"]) > len(adamw["studies"]["dims"]["task_seeds"])


def test_hierarchical_weights():
    w = hierarchy.hierarchical_weights(3, 4, 500, 7)
    assert w.shape == (501, 12)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    np.testing.assert_array_equal(w[0], 1 / 12)
    per_task = w.reshape(501, 3, 4).sum(axis=2) * 3  # draws of each task: integers 0..3
    np.testing.assert_allclose(per_task, np.round(per_task), atol=1e-12)
    assert (per_task[1:] == 0).any()  # a task left out of some replicates
    np.testing.assert_array_equal(w, hierarchy.hierarchical_weights(3, 4, 500, 7))
    heads = hierarchy.head_seed_weights(3, 4, 500, 7)
    np.testing.assert_allclose(heads.reshape(501, 3, 4).sum(axis=2), 1 / 3)  # tasks held fixed


def test_pooled_error_is_the_rms_over_tasks_and_seeds():
    adamw = adamw_block(DEFAULT["adamw"], task_seeds=[1, 2], seeds=3)
    stores = site_stores(adamw, task_spread=0.5, head_noise=0.2)
    every = sites.sites(adamw, stores, OPTIONS)
    site = every[0]
    keys = [c for c in stores if c.task_seed in (1, 2) and c.d == site.key["d"]
            and c.variant == site.key["variant"] and c.lr == site.lr]  # fmt: skip
    worst = np.concatenate([stores[c]["e2_p"].max("step").max("input").values for c in keys])
    assert site.stats["p"]["worst"][0] == pytest.approx(np.sqrt(np.mean(worst**2)))
    per_task = sites.tasks_table(every).query(f"d == {site.key['d']}")
    assert len(per_task) >= 2


def _dims_table(**kw):
    adamw = adamw_block(DEFAULT["adamw"])
    every = sites.sites(adamw, site_stores(adamw, **kw), OPTIONS)
    return dims.dims_tables(every, OPTIONS)


def test_d_slopes_recover_the_exponents_and_judge_the_claims():
    table, rows = _dims_table()
    assert len(table) == 2 * 2 * 3 and len(rows) == len(table)  # scalings x variants x X, P, θ
    for _, row in table.iterrows():
        assert row["slope"] == pytest.approx(SLOPES[(row["variant"], row["variable"])], abs=1e-9)
    status = {(r["variant"], r["variable"]): r["status"] for _, r in table.iterrows()}
    assert status[("blockwise", "x")] == "holds on the grid"
    assert status[("blockwise", "p")] == "contradicted"  # a paper's statement, inside its premise
    assert status[("standard", "x")] == status[("standard", "p")] == "outside the premise"
    assert status[("blockwise", "theta")] == "as predicted"
    assert status[("standard", "theta")] == "opposite"  # derived, not a paper's: not contradicted
    judged = judge_tables({"claims": pd.DataFrame(rows)}, CLAIMS, {}, OPTIONS)["claims"]
    assert set(judged["grid"]) == {"syn_fixed", "syn_inverse_sqrt"}
    assert set(judged["source"]) == {"P1: " + dims.DIMENSION.where, dims.THETA_D.source_text}
    assert (judged["status"].values == [status[(r["variant"], r["variable"])] for r in rows]).all()


def test_task_spread_widens_the_interval_beyond_the_head_seeds():
    table, _ = _dims_table(task_spread=0.3, head_noise=0.02, seed=1)
    width = table["ci_high"] - table["ci_low"]
    heads = table["ci_heads_high"] - table["ci_heads_low"]
    assert (width > 3 * heads).all()
    assert (table["tasks"] == 4).all()


def test_excluded_points_leave_the_claim_unresolved():
    adamw = adamw_block(DEFAULT["adamw"])
    every = sites.sites(adamw, site_stores(adamw, own=1.0), OPTIONS)  # own error above all
    assert sites.cells_table(every, 0.95, 10.0)[["x_excluded", "p_excluded"]].all().all()
    assert not sites.cells_table(every, 0.95, 1e-9)["x_excluded"].any()
    table, _ = dims.dims_tables(every, OPTIONS)
    assert (table["n_points"] == 0).all() and (table["status"] != "holds on the grid").all()
    assert set(table.query("variant == 'blockwise'")["status"]) == {"unresolved"}


def test_worst_steps_and_the_peak_table():
    values = np.array([[1.0, 1.0, 3.0], [2.0, 0.5, 1.0], [1.5, np.nan, 2.0]])
    np.testing.assert_array_equal(peaks.worst_steps(values), [1, -1, 0])
    adamw = adamw_block(DEFAULT["adamw"], task_seeds=[1], lr_scaling=["fixed"])
    every = sites.sites(adamw, site_stores(adamw, head_noise=0.1, peak=3), OPTIONS)
    table = peaks.peaks_table(every)
    assert (table["worst_step"] == 3).all() and (table["share_after_start"] == 1.0).all()
    first = peaks.peaks_table(sites.sites(adamw, site_stores(adamw, peak=0), OPTIONS))
    assert (first["worst_step"] == 0).all() and (first["share_after_start"] == 0.0).all()


def test_study_tables_of_a_depth_heads_study_hold_p1_claims():
    adamw = adamw_block(DEFAULT["adamw"], task_seeds=[1], lr_scaling=["fixed"], seeds=4)
    adamw["studies"]["syn"]["grid"].update(d=[3], L=[4, 8, 16], H=[2, 8], variant=["blockwise"])
    stores = site_stores(adamw, head_noise=0.1)
    for store in stores.values():  # the P1 statistics read the Gram matrices too
        for var in ("x", "p"):
            e = store[f"e2_{var}"].values
            gram = np.einsum("ks,kt->kst", e[..., 0], e[..., 0])
            store[f"gram_{var}"] = (
                ("step", "input", "layer", "seed", "seed2"),
                np.broadcast_to(gram[:, None, None], (e.shape[0], 2, 3, *gram.shape[1:])).copy(),
            )
            store[f"einf_{var}"] = store[f"e2_{var}"]
        store["loss"] = (("step", "seed"), np.ones(store["theta_error"].shape))
        store["loss_limit"] = (("step",), np.ones(store.sizes["step"]))
        store.attrs["limit_error"] = 1e-6
    own, p1, rows = study_tables(adamw, stores, {**OPTIONS, "bootstrap": 20})
    assert rows == [] and own["dims"].empty  # one d: no d-slope
    assert len(p1) == 1 and set(p1[0]["claims"]["grid"]) == {"syn_depth_heads"}
    assert {"bias_L", "fluct_H"} <= set(p1[0]["claims"]["claim"])
    assert set(own["peak_steps"]["worst_step"]) == {2}


INVALID = [
    (
        "unknown_override",
        put("adamw.studies.dims.task.teacher_vbar", 1.0),
        ["adamw.studies.dims.task.teacher_vbar: invalid name"],
    ),
    (
        "task_seed_override",
        put("adamw.studies.dims.task.seed", 3),
        ["adamw.studies.dims.task.seed: invalid name"],
    ),
    (
        "bad_lr",
        put("adamw.studies.overshoot.optimizer.lr", -1),
        ["adamw.studies.overshoot.optimizer.lr:"],
    ),
    (
        "depth_not_dividing",
        put("adamw.studies.overshoot.limit", {"records": 16}),
        [
            "adamw.studies.overshoot.grid.L[3]: depth 32 does not divide the study's limit",
        ],
    ),
    (
        "records_not_dividing",
        put("adamw.studies.dims.limit", {"steps": 1000}),
        ["adamw.studies.dims.limit.records: 64 does not divide the study's limit steps = 1000"],
    ),
    (
        "bad_scaling",
        put("adamw.studies.dims.lr_scaling", ["sqrt"]),
        ["adamw.studies.dims.lr_scaling[0]:"],
    ),
    ("bad_name", put("adamw.studies.my_study", {}), ["adamw.studies.my_study:", "invalid name"]),
    ("no_task_seeds", put("adamw.studies.dims.task_seeds", []), ["adamw.studies.dims.task_seeds:"]),
]


@pytest.mark.parametrize(
    ("modify", "expected"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_study_config_raises(modify, expected):
    assert_invalid(DEFAULT, modify, expected)
