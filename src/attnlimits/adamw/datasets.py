"""The datasets experiment ``adamw`` publishes (:func:`attnlimits.open_results`,
:func:`attnlimits.open_statistics`), opened lazily (Dask-backed).

``open_results(results)``: the cell stores ``<results>/adamw/cells/<batch>/<variant>_eps<eps>_N<N>_
d<d>_beta<beta>/L<L>_H<H>_<hash>.zarr`` (``adamw.runs.run_cell``; ``<batch>`` the folder of the
job that computed it, :mod:`attnlimits.batches`) concatenated along a new dimension
``run`` indexed by a MultiIndex over the cell (``variant``, ``eps``, ``N``, ``d``, ``beta``, ``L``,
``H``): ``ds.sel(variant="blockwise", d=3, L=4, H=4)`` picks a run of one (ε, N, β), and
``ds.unstack("run")`` spreads the runs over the hypercube of the cell dimensions (NaN where no
cell was run; large for large grids). Cells differ in depth and in d: ``layer`` is joined outer
(0..max L, NaN beyond a cell's own L), ``layer_param``, ``row`` and ``col`` are padded with NaN to
the largest cell. Variables, after every AdamW step ``step`` = 0..K:

- ``e2_x``, ``einf_x``, ``e2_p``, ``einf_p`` (run, step, seed, input): e₂ and e_∞ of the states X
  and of the backpropagated variables P against the limit's;
- ``gram_x``, ``gram_p`` (run, step, input, layer, seed, seed2): the Gram matrices over seeds of
  their deviations;
- ``theta_error`` (run, step, seed): max over layers of the RMS over heads of |θ_ℓh − θ_r(t_ℓ)|;
- ``loss`` (run, step, seed), ``loss_limit`` (run, step): the losses J of the discrete model and
  of the limit;
- ``counts`` (run, seed, layer_param, atom): heads per (layer, atom);
- ``theta_final`` (run, seed, layer_param, atom, role, row, col): the trained parameters.

Coordinates ``step``, ``layer``, ``role`` (q, k, v); per run ``store`` (its path under the
results folder), ``created`` and the limit's own errors by halving ``limit_error``,
``limit_error_x``, ``limit_error_p``, ``limit_error_theta``.

Which stores: with ``config`` (the full configuration), exactly the cells of its ``adamw`` block
(a missing one is an error); without, every cell store under ``<results>/adamw/cells/``, and
where several hashes share a cell (stores of older settings) the one created last, with a
warning naming the others.

``open_studies(results)`` (``open_results("adamw", ...)`` does not include them; call
``attnlimits.adamw.datasets.open_studies``): the study cells of ``adamw.studies``
(``<results>/adamw/study_cells/<batch>/<study>/<variant>_lr<lr>_task<task_seed>_eps<eps>_N<N>_
d<d>_beta<beta>/L<L>_H<H>_<hash>.zarr``), the same variables as the cells, along ``run`` indexed
by (``study``, ``variant``, ``lr`` (η(d), the learning rate the cell ran with), ``task_seed``,
``eps``, ``N``, ``d``, ``beta``, ``L``, ``H``); the same choice of stores by ``config``.

``open_statistics(results)``: ``<results>/adamw/statistics.zarr`` (the ``fit`` job,
``adamw.claims.grid_statistics``), one ``xarray.Dataset`` over the cell dimensions (``variant``,
``eps``, ``N``, ``d``, ``beta``, ``L``, ``H``, NaN outside the configured grids) and
``replicate`` (0 the sample, 1..B bootstrap replicates over seeds):

- ``<var>_<selection>_<stat>`` (cell dims, replicate) for var ``x`` (states) and ``p``
  (backpropagated variables), selection ``worst`` (max over steps k ≤ K) and ``last`` (after step
  K), stat ``err``, ``err_inf``, ``bias``, ``bias_raw``, ``noise_floor``, ``fluct``;
  ``theta_worst_err``, ``theta_last_err``;
- ``<var>_step_<stat>`` (cell dims, step, replicate) for stat ``err``, ``bias``, ``fluct``, and
  ``theta_step_err``: the same after each step;
- ``loss``, ``loss_limit`` (cell dims, step): the training curves (mean over seeds);
- ``limit_error``, ``limit_error_x``, ``limit_error_p``, ``limit_error_theta`` (cell dims).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import xarray as xr

from attnlimits.adamw import grid as g
from attnlimits.batches import BATCH_CONSTRAINT
from attnlimits.combine import concat_runs, find_stores, open_store
from attnlimits.grids import make_key

EXPERIMENT = "adamw"


def _cells(
    results: Path,
    config: Mapping[str, Any] | None,
    job: str,
    key: type,
    constraints: Mapping[str, str],
) -> xr.Dataset:
    """The stores of the keyed job ``job`` (keys of class ``key``, path wildcards
    ``constraints``) along ``run``: those of ``config``, or every one found (module docstring)."""
    from attnlimits.adamw.experiment import EXPERIMENT as DECLARED

    expected = None if config is None else DECLARED.store_paths(config, job)
    pattern = DECLARED.store_pattern(job)
    found = find_stores(
        results, pattern, {**constraints, "batch": BATCH_CONSTRAINT}, EXPERIMENT, expected
    )
    runs = [(asdict(make_key(key, item.wildcards)), item.path) for item in found]
    return concat_runs(runs, EXPERIMENT, results)


def open_results(results: Path, config: Mapping[str, Any] | None = None) -> xr.Dataset:
    """The cell stores along ``run`` (module docstring)."""
    return _cells(results, config, "cell", g.Cell, g.WILDCARD_CONSTRAINTS)


def open_studies(results: Path, config: Mapping[str, Any] | None = None) -> xr.Dataset:
    """The study cell stores along ``run`` (module docstring), indexed by (``study``,
    ``variant``, ``lr``, ``task_seed``, ``eps``, ``N``, ``d``, ``beta``, ``L``, ``H``)."""
    from attnlimits.adamw import studies

    return _cells(results, config, "study_cell", studies.StudyCell, studies.WILDCARD_CONSTRAINTS)


def open_statistics(results: Path, config: Mapping[str, Any] | None = None) -> xr.Dataset:
    """The statistics over the grid with their bootstrap replicates (module docstring)."""
    return open_store(results / EXPERIMENT / "statistics.zarr", EXPERIMENT)
