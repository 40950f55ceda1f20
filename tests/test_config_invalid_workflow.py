"""Invalid configurations of issue 14 (non-finite numbers, budgets, repeated keys, wildcard
paths, empty files) are refused by Snakemake itself, `-n` or not, before any job: nothing is
written under results/ (tests/test_config_invalid.py checks each case through validate_config)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from workflow_helpers import SNAKEMAKE, copy_repo, load_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("invalid") / "repo")


def _run(repo: Path, text: str, *args: str) -> subprocess.CompletedProcess:
    """Snakemake on the config file ``text`` (written as it is), with the copy's code."""
    (repo / "config" / "run.yaml").write_text(text, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    return subprocess.run(
        [*SNAKEMAKE, "--configfile", "config/run.yaml", "--cores", "1", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _dumped(edit) -> str:
    config = load_config("test.yaml")
    edit(config)
    return yaml.safe_dump(config)


TEST_YAML = (Path(__file__).parents[1] / "config" / "test.yaml").read_text()
RESULTS_LINE = 1 + TEST_YAML.splitlines().index("results: results")

# (id, config file text, text of the refusal, also without -n)
CASES = [
    (
        "nan_T",
        _dumped(lambda c: c["heads"].update(T=float("nan"))),
        "heads.T: nan is not a finite",
        True,
    ),
    (
        "inf_beta",
        _dumped(lambda c: c["heads"]["grids"]["tokens"].update(beta=[float("inf")])),
        "heads.grids.tokens.beta[0]: inf is not a finite",
        False,
    ),
    (
        "huge_N",
        _dumped(lambda c: c["heads"]["grids"]["tokens"].update(N=[10_000_000])),
        "heads.grids.tokens.N: job heads_limit",
        True,
    ),
    (
        "huge_dpi",
        _dumped(lambda c: c["plots"].update(dpi=100_000)),
        "plots.dpi: job heads_plots",
        True,
    ),
    (
        "repeated_key",
        TEST_YAML + "results: elsewhere\n",
        f"results: duplicate key in {{repo}}/config/run.yaml (lines {RESULTS_LINE} and "
        f"{len(TEST_YAML.splitlines()) + 1})",
        True,
    ),
    (
        "wildcard_results",
        _dumped(lambda c: c.update(results="out{N}")),
        "results: 'out{N}'",
        False,
    ),
    ("empty_file", "", "Config file must be given as JSON or YAML with keys at top level", False),
]
PARAMS = [
    pytest.param(text, expected, dry, id=f"{name}-{'dry_run' if dry else 'run'}")
    for name, text, expected, also_run in CASES
    for dry in ([True, False] if also_run else [True])
]


@pytest.mark.parametrize(("text", "expected", "dry"), PARAMS)
def test_refused_by_snakemake_before_any_job(repo: Path, text: str, expected: str, dry: bool):
    proc = _run(repo, text, *(["-n"] if dry else []))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-2000:]
    assert expected.replace("{repo}", str(repo)) in out, out[-2000:]
    if "Config file" not in expected:  # Snakemake's own refusal of an empty file
        assert "invalid configuration, nothing was run" in out
    for folder in ("results", "out{N}", "elsewhere"):
        assert not (repo / folder).exists(), folder
    assert "Job stats" not in out
