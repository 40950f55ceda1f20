"""End to end through Snakemake on config/test_sde.yaml (experiment sde), in a repository copy."""

from __future__ import annotations

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

from attnlimits.storage import open_dataset

pytestmark = pytest.mark.slow
BASE = "test_sde.yaml"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    repo = copy_repo(tmp_path_factory.mktemp("sde") / "repo")
    snakemake(repo, "--cores", "2", base=BASE, trace=True)
    return repo


def test_sde_run_produces_stores_tables_and_plots(finished):
    out = finished / "results" / "sde"
    kinds = {}
    for rel in stores(finished):
        kinds.setdefault(rel.parts[2], []).append(rel)
    # 2 rows × 1 sign (depth, width), sync's own 1 row × 2 signs, 1 dimension (chaos); the
    # joint grids' and the odd runs' own row × 1 sign
    assert {k: len(v) for k, v in kinds.items()} == {
        "depth": 2, "width": 2, "sync": 2, "chaos": 1, "joint_width": 1, "joint_tokens": 1,
        "odd": 1,
    }  # fmt: skip
    for rel in stores(finished):
        ds = open_dataset(finished / rel, chunks=None)
        for key in ("params_hash", "code_version", "git_commit", "libraries"):
            assert key in ds.attrs, (rel, key)
        for name, var in ds.data_vars.items():
            assert var.attrs.get("long_name") and var.attrs.get("units"), (rel, name)
    for table in ("claims", "reference", "chaos_truncation", "points", "lines", "exponents",
                  "joint_laws", "joint_points", "odd_clusters"):  # fmt: skip
        folder = out / ("exponents" if table == "exponents" else "tables")  # the kernel table's
        assert (folder / f"{table}.csv").stat().st_size > 0
        assert (folder / f"{table}.md").stat().st_size > 0
    claims = pd.read_csv(out / "tables" / "claims.csv")
    assert {
        "depth_L",
        "width_m",
        "chaos_N_ambient",
        "chaos_N_intrinsic",
        "energy_rate",
        "lyapunov",
        "moment_rate",
        "cluster",
        "joint_bound",
        "joint_log",
        "joint_log_layers",
        "joint_commute",
        "antipodal",
    } <= set(claims["claim"])
    for fig in ("depth_error", "width_error", "chaos_w2", "energy", "lyapunov", "sphere_tokens",
                "cosine_histograms", "joint_error", "odd_clusters"):  # fmt: skip
        assert (out / "plots" / f"{fig}.png").stat().st_size > 1000
    assert not list((finished / "results").rglob("*.tmp-*"))


def test_sde_second_run_does_nothing(finished):
    assert planned_jobs(finished, base=BASE) == {}


def test_sde_fit_option_reruns_fit_and_plots_only(finished):
    cfg = load_config(BASE)
    cfg["sde"]["fits"]["late_fraction"] = 0.6
    assert planned_jobs(finished, cfg) == {"sde_fit": 1, "sde_plots": 1, "verdicts": 1, "all": 1}


def test_sde_new_row_runs_only_its_jobs(finished):
    cfg = load_config(BASE)
    cfg["sde"]["rows"].append({"activation": "tanh", "d": 5, "sigma": 0.1})
    jobs = planned_jobs(finished, cfg)
    # depth 1 sign + width 1 sign for the new row; sync has its own rows
    assert jobs == {
        "sde_depth": 1,
        "sde_width": 1,
        "sde_fit": 1,
        "sde_plots": 1,
        "verdicts": 1,
        "all": 1,
    }


def test_sde_new_sync_row_runs_only_its_sync_jobs(finished):
    cfg = load_config(BASE)
    cfg["sde"]["sync"]["rows"].append({"activation": "tanh", "d": 5, "sigma": 0.1})
    assert planned_jobs(finished, cfg) == {
        "sde_sync": touched_batches(load_config(BASE), cfg, "sde", "sync"),
        "sde_fit": 1,
        "sde_plots": 1,
        "verdicts": 1,
        "all": 1,
    }
