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

from attnlimits.storage import ZARR_FORMAT, open_dataset, write_atomic

_LOG = logging.getLogger("attnlimits.heads")

#: The grid dimensions of a cell, and those of its limit (the first five).
GRID_DIMS = ("mask", "normalisation", "N", "d", "beta", "L", "H")
LIMIT_DIMS = GRID_DIMS[:5]
#: Per-cell variables and their own dimensions.
CELL_VARS = {
    "e2": ("seed", "input"),
    "e_inf": ("seed", "input"),
    "gram": ("input", "layer", "seed", "seed_"),
}


def _region(cell: Mapping[str, Any], coords: Mapping[str, list], dims: Sequence[str]) -> dict:
    return {d: slice(coords[d].index(cell[d]), coords[d].index(cell[d]) + 1) for d in dims}


def _as_region(ds: xr.Dataset, cell: Mapping[str, Any], dims: Sequence[str]) -> xr.Dataset:
    """``ds`` with size-one grid dimensions, no coordinates and no encoding, in memory."""
    ds = ds.expand_dims({d: [cell[d]] for d in dims})
    ds = ds.drop_vars(list(ds.coords)).load()
    for var in ds.data_vars.values():
        var.encoding.clear()
    return ds


def aggregate(
    cells: Sequence[Mapping[str, Any]],
    stores: Sequence[str | Path],
    attrs: Mapping[str, Any],
    out: str | Path,
    logger: logging.Logger = _LOG,
) -> Path:
    """One consolidated store over the hypercube of grid values (NaN where no cell was run).

    The per-cell stores are opened lazily; the target's metadata is written first and each
    cell is then written into its own chunk (a ``region``), so memory stays at one cell.
    Depth varies between cells: the ``layer`` axis runs to the largest L and is NaN beyond a
    cell's own L.
    """
    coords = {dim: sorted({c[dim] for c in cells}) for dim in GRID_DIMS}
    first = open_dataset(stores[0])
    seeds, inputs = first.sizes["seed"], first.sizes["input"]
    layers = max(c["L"] for c in cells) + 1
    sizes = {"seed": seeds, "seed_": seeds, "input": inputs, "layer": layers}

    def empty(grid_dims: tuple[str, ...], own_dims: tuple[str, ...] = ()) -> da.Array:
        """All-NaN, one chunk per grid point."""
        grid, own = (len(coords[d]) for d in grid_dims), tuple(sizes[d] for d in own_dims)
        shape = (*grid, *own)
        return da.full(shape, np.nan, chunks=(1,) * len(grid_dims) + own)

    variables = {
        name: (GRID_DIMS + dims, empty(GRID_DIMS, dims), first[name].attrs)
        for name, dims in CELL_VARS.items()
    }
    variables["limit_error"] = (LIMIT_DIMS, empty(LIMIT_DIMS), first["limit_error"].attrs)
    template = xr.Dataset(
        variables,
        coords={**coords, **{d: np.arange(n) for d, n in sizes.items()}},
        attrs=dict(attrs),
    )
    for dim in GRID_DIMS:
        template[dim].attrs.update(long_name=dim, units="1")

    def write(tmp: Path) -> None:
        template.to_zarr(tmp, mode="w", compute=False, consolidated=False, zarr_format=ZARR_FORMAT)
        written_limits = set()
        for i, (cell, store) in enumerate(zip(cells, stores, strict=True)):
            src = open_dataset(store)
            part = src[list(CELL_VARS)].drop_vars(["t"], errors="ignore")
            part = part.pad(layer=(0, layers - part.sizes["layer"]), constant_values=np.nan)
            _as_region(part, cell, GRID_DIMS).to_zarr(
                tmp, region=_region(cell, coords, GRID_DIMS), zarr_format=ZARR_FORMAT,
                consolidated=False,
            )  # fmt: skip
            limit = tuple(cell[d] for d in LIMIT_DIMS)
            if limit not in written_limits:
                written_limits.add(limit)
                _as_region(src[["limit_error"]], cell, LIMIT_DIMS).to_zarr(
                    tmp, region=_region(cell, coords, LIMIT_DIMS), zarr_format=ZARR_FORMAT,
                    consolidated=False,
                )  # fmt: skip
            if (i + 1) % max(1, len(cells) // 10) == 0:
                logger.info("aggregated %d/%d cells", i + 1, len(cells))
        zarr.consolidate_metadata(str(tmp))

    return write_atomic(out, write)
