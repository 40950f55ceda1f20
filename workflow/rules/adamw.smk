# Experiment `adamw` (MODELS.md): forward-backward limit of a transformer trained with AdamW.
# limit (per variant, eps, N, d, beta: trained limit and its own error by halving)
#   -> cell (per L, H: trained discrete model, errors after every step)
#   -> fit (statistics over the grid, rate fits, verdict tables)
#   -> plots (figures with report captions).

from attnlimits.adamw import grid as adamw_grid
from attnlimits.adamw.grid import FIGURES as ADAMW_FIGURES
from attnlimits.adamw.grid import NEEDED_TABLES as ADAMW_PLOT_TABLES

ADAMW = config["adamw"]
ADAMW_CELLS = adamw_grid.cells(ADAMW)
ADAMW_LIMITS = adamw_grid.limits(ADAMW)
ADAMW_TABLES = [
    "claims",
    "two_term",
    "slopes",
    "local_slopes",
    "points",
    "lines",
    "dims",
    "eps",
    "cells",
    "steps",
]


wildcard_constraints:
    **adamw_grid.WILDCARD_CONSTRAINTS,


def adamw_final_outputs():
    return [results(f"adamw/tables/{t}.md") for t in ADAMW_TABLES] + [
        results(f"adamw/plots/{f}.{config['plots']['format']}") for f in ADAMW_FIGURES
    ]


rule adamw_limit:
    output:
        directory(results(adamw_grid.LIMIT_PATTERN)),
    log:
        results("logs/adamw/limit/{variant}_eps{eps}_N{N}_d{d}_beta{beta}_{hash}.log"),
    benchmark:
        results(
            "benchmarks/adamw/limit/{variant}_eps{eps}_N{N}_d{d}_beta{beta}_{hash}.tsv"
        )
    threads: 1
    resources:
        mem_mb=lambda wc: adamw_grid.memory_mb(
            adamw_grid.limit_spec(ADAMW, adamw_grid.find(ADAMW_LIMITS, wc))
        ),
        runtime=60,
    params:
        spec=lambda wc: adamw_grid.limit_spec(ADAMW, adamw_grid.find(ADAMW_LIMITS, wc)),
        code=code_version(adamw_grid.LIMIT_MODULES),
        runtime=config["runtime"],
        kind="limit",
    script:
        "../scripts/adamw_run.py"


rule adamw_cell:
    input:
        limit=lambda wc: results(
            adamw_grid.limit_path(ADAMW, adamw_grid.find(ADAMW_CELLS, wc).limit)
        ),
    output:
        directory(results(adamw_grid.CELL_PATTERN)),
    log:
        results(
            "logs/adamw/cells/{variant}_eps{eps}_N{N}_d{d}_beta{beta}/L{L}_H{H}_{hash}.log"
        ),
    benchmark:
        results(
            "benchmarks/adamw/cells/{variant}_eps{eps}_N{N}_d{d}_beta{beta}/L{L}_H{H}_{hash}.tsv"
        )
    threads: 1
    resources:
        mem_mb=lambda wc: adamw_grid.memory_mb(
            adamw_grid.cell_spec(ADAMW, adamw_grid.find(ADAMW_CELLS, wc))
        ),
        runtime=60,
    params:
        spec=lambda wc: adamw_grid.cell_spec(ADAMW, adamw_grid.find(ADAMW_CELLS, wc)),
        code=code_version(adamw_grid.CELL_MODULES),
        runtime=config["runtime"],
        kind="cell",
    script:
        "../scripts/adamw_run.py"


rule adamw_fit:
    input:
        cells=[results(adamw_grid.cell_path(ADAMW, c)) for c in ADAMW_CELLS],
    output:
        statistics=directory(results("adamw/statistics.zarr")),
        tables=table_outputs("adamw", ADAMW_TABLES),
    log:
        results("logs/adamw/fit.log"),
    threads: 1
    resources:
        mem_mb=4000,
    params:
        cells=[c.__dict__ for c in ADAMW_CELLS],
        options=ADAMW["fits"],
        code=code_version(
            [
                "statistics",
                "fits",
                "tables",
                "heads.claims",
                "adamw.grid",
                "adamw.statistics",
                "adamw.sweeps",
                "adamw.claims",
            ]
        ),
    script:
        "../scripts/adamw_fit.py"


rule adamw_plots:
    input:
        tables=[results(f"adamw/tables/{t}.csv") for t in ADAMW_PLOT_TABLES],
    output:
        [
            report(
                results(f"adamw/plots/{f}.{config['plots']['format']}"),
                caption=f"../report/adamw_{f}.rst",
                category="adamw",
            )
            for f in ADAMW_FIGURES
        ],
    log:
        results("logs/adamw/plots.log"),
    threads: 1
    resources:
        mem_mb=2000,
    params:
        options=config["plots"],
        code=code_version(["plots", "heads.plots", "adamw.plots"]),
    script:
        "../scripts/adamw_plots.py"
