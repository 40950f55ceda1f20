"""End to end through Snakemake on config/test.yaml, in a temporary copy of the repository.

Covers: a full run producing tables and plots; caching (dry-run job lists after a second run,
a plot option, a new grid value, an edit of the model code); bit-identical stores whatever
``--cores``; invalid configs refused before any job; an interrupted run that leaves nothing a
later run trusts.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
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

from attnlimits.batches import BATCH_CONSTRAINT
from attnlimits.registry import registered
from attnlimits.storage import MANIFEST, open_dataset

pytestmark = pytest.mark.slow


def default_test_config() -> dict:
    return load_config("test.yaml")


@pytest.fixture(scope="module")
def finished(tiny_run) -> Path:
    """The session's run of config/test.yaml (conftest.py)."""
    return tiny_run


def test_full_run_produces_tables_and_plots(finished):
    results = finished / "results" / "heads"
    for table in ("claims", "two_term", "slopes", "local_slopes"):
        assert (results / "tables" / f"{table}.csv").stat().st_size > 0
        assert (results / "tables" / f"{table}.md").stat().st_size > 0
    for fig in (
        "err_vs_L",
        "err_vs_H",
        "bias_fluct_vs_L",
        "e_inf_vs_N",
        "local_slopes",
        "trajectories",
    ):
        assert (results / "plots" / f"{fig}.png").stat().st_size > 1000
    ds = open_dataset(results / "results.zarr")
    assert dict(ds.sizes)["L"] == 3 and dict(ds.sizes)["N"] == 4
    # no temporary store was left behind
    assert not list((finished / "results").rglob("*.tmp-*"))


def test_run_searches_worst_inputs_and_judges_their_claims(finished):
    """The search of heads.adversarial (the cells and seeds of depth_heads): its random-input
    error at the test inputs is the cells' err, its claims are on the verdict page, and its
    figure, rebuilt from the run's tables, draws their errors."""
    import pandas as pd

    from attnlimits.heads.plots import ADVERSARIAL_TABLES, adversarial_figure

    results = finished / "results"
    tables = results / "heads" / "tables"
    search = pd.read_csv(tables / "adversarial.csv")
    points = pd.read_csv(tables / "points.csv").query("grid == 'depth_heads'")
    both = search.merge(points, on=["mask", "normalisation", "N", "d", "beta", "L", "H"])
    assert len(both) == len(search) == 6
    np.testing.assert_allclose(both["err_random_cell"], both["err"], rtol=1e-4)
    assert (both["err_adv"] >= both["err_random"]).all() and (both["ratio"] >= 1).all()
    verdicts = pd.read_csv(results / "verdicts.csv").query("claim.str.startswith('adv_')")
    assert sorted(verdicts["claim"]) == ["adv_bound_H", "adv_bound_L", "adv_ratio_H", "adv_ratio_L"]
    assert set(verdicts["kind"]) == {"bound", "rate"}
    assert verdicts["premise"].str.contains("sphere").all()
    assert not verdicts["setting"].str.contains("resolved").any()
    assert (results / "heads" / "plots" / "adversarial.png").stat().st_size > 1000
    found = {name: pd.read_csv(tables / f"{name}.csv") for name in ADVERSARIAL_TABLES.values()}
    errors = adversarial_figure(found).axes[0]
    drawn = {line.get_label().split(":")[0]: line for line in errors.get_lines()}
    for h, at in search.sort_values("L").groupby("H"):
        np.testing.assert_allclose(drawn[f"adv, H = {h}"].get_ydata(), at["err_adv"])
        np.testing.assert_allclose(drawn[f"random, H = {h}"].get_ydata(), at["err_random"])


def test_second_run_does_nothing(finished):
    assert planned_jobs(finished) == {}


def test_plot_option_reruns_only_plotting(finished):
    cfg = default_test_config()
    cfg["plots"]["dpi"] = 61
    assert planned_jobs(finished, cfg) == {"heads_plots": 1, "all": 1}


def cell_batches(config: dict) -> dict:
    """Each heads cell of ``config`` → the folder of its batch."""
    heads = registered()["heads"]
    return {key: b.folder for b in heads.batches(config, "cell") for key in b.keys}


def test_new_grid_value_runs_only_new_cells(finished):
    """The batches that receive a new cell re-run; the others keep their stores."""
    cfg = default_test_config()
    cfg["heads"]["grids"]["depth_heads"]["L"].append(16)
    before, after = cell_batches(default_test_config()), cell_batches(cfg)
    touched = {after[key] for key in after.keys() - before.keys()}
    assert len(touched) < len(set(after.values())) == len(set(before.values())) == 4
    jobs = planned_jobs(finished, cfg)
    assert jobs == {
        "heads_cell": len(touched),
        "heads_aggregate": 1,
        "heads_fit": 1,
        "heads_plots": 1,
        "verdicts": 1,
        "all": 1,
    }


def test_a_grown_grid_computes_only_its_new_cells(finished, tmp_path):
    """A batch that receives a new cell is a new folder; its job links the cells an earlier
    folder holds, made by the same parameters, code and limit (attnlimits.reuse), computes only
    the new ones, and leaves the earlier folders in place."""
    repo = tmp_path / "grown"
    shutil.copytree(finished, repo, symlinks=True)
    cfg = default_test_config()
    cfg["heads"]["grids"]["depth_heads"]["L"].append(16)
    before, after = cell_batches(default_test_config()), cell_batches(cfg)
    new = after.keys() - before.keys()
    touched = sorted({after[key] for key in new})
    snakemake(repo, "--cores", "2", *(f"results/{folder}" for folder in touched), config=cfg)
    heads = registered()["heads"]
    for folder in touched:
        members = [key for key, f in after.items() if f == folder]
        kept = [key for key in members if key not in new]
        log = (repo / "results/logs" / f"{folder}.log").read_text()
        assert (f"{len(kept)} of {len(members)} stores reused" in log) == bool(kept), log
        for key in kept:  # the same files, linked
            ours = repo / "results" / heads.store_path(cfg, "cell", key) / MANIFEST
            earlier = repo / "results" / before[key] / ours.relative_to(repo / "results" / folder)
            assert earlier.is_file() and os.path.samefile(ours, earlier)
    assert all((repo / "results" / folder).is_dir() for folder in set(before.values()))


def test_fit_option_reruns_fits_and_plots_only(finished):
    cfg = default_test_config()
    cfg["heads"]["fits"]["bootstrap"] = 41
    assert planned_jobs(finished, cfg) == {
        "heads_fit": 1,
        "heads_plots": 1,
        "verdicts": 1,
        "all": 1,
    }


def test_editing_model_code_reruns_simulations_not_limits(finished, tmp_path):
    repo = tmp_path / "edited"
    shutil.copytree(finished, repo, symlinks=True)
    model = repo / "src/attnlimits/p1/discrete.py"
    model.write_text(model.read_text() + "\n# a comment changes nothing\n")
    assert planned_jobs(repo) == {}
    model.write_text(model.read_text() + "\nEDITED = True\n")
    jobs = planned_jobs(repo)
    assert jobs.get("heads_cell") == 4 and "heads_limit" not in jobs, jobs  # every batch
    solver = repo / "src/attnlimits/p1/limit.py"
    solver.write_text(solver.read_text() + "\nEDITED = True\n")
    jobs = planned_jobs(repo)
    assert jobs.get("heads_limit") == 1, jobs  # its one batch, of the four limits


def without_batch(rel: Path) -> Path:
    """A store's path with its batch folder left out (results/heads/cells/<batch>/...)."""
    return Path(*(part for part in rel.parts if not re.fullmatch(BATCH_CONSTRAINT, part)))


def test_stores_bit_identical_whatever_cores_and_batches(finished, tmp_path):
    """One core instead of two, and every cell in one batch instead of four: the same stores
    (the cells in other folders)."""
    repo = copy_repo(tmp_path / "one_core")
    cfg = default_test_config()
    cfg["runtime"]["cells_per_job"] = {"heads_cell": 64}
    snakemake(repo, "--cores", "1", config=cfg)
    ours, theirs = stores(repo), stores(finished)
    assert len({rel.parts[3] for rel in ours if rel.parts[2] == "cells"}) == 1
    assert len({rel.parts[3] for rel in theirs if rel.parts[2] == "cells"}) == 4
    assert sorted(map(without_batch, ours)) == sorted(map(without_batch, theirs))
    where = {without_batch(rel): rel for rel in theirs}
    for rel in ours:
        assert_same_store(repo / rel, finished / where[without_batch(rel)])


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda c: c["heads"].update(masks=["casual"]), "heads.masks[0]"),
        (lambda c: c["heads"]["grids"]["tokens"].update(N=[0, 8]), "heads.grids.tokens.N[0]"),
        (lambda c: c["heads"]["law"].update(atomz=3), "heads.law.atomz"),
        (lambda c: c.update(experiments=["nonsense"]), "experiments[0]"),
    ],
)
def test_invalid_config_fails_before_any_job(tmp_path, edit, key):
    repo = copy_repo(tmp_path / "bad")
    cfg = default_test_config()
    edit(cfg)
    proc = snakemake(repo, "--cores", "1", config=cfg, check=False)
    assert proc.returncode != 0
    assert key in proc.stdout + proc.stderr
    assert not (repo / "results").exists()


def test_interrupted_run_leaves_nothing_trusted(finished, tmp_path):
    repo = copy_repo(tmp_path / "killed")
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    (repo / "config/run.yaml").write_text((repo / "config/test.yaml").read_text())
    proc = subprocess.Popen(
        [*SNAKEMAKE, "--configfile", "config/run.yaml", "--cores", "2"],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    cells = repo / "results/heads/cells"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(cells.rglob("*.zarr")):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake and the jobs it runs, mid-flight
    proc.wait()
    # any job outside that process group dies too (their scripts live under the copy), and
    # nothing of the run is left alive while the stores are inspected
    deadline = time.monotonic() + 30
    while subprocess.run(["pgrep", "-f", str(repo)], capture_output=True).returncode == 0:
        subprocess.run(["pkill", "-9", "-f", str(repo)], capture_output=True)
        assert time.monotonic() < deadline, "processes of the killed run survive"
        time.sleep(0.1)
    # every store present under its final name is complete and equal to the reference
    for rel in stores(repo):
        assert ".tmp-" not in rel.name
        assert_same_store(repo / rel, finished / rel)
    assert planned_jobs(repo)  # the rest is still to do
    snakemake(repo, "--unlock")  # a hard kill leaves Snakemake's lock, as it says
    snakemake(repo, "--cores", "2")
    assert stores(repo) == stores(finished)
    for rel in stores(repo):
        assert_same_store(repo / rel, finished / rel)


def test_sigkill_in_the_middle_of_writing_a_store(tmp_path):
    """A process killed while it writes a store leaves no store under the final name."""
    target = tmp_path / "x.zarr"
    code = (
        "import sys, time, numpy as np, xarray as xr\n"
        "from attnlimits.storage import write_atomic\n"
        "def slow(tmp):\n"
        "    xr.Dataset({'a': ('i', np.arange(5.0))}).to_zarr(tmp, zarr_format=2)\n"
        "    print('half', flush=True); time.sleep(60)\n"
        f"write_atomic({str(target)!r}, slow)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "half"
    proc.kill()
    proc.wait()
    assert not target.exists()
    leftovers = list(tmp_path.iterdir())
    assert leftovers and all(p.name.startswith(".x.zarr.tmp-") for p in leftovers)
    assert np.all([not p.name.endswith(".zarr") for p in leftovers])


def test_given_configfile_replaces_the_default_grids(finished):
    cfg = default_test_config()
    cfg["heads"]["grids"] = {"only": {"N": [6], "d": [3], "beta": [1.0], "L": [2], "H": [3]}}
    cfg["plots"]["trajectories"].update(L=2, H=3)
    jobs = planned_jobs(finished, cfg)
    # one new batch of cells and one of limits, of one member each (such a job links the store
    # an earlier batch folder holds rather than computing it: the test of a grown grid above)
    assert jobs["heads_cell"] == 1 and jobs["heads_limit"] == 1, jobs


def test_execution_settings_rerun_nothing(finished):
    """runtime.dask only changes where lazy reads run: no job's parameters hold it."""
    cfg = default_test_config()
    cfg["runtime"]["dask"] = "threads"
    assert planned_jobs(finished, cfg) == {}


def test_editing_each_module_of_a_closure_reruns_exactly_its_rules(finished, tmp_path):
    """Every library module that a heads rule's job imports (its runner's import closure,
    attnlimits.imports.import_closure, as code_version takes it) re-runs that rule when edited,
    and no other rule."""
    from attnlimits.imports import import_closure
    from attnlimits.provenance import NOT_NUMERICS
    from attnlimits.registry import registered

    heads = registered()["heads"]
    closures = {
        f"heads_{job.name}": set(import_closure([job.runner, "attnlimits.jobs"], NOT_NUMERICS))
        for job in heads.jobs
    }
    modules = sorted(set().union(*closures.values()))
    assert {"attnlimits.p1.discrete", "attnlimits.heads.pipeline"} <= set(modules)
    assert "attnlimits.progress" not in modules  # logging cannot change a number
    chain = [f"heads_{job.name}" for job in heads.jobs]  # limit → cell → … → plots

    def edited_runs(repo: Path, some: list[str]) -> list[tuple[str, dict[str, int]]]:
        """The dry run of the copy ``repo`` with each module of ``some`` edited in turn."""
        shutil.copytree(finished, repo, symlinks=True)
        out = []
        for module in some:
            path = repo / "src" / Path(*module.split("."))
            path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
            original = path.read_text()
            path.write_text(original + "\nEDITED_BY_TEST = 1\n")
            try:
                out.append((module, planned_jobs(repo)))
            finally:
                path.write_text(original)
        return out

    # two copies, each editing half of the modules, dry-run side by side (one core each)
    with ThreadPoolExecutor(2) as pool:
        halves = pool.map(
            edited_runs, [tmp_path / "a", tmp_path / "b"], [modules[0::2], modules[1::2]]
        )
        runs = [run for half in halves for run in half]
    assert sorted(module for module, _ in runs) == modules
    for module, jobs in runs:
        expected = {rule for rule, closure in closures.items() if module in closure}
        rerun = {rule for rule in jobs if rule.startswith("heads_")}
        # every rule that runs the module re-runs; the others only downstream of one of them
        first = min(chain.index(rule) for rule in expected)
        assert expected <= rerun <= set(chain[first:]), (module, jobs)
