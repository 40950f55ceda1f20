"""The import closure of a job's runner (attnlimits.imports): by module and by function."""

from __future__ import annotations

import pytest

from attnlimits.imports import import_closure
from attnlimits.provenance import NOT_NUMERICS, code_version


def closure(runner: str) -> set[str]:
    return set(import_closure([runner, "attnlimits.jobs"], NOT_NUMERICS))


def test_runners_of_one_module_have_closures_of_their_own():
    limit, cell = closure("attnlimits.heads.jobs:limit"), closure("attnlimits.heads.jobs:cell")
    assert {"attnlimits.p1.limit", "attnlimits.integrators"} <= limit
    assert {"attnlimits.p1.discrete", "attnlimits.p1.errors"} <= cell
    assert "attnlimits.p1.discrete" not in limit and "attnlimits.p1.limit" not in cell
    assert "attnlimits.analysis.claims" in closure("attnlimits.heads.jobs:fit")
    assert "attnlimits.analysis.claims" not in limit | cell


def test_each_sde_run_reaches_its_own_module():
    depth = closure("attnlimits.sde.jobs:depth")
    assert "attnlimits.sde.runs.depth" in depth and "attnlimits.sde.runs.width" not in depth


def test_bookkeeping_is_left_out_and_versions_differ():
    for runner in ("attnlimits.heads.jobs:cell", "attnlimits.lowtemp.jobs:run"):
        assert not closure(runner) & NOT_NUMERICS
    assert code_version(["attnlimits.heads.jobs:limit"]) != code_version(
        ["attnlimits.heads.jobs:cell"]
    )


def test_an_unknown_runner_is_refused():
    with pytest.raises(ValueError, match="no top-level function"):
        import_closure(["attnlimits.heads.jobs:nothing"])


def test_from_a_folder_without_init_import_a_module():
    # ``from attnlimits.analysis import fits`` names a module of a package: p1.rates runs it
    assert "attnlimits.analysis.fits" in import_closure(["attnlimits.p1.rates"])
    assert "attnlimits.analysis.fits" in import_closure(["attnlimits.heads.jobs:fit"])


def test_modules_that_ran_outside_the_closure_are_named():
    from attnlimits.imports import unseen_modules

    runner = "attnlimits.heads.jobs:limit"
    closure = import_closure([runner, "attnlimits.jobs"], NOT_NUMERICS)
    # what the closure and the bookkeeping modules account for is not reported
    loaded = [*closure, "attnlimits.provenance", "attnlimits.imports", "numpy", "torch"]
    assert unseen_modules([runner, "attnlimits.jobs"], NOT_NUMERICS, loaded) == []
    assert "attnlimits.p1.discrete" not in closure
    unseen = unseen_modules(
        [runner, "attnlimits.jobs"], NOT_NUMERICS, [*loaded, "attnlimits.p1.discrete"]
    )
    assert unseen == ["attnlimits.p1.discrete"]


def test_every_runner_imports_only_what_its_closure_covers():
    """Import each registered runner's module and the modules its runner names, as a job does,
    in a fresh interpreter, and compare with the closure (the jobs' own check runs after the
    numerics, in the workflow tests)."""
    import subprocess
    import sys

    from attnlimits.registry import registered

    for experiment in registered([]).values():
        for job in experiment.jobs:
            module = job.runner.partition(":")[0]
            code = (
                "import sys, importlib; importlib.import_module(sys.argv[1]); "
                "from attnlimits.imports import unseen_modules; "
                "from attnlimits.provenance import NOT_NUMERICS; "
                "print(unseen_modules([sys.argv[2], 'attnlimits.jobs'], NOT_NUMERICS, "
                "list(sys.modules)))"
            )
            out = subprocess.run(
                [sys.executable, "-c", code, module, job.runner],
                capture_output=True, text=True, check=True,
            ).stdout.strip()  # fmt: skip
            assert out == "[]", (job.runner, out)


def test_a_job_reports_functions_that_ran_outside_its_code_version(caplog):
    import logging

    import numpy as np

    from attnlimits import jobs

    with jobs._FunctionsRun() as ran:
        import attnlimits.sde.activations  # noqa: F401  (its top level runs functions: not counted)
        from attnlimits.analysis.fits import local_slopes

        local_slopes(np.array([1.0, 2.0]), np.ones((1, 2)))
    modules = ran.modules()
    assert "attnlimits.analysis.fits" in modules
    assert "attnlimits.sde.activations" not in modules
    log = logging.getLogger("test_imports")
    with caplog.at_level(logging.WARNING, "test_imports"):
        jobs._check_code_version("attnlimits.heads.jobs:fit", modules, log)
        assert not caplog.records  # a fit job's code version covers the fits
        jobs._check_code_version("attnlimits.heads.jobs:limit", modules, log)
    assert jobs.UNSEEN_CODE in caplog.text and "attnlimits.analysis.fits" in caplog.text


def test_checking_the_default_configuration_imports_no_numerics():
    """What the workflow runs while it parses (the schema, every experiment's declarations and
    configuration checks, random lowtemp heads included) imports neither torch nor xarray: a
    cached run is Snakemake's DAG and nothing more."""
    import subprocess
    import sys
    from pathlib import Path

    config = Path(__file__).resolve().parents[1] / "config" / "config.yaml"
    code = (
        "import sys; from attnlimits.config import load_config; "
        "config = load_config(sys.argv[1]); "
        "assert any(h['kind'] == 'random' for h in config['lowtemp']['heads'].values()); "
        "print(sorted(m for m in ('torch', 'xarray', 'zarr', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(config)], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]", out
