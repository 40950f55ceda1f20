"""The consolidated ``heads`` store: every cell's values at its grid point, NaN elsewhere."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import xarray as xr

from attnlimits.heads.aggregate import GRID_DIMS, aggregate
from attnlimits.storage import StoreError, open_dataset, write_dataset

SEEDS, INPUTS = 3, 2


def cell_store(path, cell, rng, transpose=False):
    """A store with the variables of a cell job (e2, e_inf, gram, limit_error), random values."""
    layers = cell["L"] + 1
    e2 = rng.random((SEEDS, INPUTS))
    ds = xr.Dataset(
        {
            "e2": (("seed", "input"), e2),
            "e_inf": (("seed", "input"), rng.random((SEEDS, INPUTS))),
            "gram": (
                ("input", "layer", "seed", "seed_"),
                rng.random((INPUTS, layers, SEEDS, SEEDS)),
            ),
            "limit_error": ((), float(cell["beta"]) * 1e-6 + cell["N"] * 1e-9),
        },
        coords={"t": ("layer", np.linspace(0, 1, layers))},
    )
    if transpose:  # a store whose variables are laid out in another order
        ds = ds.transpose("input", "seed", "seed_", "layer")
    write_dataset(ds, path)
    return ds


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("cells")
    rng = np.random.default_rng(0)
    cells, stores, data = [], [], []
    combos = itertools.product(
        ["causal", "encoder"], ["sphere"], [4, 8], [3], [1.0], [2, 4], range(1, 8)
    )
    for k, (mask, norm, n, d, beta, L, H) in enumerate(combos):
        if (L, H) == (4, 5) or (mask == "encoder" and n == 8 and H > 3):
            continue  # holes in the hypercube, and a ragged grid
        cell = dict(mask=mask, normalisation=norm, N=n, d=d, beta=beta, L=L, H=H)
        path = root / f"cell{k}.zarr"
        data.append(cell_store(path, cell, rng, transpose=k % 3 == 0))
        cells.append(cell)
        stores.append(str(path))
    out = aggregate(cells, stores, {"experiment": "heads"}, root / "heads.zarr", chunk=3)
    return cells, data, open_dataset(out)


def test_every_cell_lands_at_its_grid_point(grid):
    cells, data, ds = grid
    for cell, src in zip(cells, data, strict=True):
        at = ds.sel({d: cell[d] for d in GRID_DIMS})
        for name in ("e2", "e_inf"):
            np.testing.assert_array_equal(
                at[name].transpose("seed", "input"), src[name].transpose("seed", "input")
            )
        gram = at["gram"].transpose("input", "layer", "seed", "seed_").values
        layers = cell["L"] + 1
        np.testing.assert_array_equal(
            gram[:, :layers], src["gram"].transpose("input", "layer", "seed", "seed_")
        )
        assert np.isnan(gram[:, layers:]).all()
        limit = ds["limit_error"].sel({d: cell[d] for d in GRID_DIMS[:5]})
        assert float(limit) == float(src["limit_error"])


def test_nan_outside_the_grid_and_chunked_lazily(grid):
    cells, _, ds = grid
    filled = ds["e2"].notnull().all(["seed", "input"]).sum().compute()
    assert int(filled) == len(cells)
    assert bool(ds["e2"].sel(L=4, H=5).isnull().all())
    assert ds["e2"].chunks is not None  # dask-backed
    stored = ds["gram"].encoding["chunks"]  # on disk: runs of 3 cells along H, 1 elsewhere
    assert stored[: len(GRID_DIMS)] == (1,) * (len(GRID_DIMS) - 1) + (3,)
    assert ds.attrs["experiment"] == "heads"


def test_present_says_which_cells_were_run(grid):
    cells, _, ds = grid
    present = ds["present"]
    assert present.dtype == bool and present.dims == GRID_DIMS
    assert int(present.sum()) == len(cells)
    for cell in cells:
        assert bool(present.sel({d: cell[d] for d in GRID_DIMS}))
    assert not bool(present.sel(L=4, H=5).any())  # a hole: NaN there, and not present
    filled = ds["e2"].notnull().any(["seed", "input"]).transpose(*GRID_DIMS)
    assert (filled == present).all()


def test_a_damaged_cell_store_fails_the_aggregation_naming_it(tmp_path):
    rng = np.random.default_rng(1)
    cells, stores = [], []
    for H in (1, 2, 3):
        cell = dict(mask="causal", normalisation="sphere", N=4, d=3, beta=1.0, L=2, H=H)
        cell_store(tmp_path / f"H{H}.zarr", cell, rng)
        cells.append(cell)
        stores.append(str(tmp_path / f"H{H}.zarr"))
    for chunk in (tmp_path / "H2.zarr" / "e2").iterdir():
        if not chunk.name.startswith("."):
            chunk.unlink()  # was: the cell silently NaN in the consolidated store
    with pytest.raises(StoreError, match=r"H2\.zarr: damaged .*missing chunk .* of array 'e2'"):
        aggregate(cells, stores, {"experiment": "heads"}, tmp_path / "results.zarr")
    assert not (tmp_path / "results.zarr").exists()


def test_statistics_take_the_cells_from_present_and_refuse_a_present_cell_without_values(grid):
    from attnlimits.analysis.statistics import cell_statistics, replicate_weights, valid_cells

    cells, _, ds = grid
    mask = valid_cells(ds)
    assert int(mask.sum()) == len(cells)
    stats = cell_statistics(ds, replicate_weights(SEEDS, 3, 0))
    assert (stats["present"] == ds["present"]).all()
    assert (stats["err"].isel(replicate=0).notnull() == stats["present"]).all()
    at = {d: cells[0][d] for d in GRID_DIMS}
    damaged = ds.load()
    damaged["e2"].loc[at] = np.nan
    with pytest.raises(ValueError, match=r"1 cells marked present have no values .*'L': 2"):
        valid_cells(damaged)
