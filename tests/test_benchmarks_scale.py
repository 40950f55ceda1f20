"""The scale benchmark (benchmarks/dag.py) builds what it says: a valid grid of n cells, and an
aggregation over n linked stores that fills every grid point."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from attnlimits.config import validate_config
from attnlimits.heads import grid as heads_grid

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import dag  # noqa: E402


@pytest.mark.parametrize("cells", [400, 1000])
def test_grid_config_has_that_many_cells(cells: int, tmp_path: Path) -> None:
    config = validate_config(dag.grid_config(cells, tmp_path))
    assert len(heads_grid.cells(config["heads"])) == cells
    assert len(heads_grid.limits(config["heads"])) == len(dag.BETAS)


def test_aggregation_of_linked_cells(tmp_path: Path) -> None:
    wall, rss = dag.aggregation(80, tmp_path)  # raises unless all 80 grid points are filled
    assert wall > 0 and rss > 50
    keys, stores = dag.synthetic_cells(80, tmp_path)
    assert len({Path(s).resolve() for s in stores}) == len(dag.DEPTHS)
    assert len({tuple(k.values()) for k in keys}) == 80
