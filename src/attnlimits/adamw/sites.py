"""The cells of the studies of experiment ``adamw``, pooled over their task seeds.

A *site* is one point of a study: (study, learning-rate scaling, variant, ε, N, d, β, L, H),
with the stores of its T task seeds (the scalings share the stores at d = d₀). From the pooled
errors (``adamw.hierarchy``) and one set of hierarchical bootstrap weights per study this module
gives the tables

- ``study_cells``: one row per site, the worst-step and last-step errors of X, P and θ with
  their intervals over task and head seeds (``_low``/``_high``) and over head seeds alone
  (``_heads_low``/``_heads_high``), the limit's own errors (the largest over the tasks) and
  whether the worst-step error is within ``solver_margin`` of it (``_excluded``);
- ``study_tasks``: one row per site and task seed, the worst-step error of each task alone;
- ``study_steps``: one row per site and training step k, the error after step k with its
  interval (the figure of the error against k).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from attnlimits.adamw import hierarchy
from attnlimits.adamw.studies import StudyCell, learning_rate, settings
from attnlimits.analysis.statistics import scalar_interval

TRACKED = tuple(hierarchy.ERRORS)
#: The key columns of a site, in table order.
SITE_KEYS = ("study", "lr_scaling", "variant", "eps", "N", "d", "beta", "L", "H")
#: What a site reads of a cell store.
STORE_VARIABLES = tuple(hierarchy.ERRORS.values())


@dataclass
class Site:
    """One site: its keys, η(d), task seeds and, per tracked variable, the pooled errors
    (K+1, T R, inputs), the statistics over the hierarchical (``stats``) and head-seed
    (``heads``) replicates, and the limit's own error."""

    key: dict[str, Any]
    lr: float
    task_seeds: tuple[int, ...]
    errors: dict[str, np.ndarray]
    own: dict[str, float]
    stats: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    heads: dict[str, np.ndarray] = field(default_factory=dict)


def _load(store: xr.Dataset) -> xr.Dataset:
    return store[list(STORE_VARIABLES)].load().assign_attrs(store.attrs)


def sites(
    adamw: Mapping[str, Any], stores: Mapping[StudyCell, xr.Dataset], options: Mapping[str, Any]
) -> list[Site]:
    """Every site of every study, its statistics computed with one set of hierarchical and of
    head-seed weights per study (``fits.bootstrap`` replicates, ``fits.bootstrap_seed``)."""
    loaded: dict[StudyCell, xr.Dataset] = {}
    out = []
    for name, spec in adamw["studies"].items():
        lr, tasks = settings(adamw, name)["optimizer"]["lr"], tuple(spec["task_seeds"])
        seeds, replicates = int(spec["seeds"]), int(options["bootstrap"])
        hier = hierarchy.hierarchical_weights(
            len(tasks), seeds, replicates, options["bootstrap_seed"]
        )
        heads = hierarchy.head_seed_weights(
            len(tasks), seeds, replicates, options["bootstrap_seed"]
        )
        grid = spec["grid"]
        axes = [grid[f] for f in ("variant", "eps", "N", "d", "beta", "L", "H")]
        for scaling in spec["lr_scaling"]:
            for variant, eps, n, d, beta, depth, h in itertools.product(*axes):
                rate = learning_rate(lr, d, spec["d0"], scaling)
                keys = [
                    StudyCell(name, variant, rate, t, float(eps), n, d, float(beta), depth, h)
                    for t in tasks
                ]
                for key in keys:
                    if key not in loaded:
                        loaded[key] = _load(stores[key])
                group = [loaded[k] for k in keys]
                site = Site(
                    key=dict(
                        zip(
                            SITE_KEYS,
                            (name, scaling, variant, float(eps), n, d, float(beta), depth, h),
                            strict=True,
                        )
                    ),
                    lr=rate,
                    task_seeds=tasks,
                    errors={v: hierarchy.pooled_errors(group, v) for v in TRACKED},
                    own={
                        v: max(float(s.attrs[f"limit_error_{v}"]) for s in group) for v in TRACKED
                    },
                )
                for var, errors in site.errors.items():
                    site.stats[var] = hierarchy.pooled_statistics(errors, hier)
                    site.heads[var] = hierarchy.pooled_statistics(errors, heads)["worst"]
                out.append(site)
    return out


def cells_table(all_sites: Sequence[Site], level: float, margin: float) -> pd.DataFrame:
    """The ``study_cells`` table of the module docstring; ``<var>_excluded`` marks a worst-step
    error below ``margin`` times the limit's own error (left out of the d-slopes)."""
    rows = []
    for site in all_sites:
        row: dict[str, Any] = {**site.key, "lr": site.lr, "tasks": len(site.task_seeds)}
        row["seeds"] = site.errors["x"].shape[1] // len(site.task_seeds)
        for var in TRACKED:
            for sel in ("worst", "last"):
                values = site.stats[var][sel]
                lo, hi = scalar_interval(values, level)
                row.update(
                    {f"{var}_{sel}": values[0], f"{var}_{sel}_low": lo, f"{var}_{sel}_high": hi}
                )
            lo, hi = scalar_interval(site.heads[var], level)
            row.update({f"{var}_worst_heads_low": lo, f"{var}_worst_heads_high": hi})
        for var in TRACKED:
            row[f"limit_error_{var}"] = site.own[var]
            worst = site.stats[var]["worst"][0]
            row[f"{var}_excluded"] = bool(not worst >= margin * site.own[var])
        rows.append(row)
    return pd.DataFrame(rows)


def tasks_table(all_sites: Sequence[Site]) -> pd.DataFrame:
    """The ``study_tasks`` table of the module docstring."""
    rows = []
    for site in all_sites:
        per_task = {v: hierarchy.task_errors(site.errors[v], len(site.task_seeds)) for v in TRACKED}
        for i, task in enumerate(site.task_seeds):
            rows.append(
                {
                    **site.key,
                    "task_seed": task,
                    **{f"{v}_worst": float(per_task[v][i]) for v in TRACKED},
                }
            )
    return pd.DataFrame(rows)


def steps_table(all_sites: Sequence[Site], level: float) -> pd.DataFrame:
    """The ``study_steps`` table of the module docstring."""
    rows = []
    for site in all_sites:
        steps = site.stats["x"]["step"].shape[0]
        for k in range(steps):
            row: dict[str, Any] = {**site.key, "step": k}
            for var in TRACKED:
                values = site.stats[var]["step"][k]
                lo, hi = scalar_interval(values, level)
                row.update({f"{var}_err": values[0], f"{var}_err_low": lo, f"{var}_err_high": hi})
            rows.append(row)
    return pd.DataFrame(rows)
