"""Experiment ``heads`` (docs/mathematics.md): the depth × heads limit of P1's forward pass,
declared.

limit (per mask, normalisation, N, d, β) → cell (per L, H: simulate and measure the errors)
→ aggregate (one consolidated store) → fit (statistics, rate fits, claims) → plots; and
adversarial (per cell of ``heads.adversarial.grid``: the worst-case inputs) → fit.
"""

from __future__ import annotations

from typing import Any

from attnlimits.grids import key_fields
from attnlimits.heads import adversarial_grid as adv
from attnlimits.heads import captions
from attnlimits.heads import grid as g
from attnlimits.registry import Experiment, Job, StoreOf, grid_job, published

RUNNERS = "attnlimits.heads.jobs"


def trajectory_cell(config: dict[str, Any]) -> g.Cell:
    """The cell whose trajectories are drawn (``plots.trajectories``)."""
    tr = config["plots"]["trajectories"]
    keys = ("mask", "normalisation", "N", "d", "beta", "L", "H")
    return g.Cell(**{k: (float(tr[k]) if k == "beta" else tr[k]) for k in keys})


def _cell_outputs(config: dict[str, Any], key: Any) -> dict[str, list[str]]:
    return {"cells": EXPERIMENT.keyed_outputs(config, "cell")}


def _fit_spec(config: dict[str, Any], key: Any) -> dict[str, Any]:
    """The fit options, and the search's cells and the tolerances of its checks."""
    block = config["heads"]["adversarial"]
    return {
        **config["heads"]["fits"],
        "adversarial": {
            **{k: block[k] for k in adv.CHECK_KEYS},
            "cells": [key_fields(cell) for cell in EXPERIMENT.keys(config, "adversarial")],
        },
    }


def _plot_inputs(config: dict[str, Any], key: Any) -> dict[str, str | StoreOf]:
    cell = trajectory_cell(config)
    return {
        "tables": "heads/tables",
        "cell": StoreOf("cell", cell),
        "limit": StoreOf("limit", cell.limit),
    }


EXPERIMENT = Experiment(
    name="heads",
    title="P1 forward pass: depth and heads",
    jobs=(
        grid_job(
            "heads",
            "limit",
            f"{RUNNERS}:limit",
            g.LIMIT_PATTERN,
            g.limits,
            g.limit_path,
            g.limit_spec,
            g.find,
            wildcards=g.WILDCARD_CONSTRAINTS,
            runtime_min=30,
            estimate=g.estimate_limit,
            per_job=16,
            priority=4,
        ),
        grid_job(
            "heads",
            "cell",
            f"{RUNNERS}:cell",
            g.CELL_PATTERN,
            g.cells,
            g.cell_path,
            g.cell_spec,
            g.find,
            needs=lambda b, k: {"limit": StoreOf("limit", k.limit)},
            wildcards=g.WILDCARD_CONSTRAINTS,
            runtime_min=30,
            estimate=g.estimate_cell,
            per_job=64,
            priority=3,
        ),
        Job(
            name="aggregate",
            runner=f"{RUNNERS}:aggregate",
            spec=lambda c, k: {
                "T": c["heads"]["T"],
                "seeds": c["heads"]["seeds"],
                "cells": [key_fields(cell) for cell in EXPERIMENT.keys(c, "cell")],
            },
            needs=_cell_outputs,
            reads=("cell",),
            outputs=("results",),
            estimate=g.estimate_aggregate,
            priority=2,
        ),
        grid_job(
            "heads",
            "adversarial",
            f"{RUNNERS}:adversarial",
            adv.PATTERN,
            adv.cells,
            adv.path,
            adv.spec,
            g.find,
            wildcards=g.WILDCARD_CONSTRAINTS,
            runtime_min=30,
            estimate=adv.estimate,
            per_job=12,
            priority=2,
        ),
        Job(
            name="fit",
            runner=f"{RUNNERS}:fit",
            spec=_fit_spec,
            needs=lambda c, k: {
                "results": "heads/results.zarr",
                "adversarial": EXPERIMENT.keyed_outputs(c, "adversarial"),
            },
            reads=("adversarial",),
            outputs=("statistics", "tables"),
            memory_mb=4000,
            estimate=g.estimate_fit,
            priority=1,
        ),
        Job(
            name="plots",
            runner=f"{RUNNERS}:plots",
            spec=lambda c, k: c["plots"],
            needs=_plot_inputs,
            outputs=("plots",),
            estimate=g.estimate_plots,
        ),
    ),
    tables=captions.TABLES,
    figures=captions.FIGURES,
    claims="attnlimits.heads.claims:CLAIMS",
    check="attnlimits.heads.checks:problems",
    schema="attnlimits.heads:schema.yaml",
    datasets=published(
        "attnlimits.heads.datasets",
        results="per-seed errors e2, e_inf and the Gram matrix of deviations over (mask, "
        "normalisation, N, d, beta, L, H, seed), present: which cells ran (NaN elsewhere)",
        statistics="cell statistics (err, err_inf, bias, bias_raw, noise_floor, fluct, "
        "limit_error) over the cell dimensions and replicate (0: the sample, 1..B: bootstrap)",
    ),
)
