"""d. The whole default pipeline, cold, against the previous main, and with everything cached.

In one process, on this machine, one after the other:

1. the previous main (:data:`BASELINE`, or ``ATTNLIMITS_BENCH_BASELINE``: any git revision),
   exported with ``git archive`` into a scratch folder, runs ``snakemake --cores C`` cold on its
   own default configuration;
2. ours runs the same, cold, in a scratch copy of the workflow, then again with everything up
   to date (the DAG and the cache check only).

``C`` is the machine's core count, or ``ATTNLIMITS_BENCH_CORES``; ``--quick`` runs
config/test.yaml instead (seconds; the ratio is then only indicative),
``ATTNLIMITS_BENCH_NO_BASELINE=1`` skips the previous main (ours only), and
``ATTNLIMITS_BENCH_KEEP=<folder>`` keeps both runs' tables, verdicts, logs and benchmark files
there (``before/`` and ``after/``) to compare their numbers.

Rows: the cold wall time, ours against the previous main (target: 3× faster); the cached re-run
(target: at most 5 s); the share of our jobs' time spent in the numerics (target: 70%), from the
last line of every job's log (:mod:`attnlimits.timing`: start-up, importing, writing stores,
numerics) against the job's wall time in its Snakemake benchmark file; and, context only, each
job kind's summed wall time before and after, with its job count (``details``).

The scratch copy of ours is kept until the process exits (``LAST_REPO``), so that benchmark f
reads the peak memory of every job of this very run rather than whatever ``results/`` holds.
"""

from __future__ import annotations

import atexit
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import torch
from common import REPO, Row, run_measured, scratch_repo

#: The previous main: the last commit before issue 15 (batches, job timing, hot spots).
BASELINE = "5a4ee1e"
#: The scratch repository of the last cold run of ours in this process (None before one).
LAST_REPO: Path | None = None
TARGET_SPEED_UP = 3.0
TARGET_CACHED_SECONDS = 5.0
TARGET_NUMERICS_SHARE = 0.70


def baseline_repo(revision: str, dest: Path) -> tuple[Path, dict[str, str]]:
    """The workflow of ``revision`` exported into ``dest``, and the environment running its code
    (this interpreter and its packages, the revision's own ``src``)."""
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", revision],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest, {**os.environ, "PYTHONPATH": str(dest / "src")}


def job_times(results: Path) -> dict[str, list[float]]:
    """Job kind (the benchmark file's folder, e.g. ``heads/cells``) → wall time of each job."""
    out: dict[str, list[float]] = defaultdict(list)
    root = results / "benchmarks"
    for tsv in root.rglob("*.tsv"):
        rel = tsv.relative_to(root).with_suffix("")
        kind = "/".join(rel.parts[:2]) if len(rel.parts) > 2 else rel.as_posix()
        with tsv.open() as fh:
            out[kind].append(float(next(csv.DictReader(fh, delimiter="\t"))["s"]))
    return dict(out)


_PHASE = re.compile(r"([0-9.]+) s (start-up|importing|writing stores|numerics)")


def phase_totals(results: Path) -> dict[str, float]:
    """The phases of :mod:`attnlimits.timing` summed over every job log under ``results``."""
    totals: dict[str, float] = defaultdict(float)
    for log in (results / "logs").rglob("*.log"):
        lines = [line for line in log.read_text(errors="replace").splitlines() if "time: " in line]
        if lines:
            for seconds, phase in _PHASE.findall(lines[-1]):
                totals[phase] += float(seconds)
    return dict(totals)


def keep(results: Path, name: str) -> None:
    """Copy the small outputs of a run (tables, verdicts, logs, benchmark files) to
    ``$ATTNLIMITS_BENCH_KEEP/<name>`` when that is set."""
    folder = os.environ.get("ATTNLIMITS_BENCH_KEEP")
    if not folder:
        return
    dest = Path(folder) / name
    for path in results.rglob("*"):
        rel = path.relative_to(results)
        small = path.is_file() and ".zarr" not in str(rel)
        if small and (rel.parts[0] in ("logs", "benchmarks") or "tables" in rel.parts
                      or rel.name.startswith("verdicts")):  # fmt: skip
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / rel)


def cold_run(repo: Path, env: dict[str, str], config: str, cores: int, device: torch.device):
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores)]
    cmd += ["--configfile", str(repo / "config" / config)]
    if device.type == "cuda":
        cmd += ["--config", "runtime={'torch_threads': 1, 'device': 'cuda'}"]
    wall, _, _ = run_measured(cmd, repo, env)
    return cmd, wall


def kinds_note(ours: dict[str, list[float]], before: dict[str, list[float]]) -> dict:
    """Per job kind: jobs and summed wall time, before and after."""
    return {
        kind: {
            "before": [len(before.get(kind, [])), round(sum(before.get(kind, [])), 1)],
            "after": [len(ours.get(kind, [])), round(sum(ours.get(kind, [])), 1)],
        }
        for kind in sorted(set(ours) | set(before))
    }


def measure(device: torch.device, quick: bool) -> list[Row]:
    global LAST_REPO
    cores = int(os.environ.get("ATTNLIMITS_BENCH_CORES", os.cpu_count() or 1))
    config = "test.yaml" if quick else "config.yaml"
    revision = os.environ.get("ATTNLIMITS_BENCH_BASELINE", BASELINE)
    tmp = tempfile.mkdtemp(prefix="attnlimits-pipeline-")
    atexit.register(shutil.rmtree, tmp, True)
    case = f"config/{config}, --cores {cores}"
    rows: list[Row] = []

    before: dict[str, list[float]] = {}
    old_wall = None
    if not os.environ.get("ATTNLIMITS_BENCH_NO_BASELINE"):
        old, old_env = baseline_repo(revision, Path(tmp) / "baseline")
        _, old_wall = cold_run(old, old_env, config, cores, device)
        before = job_times(old / "results")
        keep(old / "results", "before")
        shutil.rmtree(old / "results", ignore_errors=True)

    repo, env = scratch_repo(Path(tmp) / "repo")
    cmd, cold = cold_run(repo, env, config, cores, device)
    cached, _, text = run_measured(cmd, repo, env)
    if "Nothing to be done" not in text:
        raise RuntimeError(f"the second run was not a no-op:\n{text[-1500:]}")
    LAST_REPO = repo
    keep(repo / "results", "after")
    ours = job_times(repo / "results")
    phases = phase_totals(repo / "results")
    job_wall = sum(sum(times) for times in ours.values())

    rows.append(
        Row(
            "d. pipeline",
            f"{case}, cold, vs {revision}",
            cold,
            old_wall,
            "s",
            None if old_wall is None else old_wall / cold,
            TARGET_SPEED_UP if old_wall is not None else None,
            f"ratio = previous main's cold wall time / ours (same machine, this run); "
            f"jobs {sum(map(len, before.values()))} → {sum(map(len, ours.values()))}",
            details=kinds_note(ours, before),
        )
    )
    rows.append(
        Row(
            "d. pipeline",
            f"{case}, cached",
            cached,
            TARGET_CACHED_SECONDS,
            "s",
            TARGET_CACHED_SECONDS / cached,
            1.0,
            "everything up to date: DAG and cache check only; ratio = 5 s / ours",
        )
    )
    numerics = phases.get("numerics", 0.0)
    rows.append(
        Row(
            "d. pipeline",
            f"{case}, share of job time in the numerics",
            numerics / job_wall if job_wall else None,
            None,
            "",
            numerics / job_wall if job_wall else None,
            TARGET_NUMERICS_SHARE,
            "numerics (job logs' last lines) / the jobs' wall times (benchmark files): "
            + ", ".join(f"{p} {s:.0f} s" for p, s in sorted(phases.items()))
            + f", of {job_wall:.0f} s",
            details={"phases": phases, "job_wall": job_wall},
        )
    )
    return rows
