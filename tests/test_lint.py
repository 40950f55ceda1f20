"""The code is formatted and linted: ruff for Python, snakefmt for the workflow's format and
Snakemake's own linter (`snakemake --lint`: a software environment for every rule, no rules
and functions in one file, no absolute paths or paths built with `+`, ...) for the workflow."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "cmd",
    [
        ("ruff", "check", "."),
        ("ruff", "format", "--check", "."),
        ("snakefmt", "--check", "workflow"),
        ("snakemake", "--lint"),
    ],
)
def test_lint(cmd):
    exe = shutil.which(cmd[0], path=str(Path(sys.executable).parent))
    assert exe, f"{cmd[0]} is not installed next to {sys.executable}: install the test extras"
    proc = run(exe, *cmd[1:])
    assert proc.returncode == 0, proc.stdout + proc.stderr
