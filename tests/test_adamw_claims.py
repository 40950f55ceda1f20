"""Grid statistics and claims of experiment adamw on a tiny trained grid."""

from __future__ import annotations

import numpy as np
import pytest
from adamw_specs import TINY_SPEC
from fit_options import FIT_OPTIONS

from attnlimits.adamw.claims import CELL_DIMS, adamw_claims, grid_statistics
from attnlimits.adamw.grid import Cell
from attnlimits.adamw.runs import LIMIT_ERRORS, run_cell, run_limit
from attnlimits.analysis.statistics import replicate_weights

SPEC = {**TINY_SPEC, "N": 4, "task": {**TINY_SPEC["task"], "teacher_steps": 16}}
OPTIONS = {**FIT_OPTIONS, "bootstrap": 30}
SEEDS = 6


@pytest.fixture(scope="module")
def grid():
    limit = run_limit(SPEC)
    out = []
    for L in (2, 4, 8):
        for H in (1, 4):
            cell = Cell("blockwise", 1e-8, 4, 3, 1.0, L, H)
            out.append((cell, run_cell({**SPEC, "L": L, "H": H, "seeds": SEEDS, "seed": 0}, limit)))
    return out


@pytest.fixture(scope="module")
def stats(grid):
    return grid_statistics(grid, replicate_weights(SEEDS, OPTIONS["bootstrap"], 3))


def test_grid_statistics_cover_the_cells(stats, grid):
    assert stats["x_worst_err"].dims == (*CELL_DIMS, "replicate")
    assert stats.sizes["L"] == 3 and stats.sizes["H"] == 2 and stats.sizes["replicate"] == 31
    for cell, store in grid:
        at = {dim: getattr(cell, dim) for dim in CELL_DIMS}
        for name in LIMIT_ERRORS:
            assert float(stats[name].sel(at)) == store.attrs[name]
        assert store.attrs["limit_error"] == max(
            store.attrs["limit_error_x"], store.attrs["limit_error_p"]
        )
        assert np.isfinite(stats["p_last_bias"].sel(at).values).all()


def test_claims_for_every_variable_and_selection(stats):
    tables = adamw_claims(stats, OPTIONS)
    claims = tables["claims"]
    assert set(claims["experiment"]) == {"adamw"}
    got = set(zip(claims["variable"], claims["selection"], claims["claim"], strict=True))
    for var in ("x", "p"):
        for sel in ("worst", "last"):
            assert {(var, sel, "bias_L"), (var, sel, "fluct_H")} <= got
    assert {"variant", "eps"} <= set(tables["points"].columns)
    points = tables["points"]
    for var in ("x", "p"):  # each variable is judged against the limit's own error in it
        own = points.loc[points["variable"] == var, "limit_error"]
        assert (own == float(stats[f"limit_error_{var}"].max())).all()
    # the fluctuation falls with H on this grid: the joint fit's H-slope is negative
    fluct = claims[(claims["claim"] == "fluct_H") & (claims["selection"] == "worst")]
    assert (fluct["fitted"] < 0).all()


def test_no_cells_is_an_error():
    with pytest.raises(ValueError, match="no cells"):
        grid_statistics([], replicate_weights(2, 1, 0))
