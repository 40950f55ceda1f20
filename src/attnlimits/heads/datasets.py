"""The datasets experiment ``heads`` publishes (:func:`attnlimits.open_results`,
:func:`attnlimits.open_statistics`): its two consolidated stores, opened lazily (Dask-backed).

``open_results(results)``: ``<results>/heads/results.zarr`` (``heads.aggregate.aggregate``), one
``xarray.Dataset`` over the hypercube of grid values, NaN where no cell was run (``present`` says
where one was: use it rather than NaN to select the cells).

- dimensions of a cell ``mask``, ``normalisation``, ``N``, ``d``, ``beta``, ``L``, ``H``, each a
  coordinate holding the grid's values; ``seed``, ``seed_`` (the seeds again, for the Gram
  matrix), ``input`` and ``layer`` (0..max L; NaN beyond a cell's own L);
- ``e2`` (cell dims, seed, input): e₂ = max_l ((1/N) Σᵢ |X_lⁱ − xⁱ(t_l)|²)^(1/2);
- ``e_inf`` (cell dims, seed, input): e_∞ = max_l max_i |X_lⁱ − xⁱ(t_l)|;
- ``gram`` (cell dims, input, layer, seed, seed_): (1/N) Σᵢ ⟨D_sⁱ, D_s′ⁱ⟩ of the deviations
  D = X − x, from which every bootstrap replicate of the bias and the fluctuation follows;
- ``limit_error`` (mask, normalisation, N, d, beta): the limit solver's own error estimate;
- ``present`` (cell dims): True at the cells that were run;
- attributes ``T``, ``seeds`` and the provenance of the aggregation.

``open_statistics(results)``: ``<results>/heads/statistics.zarr`` (the ``fit`` job,
``heads.claims.heads_statistics``), one ``xarray.Dataset``:

- ``err``, ``err_inf``, ``bias``, ``bias_raw``, ``noise_floor``, ``fluct`` (cell dims,
  ``replicate``): the cell statistics of ``attnlimits.analysis.statistics``, replicate 0 the
  sample and 1..B the bootstrap replicates over seeds (attribute ``replicates`` = B);
- ``weights`` (replicate, seed): each replicate's seed weights;
- ``limit_error`` (mask, normalisation, N, d, beta) and ``present`` (cell dims), as in the
  results.

``config`` is not needed (each store is at one path); it is accepted as every opener's is. Both
stores are verified when opened (:func:`attnlimits.storage.open_dataset`): a damaged or
unfinished one raises ``attnlimits.storage.StoreError`` naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import xarray as xr

from attnlimits.combine import open_store

EXPERIMENT = "heads"


def open_results(results: Path, config: Mapping[str, Any] | None = None) -> xr.Dataset:
    """The consolidated per-seed errors over the grid (module docstring)."""
    return open_store(results / EXPERIMENT / "results.zarr", EXPERIMENT)


def open_statistics(results: Path, config: Mapping[str, Any] | None = None) -> xr.Dataset:
    """The cell statistics with their bootstrap replicates (module docstring)."""
    return open_store(results / EXPERIMENT / "statistics.zarr", EXPERIMENT)
