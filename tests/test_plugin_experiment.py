"""An experiment added through the registry alone: tests/tiny_experiment, registered by the
config key ``plugins``, runs end to end through Snakemake, appears on the verdict page and is
opened by its declared dataset opener."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from workflow_helpers import SNAKEMAKE

from attnlimits.registry import registered, resolve

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent

pytestmark = pytest.mark.slow


def test_tiny_experiment_runs_end_to_end(tmp_path):
    results = tmp_path / "results"
    config = {
        "experiments": ["tiny"],
        "plugins": ["tiny_experiment.experiment"],
        "results": str(results),
        "tiny": {"N": [4, 16, 64, 256], "seeds": 64},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{TESTS}"}
    proc = subprocess.run(
        [*SNAKEMAKE, "--cores", "2", "--configfile", str(path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    verdicts = pd.read_csv(results / "verdicts.csv")
    row = verdicts.set_index("claim").loc["mean_N"]
    assert row["experiment"] == "tiny" and row["kind"] == "rate"
    assert row["status"] == "matches", row  # the CLT rate -1/2
    assert abs(row["fitted"] + 0.5) < 0.2
    page = (results / "verdicts.html").read_text()
    assert "Heuristics" in page and "mean_N" in page
    import sys

    sys.path.insert(0, str(TESTS))
    experiment = registered(["tiny_experiment.experiment"])["tiny"]
    ds = resolve(experiment.datasets["results"].opener)(results)
    assert ds["err"].chunks is not None  # lazily, Dask-backed
    assert list(ds["N"].values) == [4, 16, 64, 256] and ds.sizes["seed"] == 64
