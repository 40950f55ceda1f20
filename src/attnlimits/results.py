"""Reuse downstream: open the consolidated datasets of a pipeline run."""

from __future__ import annotations

import os
from pathlib import Path

import xarray as xr

from attnlimits.storage import open_dataset

#: The consolidated store of each experiment, relative to the results folder.
CONSOLIDATED = {"heads": "heads/heads.zarr"}
STATISTICS = {"heads": "heads/statistics.zarr"}


def _path(table: dict[str, str], experiment: str, results: str | os.PathLike) -> Path:
    if experiment not in table:
        raise ValueError(f"unknown experiment {experiment!r}; available: {sorted(table)}")
    path = Path(results) / table[experiment]
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run `snakemake --cores N` first")
    return path


def open_results(experiment: str, results: str | os.PathLike = "results") -> xr.Dataset:
    """The consolidated dataset of ``experiment``, lazily (Dask-backed xarray).

    For ``heads``: per-seed errors ``e2``, ``e_inf`` and the Gram matrix ``gram`` of deviations
    over the grid (mask, normalisation, N, d, beta, L, H), NaN where no cell was run.
    """
    return open_dataset(_path(CONSOLIDATED, experiment, results))


def open_statistics(experiment: str, results: str | os.PathLike = "results") -> xr.Dataset:
    """Cell statistics (err, bias, fluct, …) with their bootstrap replicates, lazily."""
    return open_dataset(_path(STATISTICS, experiment, results))
