"""d. The whole default pipeline: wall time cold (empty results folder) and with everything cached.

Runs ``snakemake --cores C`` on config/config.yaml (``--quick``: config/test.yaml) in a scratch
copy of the workflow, twice: the first run computes everything, the second finds everything
up to date and only builds the DAG and checks the cache. ``C`` is the machine's core count, or
``ATTNLIMITS_BENCH_CORES``. No target: the row records the times and their ratio.

The scratch copy is kept until the process exits (``LAST_REPO``), so that benchmark f reads the
peak memory of every job of this very run rather than whatever ``results/`` holds.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from common import Row, run_measured, scratch_repo

#: The scratch repository of the last cold run of this process (None before one).
LAST_REPO: Path | None = None


def measure(device: torch.device, quick: bool) -> list[Row]:
    global LAST_REPO
    cores = int(os.environ.get("ATTNLIMITS_BENCH_CORES", os.cpu_count() or 1))
    config = "test.yaml" if quick else "config.yaml"
    tmp = tempfile.mkdtemp(prefix="attnlimits-pipeline-")
    atexit.register(shutil.rmtree, tmp, True)
    repo, env = scratch_repo(Path(tmp) / "repo")
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores)]
    cmd += ["--configfile", str(repo / "config" / config)]
    if device.type == "cuda":
        cmd += ["--config", "runtime={'torch_threads': 1, 'device': 'cuda'}"]
    cold, _, _ = run_measured(cmd, repo, env)
    cached, _, text = run_measured(cmd, repo, env)
    if "Nothing to be done" not in text:
        raise RuntimeError(f"the second run was not a no-op:\n{text[-1500:]}")
    LAST_REPO = repo
    case = f"config/{config}, --cores {cores}"
    return [
        Row("d. pipeline", f"{case}, cold", cold, None, "s", None, note="empty results folder"),
        Row(
            "d. pipeline",
            f"{case}, cached",
            cached,
            cold,
            "s",
            cold / cached,
            note="everything up to date: DAG and cache check only; ratio = cold / cached",
        ),
    ]
