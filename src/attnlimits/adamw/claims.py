"""Grid statistics and claims of experiment ``adamw`` (docs/mathematics.md, ``adamw`` and "How rates
are fitted").

``grid_statistics`` gathers the cell statistics (``adamw.statistics``) of every cell store into one
dataset over (variant, eps, N, d, beta, L, H, replicate), NaN outside the configured grids.
``adamw_claims`` fits them with the machinery of ``heads`` (``heads.claims.claims_tables``): for
each tracked variable (``x`` the forward states, ``p`` the backpropagated variables) and each step
selection (``worst``: max over k ≤ K, the theorem's quantity; ``last``: after step K) the same
claims as ``heads`` (bias exponent in L at the largest H, fluctuation exponent in H of the joint
fit, e_∞ and err not growing with N), with the columns ``variable`` and ``selection`` telling them
apart; ``adamw.sweeps`` adds the tables ``eps``, ``cells`` and ``steps``.

The studies (``adamw.studies``) add, through ``study_tables``: the tables of ``adamw.sites``
(``study_cells``, ``study_tasks``, ``study_steps``), the d-slopes of ``adamw.dims`` (``dims``,
and their claims ``err_d``, ``theta_d`` in ``claims``), the worst steps of ``adamw.peaks``
(``peak_steps``), and, for a study with a depth × heads grid, P1's claims for X and P as above
at the worst step k ≤ K (the theorem's quantity), per learning-rate scaling and task seed, in
every table of ``claims_tables`` with the grid named ``<study>_depth_heads``
(``_<scaling>_task<seed>`` appended when the study has several).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from attnlimits.adamw import dims, peaks, sites, sweeps
from attnlimits.adamw.grid import CELL_DIMS, Cell
from attnlimits.adamw.runs import LIMIT_ERRORS
from attnlimits.adamw.statistics import (
    SELECTIONS,
    STATS,
    STORE_VARIABLES,
    VARIABLES,
    cell_statistics,
    step_statistics,
)
from attnlimits.adamw.studies import StudyCell, learning_rate, settings
from attnlimits.analysis.statistics import STATISTICS, replicate_weights
from attnlimits.p1.claims import CLAIMS as P1_CLAIMS
from attnlimits.p1.rates import Layout, claims_tables

LAYOUT = Layout("adamw", CELL_DIMS, constants=("variable", "selection"))
#: P1's claims, for the states X and the backpropagated variables P; the d-claims of the studies.
CLAIMS = (*P1_CLAIMS, dims.ERR_D, dims.THETA_D)
#: Fewest depths of a study's grid for its P1 claims (``p1.rates.MIN_DEPTHS``).
MIN_STUDY_DEPTHS = 3
#: The step selection of a study's P1 claims: the theorem's worst step k ≤ K.
STUDY_SELECTIONS = ("worst",)
_WHAT = {"x": "states X", "p": "backpropagated variables P", "theta": "parameters"}
_WHEN = {"worst": "worst step k <= K", "last": "after the last step K", "step": "after step k"}


def _long_name(name: str) -> str:
    """``<var>_<selection>_<stat>`` → a readable description (module ``adamw.statistics``)."""
    var, sel, stat = name.split("_", 2)
    what = "parameter error" if var == "theta" else STATISTICS[stat]
    return f"{what}, {_WHAT[var]}, {_WHEN[sel]}"


def grid_statistics(cells: Sequence[tuple[Cell, xr.Dataset]], weights: np.ndarray) -> xr.Dataset:
    """Every statistic of ``adamw.statistics`` for every (cell, store), over the cell dimensions
    and ``replicate`` (per-step ones also over ``step``); per cell the limit's own errors by
    halving (``runs.LIMIT_ERRORS``: ``limit_error_<var>`` per variable) and the training curves
    (``loss``: mean over seeds of the discrete loss, ``loss_limit``: the limit's), over ``step``."""
    if not cells:
        raise ValueError("no cells")
    coords = {
        dim: sorted({getattr(cell, dim) for cell, _ in cells}) for dim in CELL_DIMS
    }  # fmt: skip
    shape = tuple(len(v) for v in coords.values())
    steps = cells[0][1].sizes["step"]
    if any(store.sizes["step"] != steps for _, store in cells):
        raise ValueError("the cell stores have different numbers of training steps")
    replicates = np.asarray(weights).shape[0]
    data: dict[str, np.ndarray] = {}
    per_step: dict[str, np.ndarray] = {}
    curves = {name: np.full((*shape, steps), np.nan) for name in ("loss", "loss_limit")}
    own = {name: np.full(shape, np.nan) for name in LIMIT_ERRORS}
    for cell, lazy in cells:
        store = lazy[[*STORE_VARIABLES, "loss", "loss_limit"]].load()  # read once, used twice
        index = tuple(coords[dim].index(getattr(cell, dim)) for dim in CELL_DIMS)
        for name, value in cell_statistics(store, weights).items():
            if name not in data:  # allocated once (a grid-sized array per variable)
                data[name] = np.full((*shape, replicates), np.nan)
            data[name][index] = value
        for name, value in step_statistics(store, weights).items():
            if name not in per_step:
                per_step[name] = np.full((*shape, steps, replicates), np.nan)
            per_step[name][index] = value
        curves["loss"][index] = store["loss"].mean("seed").values
        curves["loss_limit"][index] = store["loss_limit"].values
        for name in own:
            own[name][index] = float(store.attrs[name])
    units = {"units": "1"}
    names = {
        "loss": "loss J, mean over seeds",
        "loss_limit": "loss J of the limit",
        "limit_error": "limit's own error in X and P (halving)",
        "limit_error_x": "limit's own error in X (halving)",
        "limit_error_p": "limit's own error in P (halving)",
        "limit_error_theta": "limit's own error in theta (halving)",
    }
    variables = {
        name: ((*CELL_DIMS, "replicate"), value, {"long_name": _long_name(name), **units})
        for name, value in data.items()
    }
    for name, value in per_step.items():
        attrs = {"long_name": _long_name(name), **units}
        variables[name] = ((*CELL_DIMS, "step", "replicate"), value, attrs)
    for name, value in curves.items():
        variables[name] = ((*CELL_DIMS, "step"), value, {"long_name": names[name], **units})
    for name, value in own.items():
        variables[name] = (CELL_DIMS, value, {"long_name": names[name], **units})
    return xr.Dataset(
        variables,
        coords={**coords, "step": np.arange(steps), "replicate": np.arange(replicates)},
    )


def _stacked(parts: dict[str, list[pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    return {
        table: pd.concat([f for f in frames if not f.empty] or frames[:1], ignore_index=True)
        for table, frames in parts.items()
    }


def p1_tables(
    stats: xr.Dataset, options: Mapping[str, Any], selections: tuple[str, ...] = SELECTIONS
) -> dict[str, pd.DataFrame]:
    """The tables of ``heads.claims`` for each variable and selection of ``stats`` (the grid
    statistics of :func:`grid_statistics`), stacked."""
    parts: dict[str, list[pd.DataFrame]] = {}
    for var in VARIABLES:
        for sel in selections:
            names = {f"{var}_{sel}_{q}": q for q in STATS}
            own = f"limit_error_{var}"  # each variable against the limit's own error in it
            sub = stats[[*names, own]].rename({**names, own: "limit_error"})
            constants = (("variable", var), ("selection", sel))
            for table, frame in claims_tables(sub, options, LAYOUT, constants).items():
                parts.setdefault(table, []).append(frame)
    return _stacked(parts)


def _study_p1_tables(
    adamw: Mapping[str, Any], stores: Mapping[StudyCell, xr.Dataset], options: Mapping[str, Any]
) -> list[dict[str, pd.DataFrame]]:
    """:func:`p1_tables` of every study with a depth × heads grid, per scaling and task seed
    (head-seed replicates, as the grids), the grid column renamed (module docstring)."""
    out = []
    for name, spec in adamw["studies"].items():
        if len(spec["grid"]["L"]) < MIN_STUDY_DEPTHS:
            continue
        cells = [c for c in stores if c.study == name]
        lr = settings(adamw, name)["optimizer"]["lr"]
        groups = {
            (scaling, task): [
                c
                for c in cells
                if c.task_seed == task and c.lr == learning_rate(lr, c.d, spec["d0"], scaling)
            ]
            for scaling in spec["lr_scaling"]
            for task in spec["task_seeds"]
        }
        several = len(groups) > 1
        weights = replicate_weights(spec["seeds"], options["bootstrap"], options["bootstrap_seed"])
        for (scaling, task), group in groups.items():
            stats = grid_statistics([(c.grid_key, stores[c]) for c in group], weights)
            suffix = f"_{scaling}_task{task}" if several else ""
            tables = p1_tables(stats, options, STUDY_SELECTIONS)
            for frame in tables.values():
                if "grid" in frame:
                    frame["grid"] = [f"{name}_{g}{suffix}" for g in frame["grid"]]
            out.append(tables)
    return out


def study_tables(
    adamw: Mapping[str, Any], stores: Mapping[StudyCell, xr.Dataset], options: Mapping[str, Any]
) -> tuple[dict[str, pd.DataFrame], list[dict[str, pd.DataFrame]], list[dict[str, Any]]]:
    """The tables of the studies (module docstring): their own tables, the P1 tables of those
    with a depth × heads grid, and the claim rows of the d-slopes."""
    level = float(options["level"])
    every = sites.sites(adamw, stores, options)
    slopes, claim_rows = dims.dims_tables(every, options)
    own = {
        "study_cells": sites.cells_table(every, level, float(options["solver_margin"])),
        "study_tasks": sites.tasks_table(every),
        "study_steps": sites.steps_table(every, level),
        "peak_steps": peaks.peaks_table(every),
        "dims": slopes,
    }
    return own, _study_p1_tables(adamw, stores, options), claim_rows


def adamw_claims(
    stats: xr.Dataset,
    options: Mapping[str, Any],
    adamw: Mapping[str, Any] | None = None,
    study_stores: Mapping[StudyCell, xr.Dataset] | None = None,
) -> dict[str, pd.DataFrame]:
    """The tables of ``heads.claims`` for each (variable, selection), stacked; the tables of
    ``adamw.sweeps`` and, with the config block ``adamw`` and the stores of its study cells,
    those of the studies (:func:`study_tables`), their claims added to ``claims``."""
    tables = p1_tables(stats, options)
    level = float(options["level"])
    no_studies = {"studies": {}}
    extra, p1_parts, claim_rows = study_tables(adamw or no_studies, study_stores or {}, options)
    parts: dict[str, list[pd.DataFrame]] = {}
    for part in (tables, *p1_parts):
        for table, frame in part.items():
            parts.setdefault(table, []).append(frame)
    tables = _stacked(parts)
    if claim_rows:
        rows = pd.DataFrame(claim_rows, columns=tables["claims"].columns)
        tables["claims"] = pd.concat(
            [f for f in (tables["claims"], rows) if not f.empty], ignore_index=True
        )
    return {
        **tables,
        "eps": sweeps.eps_table(stats, options),
        "cells": sweeps.cells_table(stats, level),
        "steps": sweeps.steps_table(stats, level),
        **extra,
    }
