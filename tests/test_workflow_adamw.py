"""End to end through Snakemake on config/test_adamw.yaml (experiment adamw), in a repository copy.

Stores (limits and cells), statistics, tables and figures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from workflow_helpers import (
    copy_repo,
    load_config,
    planned_jobs,
    snakemake,
    stores,
    touched_batches,
)

from attnlimits.adamw.datasets import open_studies
from attnlimits.adamw.grid import FIGURES
from attnlimits.config import validate_config
from attnlimits.storage import open_dataset

pytestmark = pytest.mark.slow
BASE = "test_adamw.yaml"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    repo = copy_repo(tmp_path_factory.mktemp("adamw") / "repo")
    snakemake(repo, "--cores", "2", base=BASE, trace=True)
    return repo


def test_adamw_run_writes_limits_and_cells(finished):
    kinds: dict[str, list] = {}
    for rel in stores(finished):
        kinds.setdefault(rel.parts[2], []).append(rel)
    # limits: (blockwise, 1e-8), (standard, 1e-2); cells: 3 L x 2 H + 1 (eps); studies: dims,
    # block-wise, 2 task seeds x (d0 = 3 once + d = 4, 6 per scaling), overshoot 1 limit, 3 x 2
    # cells
    counts = {k: len(v) for k, v in kinds.items()}
    assert counts == {
        "limit": 2, "cells": 7, "study_limit": 11, "study_cells": 16, "statistics.zarr": 1
    }  # fmt: skip
    for rel in stores(finished):
        ds = open_dataset(finished / rel, chunks=None)
        for key in ("params_hash", "code_version", "git_commit", "libraries", "seeds"):
            assert key in ds.attrs, (rel, key)
        assert ("bootstrap_seed" if rel.name == "statistics.zarr" else "law_seed") in ds.attrs[
            "seeds"
        ]
        for name, var in ds.data_vars.items():
            assert var.attrs.get("long_name") and var.attrs.get("units"), (rel, name)
            assert rel.parts[2] == "statistics.zarr" or np.isfinite(var.values).all(), (rel, name)
        if rel.parts[2] in ("cells", "study_cells"):  # (statistics: NaN outside the grids)
            assert ds.attrs["limit_error"] > 0 and ds.sizes["step"] == 3
            assert (ds["e2_x"].values > 0).all()
    claims = pd.read_csv(finished / "results" / "adamw" / "tables" / "claims.csv")
    got = set(zip(claims["variable"], claims["claim"], strict=True))
    assert {("x", "bias_L"), ("p", "bias_L"), ("x", "fluct_H"), ("p", "fluct_H")} <= got
    # the studies: d-claims per scaling, P1's claims on the overshoot grid, the worst steps
    grids = set(zip(claims["grid"], claims["claim"], strict=True))
    assert {("dims_fixed", "err_d"), ("dims_inverse_sqrt", "theta_d")} <= grids
    assert ("overshoot_depth_heads", "fluct_H") in grids
    tables = finished / "results" / "adamw" / "tables"
    assert len(pd.read_csv(tables / "dims.csv")) == 2 * 1 * 3  # scalings x variants x X, P, θ
    peaks = pd.read_csv(tables / "peak_steps.csv").query("study == 'overshoot'")
    assert len(peaks) == 6 * 3 and (peaks["worst_step"] >= 0).all()
    # the study cells, for reuse: along run, indexed by the study key, the stores' own numbers
    config = validate_config(load_config(BASE))
    studies = open_studies(finished / "results", config)
    assert studies.sizes["run"] == counts["study_cells"]
    assert list(studies.indexes["run"].names) == [
        "study", "variant", "lr", "task_seed", "eps", "N", "d", "beta", "L", "H"
    ]  # fmt: skip
    one = studies.isel(run=0)
    store = open_dataset(finished / "results" / str(one["store"].values), chunks=None)
    seeds = store.sizes["seed"]  # the runs are padded with NaN to the largest seed count
    np.testing.assert_array_equal(one["e2_x"].isel(seed=slice(seeds)).values, store["e2_x"].values)
    assert np.isnan(one["e2_x"].isel(seed=slice(seeds, None)).values).all()
    assert sorted(set(studies["study"].values)) == ["dims", "overshoot"]
    fmt = config["plots"]["format"]
    for figure in FIGURES:
        assert (finished / "results" / "adamw" / "plots" / f"{figure}.{fmt}").stat().st_size > 0
    assert not list((finished / "results").rglob("*.tmp-*"))


def test_adamw_second_run_does_nothing(finished):
    assert planned_jobs(finished, base=BASE) == {}


def test_adamw_new_depth_runs_only_its_cells(finished):
    cfg = load_config(BASE)
    cfg["adamw"]["grids"]["depth_heads"]["L"].append(1)
    assert planned_jobs(finished, cfg) == {
        "adamw_cell": touched_batches(load_config(BASE), cfg, "adamw", "cell"),
        "adamw_fit": 1,
        "adamw_plots": 1,
        "verdicts": 1,
        "all": 1,
    }
