"""Benchmark f: peak memory of the largest default job against the memory its rule reserves.

The default jobs, their benchmark files and their reserved ``mem_mb`` come from Snakemake itself:
a dry run of the default config with every job forced (``snakemake -n --forceall``) prints each
job's ``benchmark:`` path and ``resources:`` (``mem_mb``, whether a constant or computed, as for
``adamw``'s memory model). Snakemake writes each job's ``max_rss`` (MiB) to that benchmark TSV
when it runs the job; the TSVs under ``results/benchmarks/`` from the last run are read here.
TSVs whose path is not a current default job (other settings hash, other grid) are stale and
ignored; jobs without a TSV have not run yet.

Rows: the job with the largest ``max_rss`` and the job closest to its reservation (largest
``max_rss / mem_mb``), each with ratio ``mem_mb / max_rss`` (target ≥ 1: the reservation covers
the peak, or a cluster scheduler would kill the job). ``max_rss`` is converted from MiB to MB
(10⁶ bytes, Snakemake's ``mem_mb`` unit). Snakemake samples RSS (every second for the first 30 s
of a job, then every 30 s), so the recorded peak can miss a short spike: ``adamw_memory.py``
measures exact peaks (``ru_maxrss`` of a fresh process) for the ``adamw`` limit jobs.

    python benchmarks/run.py --only f
"""

from __future__ import annotations

import csv
import math
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from common import REPO, Row

MIB = 2**20 / 1e6  # MB per MiB
TARGET = 1.0


@dataclass
class Job:
    rule: str
    benchmark: str | None = None
    wildcards: str = ""
    resources: dict[str, str] = field(default_factory=dict)

    @property
    def mem_mb(self) -> float | None:
        if "mem_mb" in self.resources:
            return float(self.resources["mem_mb"])
        if "mem_mib" in self.resources:
            return float(self.resources["mem_mib"]) * MIB
        return None

    @property
    def name(self) -> str:
        items = [w for w in self.wildcards.split(", ") if w and not w.startswith("hash=")]
        return " ".join([self.rule, *items])


def parse_dry_run(text: str) -> list[Job]:
    """The jobs of a Snakemake dry run's output (rule, benchmark, wildcards, resources)."""
    jobs: list[Job] = []
    for line in text.splitlines():
        head = re.match(r"^(?:local)?(?:rule|checkpoint) (\w+):\s*$", line)
        if head:
            jobs.append(Job(head.group(1)))
            continue
        item = re.match(r"^\s+(benchmark|wildcards|resources): (.*)$", line)
        if not item or not jobs:
            continue
        key, value = item.groups()
        if key == "benchmark":
            jobs[-1].benchmark = value.strip()
        elif key == "wildcards":
            jobs[-1].wildcards = value.strip()
        else:
            pairs = (p.split("=", 1) for p in value.split(", ") if "=" in p)
            jobs[-1].resources = {k.strip(): v.strip() for k, v in pairs}
    return jobs


def default_jobs(repo: Path = REPO, extra: tuple[str, ...] = ()) -> list[Job]:
    """Every job of the default pipeline (``snakemake -n --forceall``), with its resources."""
    cmd = [sys.executable, "-m", "snakemake", "-n", "--forceall", "--cores", "1", "--nolock"]
    out = subprocess.run([*cmd, *extra], cwd=repo, capture_output=True, text=True)
    if out.returncode:
        tail = " | ".join((out.stdout + out.stderr).strip().splitlines()[-5:])
        raise RuntimeError(f"snakemake -n --forceall failed ({out.returncode}): {tail}")
    return parse_dry_run(out.stdout + out.stderr)


def max_rss_mib(tsv: Path) -> float | None:
    """Largest ``max_rss`` (MiB) of a Snakemake benchmark TSV (None if only NA)."""
    values = []
    with open(tsv, newline="") as fh:
        for record in csv.DictReader(fh, delimiter="\t"):
            try:
                values.append(float(record["max_rss"]))
            except (KeyError, TypeError, ValueError):
                continue
    values = [v for v in values if math.isfinite(v)]
    return max(values) if values else None


def measured(jobs: list[Job], repo: Path = REPO) -> list[tuple[Job, float]]:
    """(job, max_rss in MB) for each job whose benchmark TSV exists and has a value."""
    out = []
    for job in jobs:
        if job.benchmark is None:
            continue
        path = repo / job.benchmark
        if path.is_file():
            rss = max_rss_mib(path)
            if rss is not None:
                out.append((job, rss * MIB))
    return out


def stale_tsvs(jobs: list[Job], repo: Path = REPO) -> int:
    current = {str((repo / j.benchmark).resolve()) for j in jobs if j.benchmark}
    root = repo / "results" / "benchmarks"
    if not root.is_dir():
        return 0
    return sum(str(p.resolve()) not in current for p in root.rglob("*.tsv"))


def rows_for(jobs: list[Job], repo: Path = REPO) -> list[Row]:
    with_bench = [j for j in jobs if j.benchmark]
    found = measured(with_bench, repo)
    stale = stale_tsvs(with_bench, repo)
    coverage = f"{len(found)}/{len(with_bench)} default jobs have a benchmark TSV"
    if stale:
        coverage += f", {stale} stale TSVs ignored"
    if not found:
        note = "run the pipeline first (snakemake --cores 2): " + coverage
        return [Row("f. peak memory", "largest default job", None, None, "MB", None, None, note)]
    rows = []
    largest = max(found, key=lambda jr: jr[1])
    tight = [(j, r) for j, r in found if j.mem_mb]
    tightest = max(tight, key=lambda jr: jr[1] / jr[0].mem_mb) if tight else None
    for label, pick in (("largest max_rss", largest), ("closest to mem_mb", tightest)):
        if pick is None or (label != "largest max_rss" and pick[0] is largest[0]):
            continue
        job, rss = pick
        mem = job.mem_mb
        rows.append(
            Row("f. peak memory", f"{label}: {job.name}", rss, mem, "MB",
                mem / rss if mem else None, TARGET if mem else None,
                f"max_rss (Snakemake TSV) vs rule's mem_mb; {coverage}",
                {"benchmark": job.benchmark, "jobs_measured": len(found)})
        )  # fmt: skip
    return rows


def measure(device: torch.device, quick: bool) -> list[Row]:
    # The pipeline's jobs run on the device of config runtime.device; the TSVs are what they were.
    # When benchmark d ran in this process, its cold run's TSVs are read (every job measured).
    import pipeline

    if pipeline.LAST_REPO is not None and not quick:
        return rows_for(default_jobs(pipeline.LAST_REPO), pipeline.LAST_REPO)
    return rows_for(default_jobs())
