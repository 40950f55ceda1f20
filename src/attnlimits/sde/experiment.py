"""Experiment ``sde`` (docs/mathematics.md): P2's common-noise SDE limit of attention + MLP blocks,
declared.

kernel table; per (row, attention sign): depth, width and sync runs, joint (L, m) and (L, N) runs
and odd-field runs (each kind with its own rows); per d: chaos run → fit (claims and tables) →
plots.
"""

from __future__ import annotations

from typing import Any

from attnlimits.grids import HASH, INTEGER
from attnlimits.registry import Experiment, Job, grid_job, published
from attnlimits.sde import captions
from attnlimits.sde import grid as g

RUNNERS = "attnlimits.sde.jobs"
KINDS = ("depth", "width", "sync", "joint_width", "joint_tokens", "odd")
WILDCARDS = {**g.WILDCARD_CONSTRAINTS, "d": INTEGER, "hash": HASH}


#: Keys per job of the row kinds (attnlimits.batches): a job's start-up and imports cost about
#: 3 s, so the runs of a few seconds to a few tens (default config: 8 depth runs of 10–40 s,
#: 4 width runs of 5 s, 18 synchronization runs of 3–15 s) are batched by several.
#: The joint runs (a few seconds each) and the odd-field runs (about a second) likewise.
PER_JOB = {"depth": 4, "width": 4, "sync": 9, "joint_width": 4, "joint_tokens": 4, "odd": 4}


def _row_job(kind: str) -> Job:
    return grid_job(
        "sde", kind, f"{RUNNERS}:{kind}", g.PATTERNS[kind], lambda b: g.row_jobs(b, kind),
        g.row_path, g.row_spec, g.find_row_job, wildcards=WILDCARDS, memory_mb=4000,
        estimate=g.estimate_row, per_job=PER_JOB[kind], priority=2,
    )  # fmt: skip


def _stores(config: dict[str, Any], key: Any) -> dict[str, list[str]]:
    """The outputs of every run job (a store, or a batch's folder), by kind."""
    return {kind: EXPERIMENT.keyed_outputs(config, kind) for kind in (*KINDS, "chaos")}


def _find_chaos(keys: list[int], wildcards: Any) -> int:
    d = int(wildcards["d"])
    if d not in keys:
        raise KeyError(f"no configured sde chaos run has d = {d}")
    return d


EXPERIMENT = Experiment(
    name="sde",
    title="P2: common-noise SDE, width, tokens, synchronization",
    jobs=(
        *(_row_job(kind) for kind in KINDS),
        grid_job(
            "sde",
            "chaos",
            f"{RUNNERS}:chaos",
            g.PATTERNS["chaos"],
            lambda b: [int(d) for d in b["chaos"]["d"]],
            g.chaos_path,
            g.chaos_spec,
            _find_chaos,
            wildcards={"d": INTEGER, "hash": HASH},
            memory_mb=4000,
            estimate=g.estimate_chaos,
            per_job=2,
            priority=2,
        ),
        Job(
            name="kernel_table",
            runner=f"{RUNNERS}:kernel_table",
            spec=lambda c, k: {**c["sde"]["kernel_table"], "seed": c["sde"]["seed"]},
            outputs=("exponents",),
            memory_mb=4000,
            estimate=g.estimate_kernel_table,
        ),
        Job(
            name="fit",
            runner=f"{RUNNERS}:fit",
            spec=lambda c, k: c["sde"]["fits"],
            needs=_stores,
            reads=(*KINDS, "chaos"),
            outputs=("tables",),
            memory_mb=4000,
            estimate=g.estimate_fit,
            priority=1,
        ),
        Job(
            name="plots",
            runner=f"{RUNNERS}:plots",
            spec=lambda c, k: c["plots"],
            needs=lambda c, k: {"tables": "sde/tables", **_stores(c, k)},
            reads=(*KINDS, "chaos"),
            outputs=("plots",),
            memory_mb=4000,
            estimate=g.estimate_plots,
        ),
    ),
    tables=captions.TABLES,
    figures=captions.FIGURES,
    claims="attnlimits.sde.claims:CLAIMS",
    check="attnlimits.sde.checks:problems",
    schema="attnlimits.sde:schema.yaml",
    datasets=published(
        "attnlimits.sde.datasets",
        results="one group per kind (depth, width, chaos, sync), the runs along `run`",
        statistics="the fit's points: every plotted statistic with its bootstrap interval",
    ),
)
