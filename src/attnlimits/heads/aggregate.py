"""Aggregation of experiment ``heads``: one consolidated store over the whole grid."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr
import zarr

from attnlimits.storage import ZARR_FORMAT, open_dataset, open_group, write_atomic

_LOG = logging.getLogger("attnlimits.heads")

#: The grid dimensions of a cell, and those of its limit (the first five).
GRID_DIMS = ("mask", "normalisation", "N", "d", "beta", "L", "H")
LIMIT_DIMS = GRID_DIMS[:5]
#: The boolean variable over the grid dimensions that says which cells were run (NaN in the
#: other variables is a value, not a missing cell).
PRESENT = "present"
#: Per-cell variables and their own dimensions.
CELL_VARS = {
    "e2": ("seed", "input"),
    "e_inf": ("seed", "input"),
    "gram": ("input", "layer", "seed", "seed_"),
}


#: Cells per chunk along the last grid dimension (H): a chunk holds a run of cells that differ
#: only in H, and memory during aggregation stays at one such chunk.
CHUNK_CELLS = 64


def _read_cell(store: str | Path) -> dict[str, np.ndarray]:
    """The arrays of ``CELL_VARS`` and ``limit_error`` of a cell store, as numpy, own dims first.

    Read through zarr directly (no xarray/dask objects per cell): at 100 000 cells the per-cell
    overhead of opening a dataset is what the aggregation's time is made of. The store is
    verified first (:func:`attnlimits.storage.open_group`, the chunks of these arrays): a
    damaged or unfinished cell store is an error naming it, never a cell of NaN.
    """
    group = open_group(store, arrays=[*CELL_VARS, "limit_error"])
    out = {}
    for name, dims in CELL_VARS.items():
        array = group[name]
        stored = tuple(array.attrs["_ARRAY_DIMENSIONS"])
        out[name] = np.transpose(array[...], [stored.index(d) for d in dims])
    out["limit_error"] = np.asarray(group["limit_error"][...], dtype=np.float64)
    return out


def _blocks(
    cells: Sequence[Mapping[str, Any]], index: Mapping[str, Mapping[Any, int]], chunk: int
) -> dict[tuple, list[tuple[int, int]]]:
    """``cells`` grouped by the chunk they fall in, (index along the leading grid dims, chunk
    number along the last), in grid order: each member as (its index in ``cells``, its offset
    in the chunk)."""
    last = GRID_DIMS[-1]
    blocks: dict[tuple, list[tuple[int, int]]] = {}
    for i, cell in enumerate(cells):
        lead = tuple(index[d][cell[d]] for d in GRID_DIMS[:-1])
        part, offset = divmod(index[last][cell[last]], chunk)
        blocks.setdefault((lead, part), []).append((i, offset))
    return dict(sorted(blocks.items()))


def aggregate(
    cells: Sequence[Mapping[str, Any]],
    stores: Sequence[str | Path],
    attrs: Mapping[str, Any],
    out: str | Path,
    logger: logging.Logger = _LOG,
    chunk: int = CHUNK_CELLS,
) -> Path:
    """One consolidated store over the hypercube of grid values: ``present`` (:data:`PRESENT`)
    is True at the cells that were run, the other variables are NaN elsewhere.

    The target's metadata is written first (nothing is allocated); cells are then read one
    chunk at a time (at most ``chunk`` cells that differ only in H) and each chunk is written
    once, so memory stays at one chunk whatever the size of the grid, and the store opens as
    a lazy Dask dataset with one task per chunk. Depth varies between cells: the ``layer``
    axis runs to the largest L and is NaN beyond a cell's own L.
    """
    coords = {dim: sorted({c[dim] for c in cells}) for dim in GRID_DIMS}
    index = {dim: {value: i for i, value in enumerate(coords[dim])} for dim in GRID_DIMS}
    first = open_dataset(stores[0])
    seeds, inputs = first.sizes["seed"], first.sizes["input"]
    layers = max(c["L"] for c in cells) + 1
    sizes = {"seed": seeds, "seed_": seeds, "input": inputs, "layer": layers}
    chunk = max(1, min(chunk, len(coords[GRID_DIMS[-1]])))

    def empty(grid_dims: tuple[str, ...], own_dims: tuple[str, ...] = (), last: int = 1):
        """All-NaN, lazily; chunks of one grid point but ``last`` along the last grid dim."""
        grid, own = (len(coords[d]) for d in grid_dims), tuple(sizes[d] for d in own_dims)
        chunks = (1,) * (len(grid_dims) - 1) + (last, *own)
        return da.full((*grid, *own), np.nan, chunks=chunks)

    variables = {
        name: (GRID_DIMS + dims, empty(GRID_DIMS, dims, chunk), first[name].attrs)
        for name, dims in CELL_VARS.items()
    }
    n_beta = len(coords[LIMIT_DIMS[-1]])
    variables["limit_error"] = (
        LIMIT_DIMS,
        empty(LIMIT_DIMS, (), n_beta),
        first["limit_error"].attrs,
    )
    variables[PRESENT] = (
        GRID_DIMS,
        da.zeros([len(coords[d]) for d in GRID_DIMS], dtype=bool, chunks=-1),
        {"long_name": "whether the cell was run (its values are stored)", "units": "1"},
    )
    present = np.zeros([len(coords[d]) for d in GRID_DIMS], dtype=bool)
    for cell in cells:
        present[tuple(index[d][cell[d]] for d in GRID_DIMS)] = True
    template = xr.Dataset(
        variables,
        coords={**coords, **{d: np.arange(n) for d, n in sizes.items()}},
        attrs=dict(attrs),
    )
    for dim in GRID_DIMS:
        template[dim].attrs.update(long_name=dim, units="1")
    blocks = _blocks(cells, index, chunk)

    def write(tmp: Path) -> None:
        template.to_zarr(tmp, mode="w", compute=False, consolidated=False, zarr_format=ZARR_FORMAT)
        group = zarr.open_group(str(tmp), mode="r+")
        limit_error = np.full([len(coords[d]) for d in LIMIT_DIMS], np.nan)
        done = 0
        for (lead, part), members in blocks.items():
            h0 = part * chunk
            width = min(chunk, len(coords[GRID_DIMS[-1]]) - h0)
            block = {
                name: np.full((width, *(sizes[d] for d in dims)), np.nan)
                for name, dims in CELL_VARS.items()
            }
            for i, h in members:
                values = _read_cell(stores[i])
                for name in CELL_VARS:
                    own = values[name]
                    block[name][(h, *(slice(0, n) for n in own.shape))] = own
                limit_error[lead[: len(LIMIT_DIMS)]] = values["limit_error"]
            for name in CELL_VARS:
                group[name][(*lead, slice(h0, h0 + width))] = block[name]
            done += len(members)
            if done * 10 // len(cells) != (done - len(members)) * 10 // len(cells):
                logger.info("aggregated %d/%d cells", done, len(cells))
        group["limit_error"][...] = limit_error
        group[PRESENT][...] = present
        zarr.consolidate_metadata(str(tmp))

    return write_atomic(out, write)
