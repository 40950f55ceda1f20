"""Fault injection on a finished run (experiment heads, a trimmed config/test.yaml, in a temporary
copy of the repository): hard kills while a store is written, deleted and truncated chunks,
damaged metadata, deleted stores, a reader during a re-aggregation. Every case ends with the next
run rebuilding what is missing, or with an error that names the store: never a silent NaN, never
a claim dropped from the claims table.

One run is made once (module fixture) and each case works on a copy of it. The kill of a run
while cells are being made is tests/test_workflow.py's test_interrupted_run_leaves_nothing_trusted.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
from workflow_helpers import (
    SNAKEMAKE,
    assert_same_store,
    copy_repo,
    load_config,
    planned_jobs,
    snakemake,
    stores,
)

import attnlimits
from attnlimits.storage import StoreError, open_dataset
from attnlimits.verify import verify_results

pytestmark = pytest.mark.slow


def trimmed_config() -> dict:
    """config/test.yaml with 5 cells over 2 limits (the fit still finds its grids), 2 cells per
    job (several batches: a damaged or deleted cell re-runs its own batch, not the others),
    without the worst-case input search (the faults are those of the cells' chain)."""
    config = load_config("test.yaml")
    config["heads"]["grids"] = {
        "depth_heads": {"N": [6], "d": [3], "beta": [1.0], "L": [2, 4], "H": [1, 4]},
        "tokens": {"N": [4], "d": [3], "beta": [1.0], "L": [4], "H": [2]},
    }
    config["heads"]["fits"]["bootstrap"] = 10
    config["heads"]["adversarial"]["enabled"] = False  # its job is tested in test_workflow
    config["runtime"]["cells_per_job"] = {"heads_cell": 2}
    return config


CONFIG = trimmed_config()
CONSOLIDATED = "results/heads/results.zarr"
STATISTICS = "results/heads/statistics.zarr"
CLAIMS = "results/heads/tables/claims.csv"
#: The heads rules that write stores, upstream first.
CHAIN = ["heads_limit", "heads_cell", "heads_aggregate", "heads_fit"]


def run(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return snakemake(repo, *args, config=CONFIG, check=check)


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    repo = copy_repo(tmp_path_factory.mktemp("faults") / "repo")
    run(repo, "--cores", "2")
    return repo


def copy_of(finished: Path, tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(finished, repo, symlinks=True)
    return repo


def cell(repo: Path, name: str = "L2_H1_") -> Path:
    """A cell store of the copy, relative to it (N = 6)."""
    [found] = (repo / "results/heads/cells").glob(f"batch*/*_N6_*/{name}*.zarr")
    return found.relative_to(repo)


def batch_of(store: Path) -> Path:
    """The folder of the batch of cells a cell store belongs to (results/heads/cells/<batch>)."""
    return Path(*store.parts[:4])


def verify_cli(repo: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m attnlimits verify results`` in the copy, as a user types it."""
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    return subprocess.run(
        [sys.executable, "-m", "attnlimits", "verify", "results", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def chunk_of(store: Path, array: str) -> Path:
    """A chunk file of ``array`` in the store (a published store: in its current version)."""
    return sorted(p for p in (store.resolve() / array).iterdir() if not p.name.startswith("."))[0]


def assert_same_as(repo: Path, finished: Path, *rels: str | Path) -> None:
    for rel in rels:
        assert_same_store(repo / rel, finished / rel)


def assert_same_claims(repo: Path, finished: Path) -> None:
    """Every claim of the reference run, with the same numbers."""
    pd.testing.assert_frame_equal(pd.read_csv(repo / CLAIMS), pd.read_csv(finished / CLAIMS))


# --------------------------------------------------------------------------- damaged stores


def test_damaged_stores_are_errors_naming_them_never_nan(finished, tmp_path):
    repo = copy_of(finished, tmp_path)
    results = repo / "results"
    chunk_of(repo / CONSOLIDATED, "e2").unlink()  # was: 16 more NaN from open_results
    truncated = repo / cell(repo, "L4_H4_")
    gram = chunk_of(truncated, "gram")
    gram.write_bytes(gram.read_bytes()[:20])  # was: "error during blosc decompression: -1"
    (repo / STATISTICS).resolve().joinpath(".zmetadata").write_text('{"metadata": ')  # ValueError
    flipped = repo / cell(repo, "L2_H4_")
    data = bytearray(chunk_of(flipped, "e2").read_bytes())
    data[-1] ^= 0xFF  # same size: the cheap check passes, the read and --full do not
    chunk_of(flipped, "e2").write_bytes(bytes(data))

    with pytest.raises(StoreError, match=r"heads/results\.zarr \(version .*missing chunk .*'e2'"):
        attnlimits.open_results("heads", results=results)
    with pytest.raises(StoreError, match=r"statistics\.zarr .*damaged metadata file \.zmetadata"):
        attnlimits.open_statistics("heads", results=results)
    with pytest.raises(StoreError, match=rf"{truncated.name}: .*truncated .* of array 'gram'"):
        open_dataset(truncated)
    ds = open_dataset(flipped)
    with pytest.raises(StoreError, match=rf"{flipped.name}: .*of array 'e2' differs"):
        ds["e2"].load()

    cheap = verify_cli(repo)
    assert cheap.returncode == 1, cheap.stderr
    for store, rule, target in [
        (CONSOLIDATED, "heads_aggregate", CONSOLIDATED),
        (STATISTICS, "heads_fit", STATISTICS),
        (truncated.relative_to(repo), "heads_cell", batch_of(truncated.relative_to(repo))),
    ]:
        assert f"DAMAGED {store} (rule {rule})" in cheap.stdout, cheap.stdout
        assert f"rebuild: snakemake --forcerun {target} --cores N" in cheap.stdout
    assert str(flipped.relative_to(repo)) not in cheap.stdout
    assert "3 of 9 stores are damaged" in cheap.stdout
    full = verify_cli(repo, "--full")
    assert f"DAMAGED {flipped.relative_to(repo)} (rule heads_cell)" in full.stdout, full.stdout
    assert "4 of 9 stores are damaged" in full.stdout


def test_a_deleted_chunk_of_a_cell_fails_the_aggregation_and_its_command_rebuilds_it(
    finished, tmp_path
):
    """Was: the re-aggregation exited 0 with the cell NaN and five claims gone."""
    repo = copy_of(finished, tmp_path)
    damaged = cell(repo)
    chunk_of(repo / damaged, "e2").unlink()
    failed = run(repo, "--forcerun", "heads_aggregate", "--cores", "1", CONSOLIDATED, check=False)
    assert failed.returncode != 0
    said = failed.stdout + failed.stderr
    assert f"{damaged}: damaged or unfinished store: missing chunk" in said, said[-3000:]
    assert not (repo / CONSOLIDATED).exists()  # no consolidated store without that cell
    with pytest.raises(FileNotFoundError, match="results.zarr does not exist"):
        attnlimits.open_results("heads", results=repo / "results")
    assert_same_claims(repo, finished)  # the claims of the last good fit stand

    report = verify_cli(repo)
    assert report.returncode == 1
    [command] = [line for line in report.stdout.splitlines() if "rebuild:" in line]
    command = command.split("rebuild: ", 1)[1].replace("--cores N", "--cores 2").split()
    assert command == ["snakemake", "--forcerun", str(batch_of(damaged)), "--cores", "2"]
    # the command verify gives (the cell's batch and what depends on it), up to the consolidated
    # store
    run(repo, *command[1:], CONSOLIDATED)
    assert verify_cli(repo).returncode == 0
    assert_same_as(repo, finished, damaged, CONSOLIDATED)


# --------------------------------------------------------------------------- deleted stores


def test_deleted_stores_are_rebuilt_by_the_next_run(finished, tmp_path):
    """Every store is a target of rule all, so a deleted one is rebuilt by the next run
    (Snakemake rebuilds no missing input of a job that need not run: deleted limit and cell
    stores were not), and a published store whose version is gone or emptied is missing (its
    link is removed before the DAG is built)."""
    repo = copy_of(finished, tmp_path)
    link = os.readlink(repo / STATISTICS)
    (repo / STATISTICS).unlink()  # the link: what `rm -rf results/heads/statistics.zarr` removes
    jobs = planned_jobs(repo, CONFIG)
    assert jobs.get("heads_fit") == 1 and "heads_aggregate" not in jobs, jobs
    (repo / STATISTICS).symlink_to(link)
    for part in (repo / STATISTICS).resolve().iterdir():  # `rm -rf statistics.zarr/` empties it
        _ = shutil.rmtree(part) if part.is_dir() else part.unlink()
    shutil.rmtree((repo / CONSOLIDATED).resolve())  # the version: a dangling link
    deleted_cell = cell(repo, "L4_H1_")  # N = 6, beside the cells that stay
    shutil.rmtree(repo / deleted_cell)
    [limit] = (repo / "results/heads/limit").glob("batch*/*_N4_*.zarr")  # its one cell stays
    shutil.rmtree(limit)
    # the two limits are one batch (one job): it re-runs, and so does every batch of cells,
    # each needing one of its limits
    assert len(list((repo / "results/heads/limit").glob("batch*/*.zarr"))) == 1
    batches = {batch_of(p.relative_to(repo)) for p in (repo / "results/heads/cells").glob("batch*")}
    assert batch_of(deleted_cell) in batches and len(batches) > 1
    # the next run, up to the statistics (the plots and the verdict page aside)
    out = run(repo, "--cores", "2", "all", "--omit-from", "heads_plots", "verdicts")
    said = (out.stdout + out.stderr).split("Job stats:", 1)[1]
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)\s*$", said, re.M))
    assert {rule: jobs.get(rule) for rule in CHAIN} == {
        "heads_limit": "1",
        "heads_cell": str(len(batches)),
        "heads_aggregate": "1",
        "heads_fit": "1",
    }, jobs
    assert stores(repo) == stores(finished)
    for rel in stores(repo):
        assert_same_store(repo / rel, finished / rel)
    assert_same_claims(repo, finished)
    assert verify_results(repo / "results").ok


# --------------------------------------------------------------------------- hard kills


def kill_when_written(repo: Path, args: list[str], folder: Path, prefix: str) -> list[str]:
    """Run Snakemake with ``args`` and SIGKILL it and its jobs as soon as a temporary store
    named ``prefix``… appears in ``folder`` (a store being written). Returns what it saw."""
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    proc = subprocess.Popen(
        [*SNAKEMAKE, "--configfile", "config/run.yaml", *args],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    seen: list[str] = []
    deadline = time.monotonic() + 300
    while not seen and proc.poll() is None and time.monotonic() < deadline:
        try:
            seen = [n for n in os.listdir(folder) if n.startswith(prefix) and ".tmp-" in n]
        except FileNotFoundError:
            pass
        if not seen:
            time.sleep(0.001)
    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # Snakemake and its jobs, mid-write
    except ProcessLookupError:  # it ended before (the assertion below says so)
        pass
    for member in family:  # any job that left the process group
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    proc.wait()
    psutil.wait_procs(family, timeout=30)
    assert seen, f"no temporary store {prefix}… was seen in {folder}"
    return seen


def test_sigkill_while_stores_are_written(finished, tmp_path):
    """SIGKILL of Snakemake and its jobs while a cell store is written, then (the next run)
    while the consolidated store is, then (the next) while the statistics are: each time
    nothing unfinished is left under a final name and the datasets are the finished ones or
    absent, never partial; each next run first removes what the killed one left."""
    repo = copy_of(finished, tmp_path)
    rebuilt = cell(repo)
    batch = batch_of(rebuilt)  # its cells are written in a hidden folder, renamed when all are
    # the next run (plots and verdict page aside); a hard kill leaves Snakemake's lock
    # (`snakemake --unlock`: test_workflow's interrupted run)
    run_args = ["--omit-from", "heads_plots", "verdicts", "--nolock", "--cores", "1", "all"]
    left: list[Path] = []
    for args, path in [
        (["--forcerun", str(batch)], repo / batch),
        ([], repo / CONSOLIDATED),
        ([], repo / STATISTICS),
    ]:
        kill_when_written(repo, [*args, *run_args], path.parent, f".{path.name}")
        assert not [p for p in left if p.exists() or p.is_symlink()]  # removed at the start
        report = verify_results(repo / "results")
        assert report.ok, report.damaged  # what was being written is hidden (or finished)
        left = report.temporaries
        for rel in (CONSOLIDATED, STATISTICS):
            if (repo / rel).exists():
                assert_same_store(repo / rel, finished / rel)
            else:  # a clear error: the store being rebuilt is not there
                with pytest.raises(FileNotFoundError, match=rel.split("/")[-1]):
                    open_dataset(repo / rel)
    out = run(repo, *run_args)
    assert not left or "left by a killed job" in out.stdout + out.stderr
    assert not [p for p in (repo / "results").rglob("*") if ".tmp-" in p.name]
    assert_same_as(repo, finished, rebuilt, CONSOLIDATED, STATISTICS)
    assert_same_claims(repo, finished)
    assert verify_results(repo / "results").ok


# --------------------------------------------------------------------------- readers


def test_a_reader_keeps_valid_data_during_a_re_aggregation(finished, tmp_path):
    """Snakemake removes the outputs of the aggregate and fit jobs before they run: a reader
    that opened the datasets keeps reading the versions it opened, never NaN."""
    repo = copy_of(finished, tmp_path)
    results = repo / "results"
    ds = attnlimits.open_results("heads", results=results)
    stats = attnlimits.open_statistics("heads", results=results)
    e2 = open_dataset(finished / CONSOLIDATED)["e2"].values
    err = open_dataset(finished / STATISTICS)["err"].values
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    proc = subprocess.Popen(
        [
            *SNAKEMAKE,
            "--configfile",
            "config/run.yaml",
            "--forcerun",
            "heads_aggregate",
            "--cores",
            "1",
            STATISTICS,
        ],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    reads, gone = 0, 0
    while proc.poll() is None:
        gone += not (repo / CONSOLIDATED).exists() or not (repo / STATISTICS).exists()
        np.testing.assert_array_equal(ds["e2"].values, e2)
        np.testing.assert_array_equal(stats["err"].values, err)
        reads += 1
        time.sleep(0.05)  # leave the jobs the CPU
    assert proc.returncode == 0, proc.stderr.read()
    assert reads > 0 and gone > 0, (reads, gone)  # the paths vanished while it read
    np.testing.assert_array_equal(ds["e2"].values, e2)
    assert_same_as(repo, finished, CONSOLIDATED, STATISTICS)  # the new versions, same bits
