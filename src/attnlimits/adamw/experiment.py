"""Experiment ``adamw`` (docs/mathematics.md): P1's forward–backward limit under AdamW training,
declared.

limit (per variant, ε, N, d, β: the trained limit and its own error by halving)
→ cell (per L, H: the trained discrete model, its errors after every step)
→ fit (statistics over the grid, rate fits, claims) → plots.
The studies (``adamw.studies``: settings of their own, learning-rate scalings with d, several
task seeds) run the same two runners as study_limit → study_cell, read by the same fit.
"""

from __future__ import annotations

from attnlimits.adamw import captions, studies
from attnlimits.adamw import grid as g
from attnlimits.registry import Experiment, Job, StoreOf, grid_job, published

RUNNERS = "attnlimits.adamw.jobs"

EXPERIMENT = Experiment(
    name="adamw",
    title="P1 training: forward–backward system under AdamW",
    jobs=(
        grid_job(
            "adamw",
            "limit",
            f"{RUNNERS}:limit",
            g.LIMIT_PATTERN,
            g.limits,
            g.limit_path,
            g.limit_spec,
            g.find,
            memory_mb=g.memory_mb,
            wildcards=g.WILDCARD_CONSTRAINTS,
            estimate=g.estimate_limit,
            per_job=4,
            priority=3,
        ),
        grid_job(
            "adamw",
            "cell",
            f"{RUNNERS}:cell",
            g.CELL_PATTERN,
            g.cells,
            g.cell_path,
            g.cell_spec,
            g.find,
            needs=lambda b, k: {"limit": StoreOf("limit", k.limit)},
            memory_mb=g.memory_mb,
            wildcards=g.WILDCARD_CONSTRAINTS,
            estimate=g.estimate_cell,
            per_job=32,
            priority=2,
        ),
        grid_job(
            "adamw",
            "study_limit",
            f"{RUNNERS}:limit",
            studies.LIMIT_PATTERN,
            studies.limits,
            studies.limit_path,
            studies.limit_spec,
            g.find,
            memory_mb=g.memory_mb,
            wildcards=studies.WILDCARD_CONSTRAINTS,
            estimate=studies.estimate_limit,
            per_job=16,
            priority=3,
        ),
        grid_job(
            "adamw",
            "study_cell",
            f"{RUNNERS}:cell",
            studies.CELL_PATTERN,
            studies.cells,
            studies.cell_path,
            studies.cell_spec,
            g.find,
            needs=lambda b, k: {"limit": StoreOf("study_limit", k.limit)},
            memory_mb=g.memory_mb,
            wildcards=studies.WILDCARD_CONSTRAINTS,
            estimate=studies.estimate_cell,
            per_job=32,
            priority=2,
        ),
        Job(
            name="fit",
            runner=f"{RUNNERS}:fit",
            spec=lambda c, k: c["adamw"]["fits"],
            needs=lambda c, k: {
                "cells": EXPERIMENT.keyed_outputs(c, "cell"),
                "study_cells": EXPERIMENT.keyed_outputs(c, "study_cell"),
            },
            reads=("cell", "study_cell"),
            outputs=("statistics", "tables"),
            memory_mb=4000,
            estimate=g.estimate_fit,
            priority=1,
        ),
        Job(
            name="plots",
            runner=f"{RUNNERS}:plots",
            spec=lambda c, k: c["plots"],
            needs=lambda c, k: {"tables": "adamw/tables"},
            outputs=("plots",),
            estimate=g.estimate_plots,
        ),
    ),
    tables=captions.TABLES,
    figures=captions.FIGURES,
    claims="attnlimits.adamw.claims:CLAIMS",
    check="attnlimits.adamw.checks:problems",
    schema="attnlimits.adamw:schema.yaml",
    datasets=published(
        "attnlimits.adamw.datasets",
        results="the cell stores: per-seed errors of X, P and θ after every AdamW step",
        statistics="statistics per variable and step selection over the cell dimensions, replicate",
    ),
)
