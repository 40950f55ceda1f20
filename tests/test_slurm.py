"""The workflow on a real single-node SLURM, through snakemake-executor-plugin-slurm.

The SLURM profile (workflow/profiles/slurm) runs config/test.yaml on a SLURM cluster that
tests/slurm_cluster.py brings up on this machine from Debian's packages (installed when missing;
munged, slurmctld and slurmd started here and stopped afterwards). Its stores must equal those of a
local run bit for bit, and the per-cell rules must have been submitted as group jobs (fewer sbatch
calls than jobs). If SLURM cannot be installed or started, the test fails and says why.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from slurm_cluster import MIN_JOB_AGE, ClusterError, SlurmCluster
from workflow_helpers import REPO, SNAKEMAKE, assert_same_store, copy_repo, load_config, stores

from attnlimits.registry import registered

PROFILE = REPO / "workflow" / "profiles" / "slurm" / "config.yaml"
# Wall-time limits (s) of the two runs; snakemake gets SIGTERM then, and SIGKILL after GRACE.
LIMIT, GRACE = 600, 20
# Seconds from a submission to the first status check, in the test (the profile has 40).
INIT_STATUS_DELAY = 1


def run_bounded(cmd: list[str], cwd: Path, env: dict, limit: float, log: Path) -> int:
    """Run ``cmd`` in its own process group; past ``limit`` s, SIGTERM it, SIGKILL after GRACE.

    Snakemake takes SIGTERM as "finish the running jobs, then stop" (it may wait for ever), so a
    time limit needs the kill. Returns the exit status (negative: killed by that signal); the
    output goes to ``log``.
    """
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            return proc.wait(limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(GRACE)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            out.write(f"\n[test] killed after {limit} s (+{GRACE} s grace)\n")
            return proc.returncode if proc.returncode else -9


def tail(path: Path, n: int = 4000) -> str:
    return path.read_text(errors="replace")[-n:]


def prepare(repo: Path) -> tuple[list[str], dict]:
    """A copy of the repository with config/test.yaml as its run config; command and env."""
    copy_repo(repo)
    (repo / "config" / "run.yaml").write_text(yaml.safe_dump(load_config("test.yaml")))
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}  # the copy's code
    return [*SNAKEMAKE, "--configfile", "config/run.yaml"], env


@pytest.fixture(scope="module")
def cluster():
    cluster = SlurmCluster()
    try:
        cluster.start()
    except (ClusterError, OSError, subprocess.SubprocessError) as err:
        cluster.stop()
        pytest.fail(f"SLURM could not be started: {err}", pytrace=False)
    yield cluster
    cluster.stop()


@pytest.mark.slow
def test_slurm_run_equals_local_run(cluster, tmp_path):
    local, remote = tmp_path / "local", tmp_path / "slurm"
    local_cmd, local_env = prepare(local)
    slurm_cmd, slurm_env = prepare(remote)
    # the profile as it is, with groups sized for this node: the 4 limits (one batch, one job)
    # and 4 batches of cells (9 cells) in two group jobs, side by side on 2 cores (a group job
    # runs its members one after the other)
    slurm_cmd += [
        "--workflow-profile",
        "workflow/profiles/slurm",
        "--group-components",
        "heads_limits=2",
        "heads_cells=2",
        "--slurm-init-seconds-before-status-checks",
        str(INIT_STATUS_DELAY),
        "--slurm-keep-successful-logs",
    ]
    slurm_env.update(SLURM_CONF=str(cluster.conf))
    # The local run overlaps the SLURM run, which spends much of its time waiting for status
    # checks (one core: stores do not depend on --cores, tests/test_workflow.py).
    with ThreadPoolExecutor(1) as pool:
        local_cmd += ["--cores", "1"]
        local_log = tmp_path / "local.log"
        local_run = pool.submit(run_bounded, local_cmd, local, local_env, LIMIT, local_log)
        rc = run_bounded(slurm_cmd, remote, slurm_env, LIMIT, tmp_path / "slurm.log")
        if rc != 0:
            jobs = cluster.jobs()  # before the fixture's tear-down cancels what is left
            pytest.fail(
                f"snakemake --executor slurm exited with {rc}:\n{tail(tmp_path / 'slurm.log')}\n"
                f"SLURM jobs: {jobs}\n{cluster.diagnostics()}",
                pytrace=False,
            )
        assert local_run.result() == 0, tail(local_log)

    # bit-identical stores
    assert stores(remote) and stores(remote) == stores(local)
    for rel in stores(remote):
        assert_same_store(remote / rel, local / rel)

    # the jobs ran through SLURM, status from squeue, and in groups: fewer sbatch calls than jobs
    text = (tmp_path / "slurm.log").read_text()
    finished = re.findall(r"Finished jobid: \d+ \(Rule: (\w+)\)", text)
    rule_jobs = [r for r in finished if r != "all"]  # `all` has no action, it is not submitted
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", text)
    assert rule_jobs.count("heads_cell") == 4 and rule_jobs.count("heads_limit") == 1, finished
    assert len(submitted) < len(rule_jobs), (finished, submitted)
    assert "Falling back to 'sacct'" not in text
    # squeue keeps finished jobs long enough for the profile's own first status delay
    assert (
        MIN_JOB_AGE
        >= 3 * yaml.safe_load(PROFILE.read_text())["slurm-init-seconds-before-status-checks"]
    )
    jobs = {j["id"]: j for j in cluster.jobs()}  # finished jobs stay listed for MinJobAge
    ours = [jobs[i] for i in submitted]
    assert all(j["state"] == "COMPLETED" for j in ours), ours
    assert len({j["name"] for j in ours}) == 1 and ours[0]["name"].startswith("attnlimits_")
    assert all(j["cpus"] == "1" for j in ours), ours  # the profile's `cores: 1`
    kinds = [j["comment"].split("_")[1:3] for j in ours]  # rule_<group or rule name>_...
    assert kinds.count(["heads", "limits"]) == 1 and kinds.count(["heads", "cells"]) == 2, kinds
    assert kinds.count(["heads", "summary"]) == 1, kinds  # aggregate, fit, plots: one job
    logs = remote / ".snakemake" / "slurm_logs"
    assert len(list((logs / "group_heads_cells_heads_cell").glob("*.log"))) == 2, list(
        logs.rglob("*")
    )


def test_profile_groups_existing_rules():
    """Every rule that the profile groups exists, and every group has a component count."""
    profile = yaml.safe_load(PROFILE.read_text())
    rules = {"verdicts"} | {
        f"{name}_{job.name}" for name, e in registered().items() for job in e.jobs
    }
    grouped = dict(entry.split("=") for entry in profile["groups"])
    sizes = dict(entry.split("=") for entry in profile["group-components"])
    assert set(grouped) <= rules, set(grouped) - rules
    assert set(sizes) <= set(grouped.values())  # the others span one DAG component each
    assert all(int(n) > 1 for n in sizes.values())
    per_cell = {"heads_cell", "adamw_cell", "sde_depth", "lowtemp_run", "lowtemp_terminal"}
    assert per_cell <= set(grouped)
    assert profile["executor"] == "slurm" and profile["scheduler"] == "greedy"
    assert profile["slurm-status-command"] == "squeue"
    default = yaml.safe_load((PROFILE.parent.parent / "default" / "config.yaml").read_text())
    for key in default:  # self-contained: the default profile is not read with this one
        assert key in profile, key
