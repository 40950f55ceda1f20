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
