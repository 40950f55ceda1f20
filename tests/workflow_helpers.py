"""Running the workflow in a temporary copy of the repository, for the end-to-end tests."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from attnlimits.config import validate_config
from attnlimits.provenance import VOLATILE_ATTRS
from attnlimits.registry import registered
from attnlimits.storage import is_temporary, open_dataset

REPO = Path(__file__).resolve().parents[1]
COPIED = ("workflow", "profiles", "config", "src")
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def copy_repo(dest: Path) -> Path:
    """A copy of what the workflow needs (its code included), so tests may edit it."""
    dest.mkdir(parents=True)
    for name in COPIED:
        src = REPO / name
        if src.is_symlink():
            (dest / name).symlink_to(os.readlink(src))
        elif src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def load_config(name: str = "test.yaml") -> dict:
    return yaml.safe_load((REPO / "config" / name).read_text())


def snakemake(
    repo: Path,
    *args: str,
    config: dict | None = None,
    check: bool = True,
    timeout: float = 600,
    base: str = "test.yaml",
    trace: bool = False,
) -> subprocess.CompletedProcess:
    """Run Snakemake in ``repo`` on ``config`` (default: config/``base``), with the copy's code.

    ``trace``: every job traces the library functions it runs and warns when one lies outside
    its code version (``ATTNLIMITS_TRACE_CODE``; about a third slower), which fails the call.
    The first full run of each test config traces; the runs that follow re-run the same code."""
    cfg = repo / "config" / "run.yaml"
    cfg.write_text(yaml.safe_dump(config or load_config(base)))
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}  # the copy's code, not the checkout's
    if trace:
        env["ATTNLIMITS_TRACE_CODE"] = "1"
    proc = subprocess.run(
        [*SNAKEMAKE, "--configfile", str(cfg), *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    assert_code_versions_cover_what_ran(repo)
    return proc


def assert_code_versions_cover_what_ran(repo: Path) -> None:
    """No job log says it imported library code outside its code version (jobs.UNSEEN_CODE)."""
    from attnlimits.jobs import UNSEEN_CODE

    logs = repo / "results" / "logs"
    found = [
        f"{log.relative_to(logs)}: {line.strip()}"
        for log in (logs.rglob("*.log") if logs.is_dir() else [])
        for line in log.read_text(errors="replace").splitlines()
        if UNSEEN_CODE in line
    ]
    assert not found, "jobs ran code their code version misses:\n" + "\n".join(found)


def planned_jobs(repo: Path, config: dict | None = None, base: str = "test.yaml") -> dict[str, int]:
    """Rule → number of jobs that a dry run would execute."""
    out = snakemake(repo, "-n", "--cores", "1", config=config, base=base)
    text = out.stdout + out.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:", 1)[1]
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)\s*$", table, flags=re.M))
    jobs.pop("total", None)
    return {k: int(v) for k, v in jobs.items()}


def stores(repo: Path) -> list[Path]:
    """Every Zarr store under the copy's results, relative to the copy, under its final name:
    none inside a hidden temporary (a batch folder being written)."""
    found = (p.relative_to(repo) for p in (repo / "results").rglob("*.zarr"))
    return sorted(p for p in found if not any(is_temporary(part) for part in p.parts))


def assert_same_store(a: Path, b: Path) -> None:
    """Bit-identical variables and equal attributes, the creation time aside."""
    da, db = open_dataset(a, chunks=None), open_dataset(b, chunks=None)
    assert set(da.variables) == set(db.variables), a
    for name in da.variables:
        assert da[name].values.tobytes() == db[name].values.tobytes(), f"{a}: {name}"
    volatile = set(VOLATILE_ATTRS)
    assert {k: v for k, v in da.attrs.items() if k not in volatile} == {
        k: v for k, v in db.attrs.items() if k not in volatile
    }, a


def touched_batches(before: dict, after: dict, experiment: str, job: str) -> int:
    """How many batches of ``job`` receive a key that ``after`` adds to ``before`` (the jobs a
    grown grid re-runs: attnlimits.batches)."""
    declared = registered()[experiment]
    old = set(declared.keys(validate_config(before), job))
    new = validate_config(after)
    return len({declared.output_of(new, job, k) for k in declared.keys(new, job) if k not in old})
