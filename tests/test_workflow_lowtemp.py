"""End to end through Snakemake on config/test_lowtemp.yaml (experiment lowtemp), in a repository
copy: run and terminal stores, tables with verdicts, figures, reruns and the regime refusal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from workflow_helpers import copy_repo, load_config, planned_jobs, snakemake, stores

from attnlimits.analysis.claims import JUDGED_COLUMNS
from attnlimits.config import validate_config
from attnlimits.lowtemp.claims import CLAIM_COLUMNS
from attnlimits.lowtemp.grid import FIGURES
from attnlimits.storage import open_dataset

pytestmark = pytest.mark.slow
BASE = "test_lowtemp.yaml"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    repo = copy_repo(tmp_path_factory.mktemp("lowtemp") / "repo")
    snakemake(repo, "--cores", "2", base=BASE, trace=True)
    return repo


def test_lowtemp_run_writes_stores_tables_and_figures(finished):
    kinds: dict[str, list] = {}
    for rel in stores(finished):
        kinds.setdefault(rel.parts[2], []).append(rel)
    # runs: 2 heads x 2 variants; terminal: 1 head x 1 variant x 3 sizes; sweep: 1 head x 1
    # variant x (2 families x 2 sizes, less the main run's); window: 1 head x 2 variants x 2 sizes
    counts = {k: len(v) for k, v in kinds.items()}
    assert counts == {"runs": 4, "terminal": 3, "sweep": 3, "window": 4}
    for rel in stores(finished):
        ds = open_dataset(finished / rel, chunks=None)
        for key in ("params_hash", "code_version", "git_commit", "libraries", "seeds", "params"):
            assert key in ds.attrs, (rel, key)
        for name, var in ds.data_vars.items():
            assert var.attrs.get("long_name") and var.attrs.get("units"), (rel, name)
        if rel.parts[2] == "runs":
            assert ds.attrs["outside_regime"] == "" and ds.sizes["beta"] == 4
            assert np.isfinite(ds["w2_hardmax"].values).all()
    tables = finished / "results" / "lowtemp" / "tables"
    claims = pd.read_csv(tables / "claims.csv")
    assert list(claims.columns) == CLAIM_COLUMNS + JUDGED_COLUMNS  # as judged by the fit
    assert set(claims["claim"]) >= {"beta_slope", "beta_shape", "t_star", "terminal_law", "phase"}
    slopes = claims[claims["claim"] == "beta_slope"]
    assert len(slopes) == 4 * 2  # 4 runs x 2 claimed times
    assert set(slopes["status"]) <= {
        "matches",
        "faster",
        "slower",
        "unresolved",
        "outside the premise",
    }
    window = claims[claims["claim"].str.startswith("metastable")]
    assert sorted(zip(window["claim"], window["variant"], strict=True)) == [
        ("metastable_exit", "consensus"), ("metastable_open", "plain"),
        ("metastable_window", "consensus"), ("metastable_window", "plain"),
    ]  # fmt: skip
    assert (window["status"] != "").all()
    terminal = claims[claims["claim"] == "terminal_law"]
    # the identity head on the disc: the hardmax flow reaches T#mu0 (W2 ~ e^-t, t = 4)
    assert terminal["fitted"].iloc[0] < 0.05
    fmt = validate_config(load_config(BASE))["plots"]["format"]
    for figure in FIGURES:
        assert (finished / "results" / "lowtemp" / "plots" / f"{figure}.{fmt}").stat().st_size > 0
    assert not list((finished / "results").rglob("*.tmp-*"))


def test_lowtemp_second_run_does_nothing(finished):
    assert planned_jobs(finished, base=BASE) == {}


def test_lowtemp_new_size_runs_only_its_terminal_job(finished):
    cfg = load_config(BASE)
    cfg["lowtemp"]["terminal"]["sizes"].append(5)
    assert planned_jobs(finished, cfg) == {
        "lowtemp_terminal": 1,
        "lowtemp_fit": 1,
        "lowtemp_plots": 1,
        "verdicts": 1,
        "all": 1,
    }


def test_lowtemp_outside_the_regime_is_refused_before_any_job(finished):
    cfg = load_config(BASE)
    cfg["lowtemp"]["betas"].append(64)
    before = sorted(p.relative_to(finished) for p in (finished / "results").rglob("*"))
    proc = snakemake(finished, "--cores", "1", config=cfg, check=False)
    assert proc.returncode != 0
    assert "invalid configuration, nothing was run" in proc.stderr
    assert "lowtemp.betas[4]: outside the mean-field regime: beta=64" in proc.stderr
    assert sorted(p.relative_to(finished) for p in (finished / "results").rglob("*")) == before
