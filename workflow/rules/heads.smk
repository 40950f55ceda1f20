# Experiment `heads` (MODELS.md): depth x heads limit of a transformer's forward pass.
# limit (per N, d, beta, mask, normalisation) -> cell (per L, H: simulate + errors)
#   -> aggregate (one consolidated store) -> fit (statistics, tables) -> plots.

HEADS = config["heads"]
HEADS_CELLS = heads_grid.cells(HEADS)
HEADS_LIMITS = heads_grid.limits(HEADS)
HEADS_TABLES = [
    "claims",
    "two_term",
    "slopes",
    "local_slopes",
    "points",
    "lines",
    "solver",
]
HEADS_FIGURES = [
    "err_vs_L",
    "err_vs_H",
    "bias_fluct_vs_L",
    "e_inf_vs_N",
    "local_slopes",
    "trajectories",
]


wildcard_constraints:
    **heads_grid.WILDCARD_CONSTRAINTS,


def heads_final_outputs():
    fmt = config["plots"]["format"]
    return [results(f"heads/tables/{t}.md") for t in HEADS_TABLES] + [
        results(f"heads/plots/{f}.{fmt}") for f in HEADS_FIGURES
    ]


def heads_cell_store(cell):
    return results(heads_grid.cell_path(HEADS, cell))


def heads_trajectory_cell():
    tr = config["plots"]["trajectories"]
    return heads_grid.Cell(
        tr["mask"],
        tr["normalisation"],
        tr["N"],
        tr["d"],
        float(tr["beta"]),
        tr["L"],
        tr["H"],
    )


rule heads_limit:
    output:
        directory(results(heads_grid.LIMIT_PATTERN)),
    log:
        results(
            "logs/heads/limit/{mask}_{normalisation}_N{N}_d{d}_beta{beta}_{hash}.log"
        ),
    benchmark:
        results(
            "benchmarks/heads/limit/{mask}_{normalisation}_N{N}_d{d}_beta{beta}_{hash}.tsv"
        )
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        spec=lambda wc: heads_grid.limit_spec(HEADS, heads_grid.find(HEADS_LIMITS, wc)),
        code=code_version(heads_grid.LIMIT_MODULES),
        runtime=config["runtime"],
    script:
        "../scripts/heads_limit.py"


rule heads_cell:
    input:
        limit=lambda wc: results(
            heads_grid.limit_path(HEADS, heads_grid.find(HEADS_CELLS, wc).limit)
        ),
    output:
        directory(results(heads_grid.CELL_PATTERN)),
    log:
        results(
            "logs/heads/cells/{mask}_{normalisation}_N{N}_d{d}_beta{beta}/L{L}_H{H}_{hash}.log"
        ),
    benchmark:
        results(
            "benchmarks/heads/cells/{mask}_{normalisation}_N{N}_d{d}_beta{beta}/L{L}_H{H}_{hash}.tsv"
        )
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        spec=lambda wc: heads_grid.cell_spec(HEADS, heads_grid.find(HEADS_CELLS, wc)),
        code=code_version(heads_grid.CELL_MODULES),
        runtime=config["runtime"],
    script:
        "../scripts/heads_cell.py"


rule heads_aggregate:
    input:
        cells=[heads_cell_store(c) for c in HEADS_CELLS],
    output:
        directory(results("heads/heads.zarr")),
    log:
        results("logs/heads/aggregate.log"),
    threads: 1
    resources:
        mem_mb=2000,
    params:
        cells=[c.__dict__ for c in HEADS_CELLS],
        attrs={"T": HEADS["T"], "seeds": HEADS["seeds"], "experiment": "heads"},
        code=code_version(["heads.aggregate", "storage"]),
    script:
        "../scripts/heads_aggregate.py"


rule heads_fit:
    input:
        results("heads/heads.zarr"),
    output:
        statistics=directory(results("heads/statistics.zarr")),
        tables=table_outputs("heads", HEADS_TABLES),
    log:
        results("logs/heads/fit.log"),
    threads: 1
    resources:
        mem_mb=4000,
    params:
        options=HEADS["fits"],
        code=code_version(["statistics", "fits", "tables", "heads.claims"]),
    script:
        "../scripts/heads_fit.py"


rule heads_plots:
    input:
        tables=[results(f"heads/tables/{t}.csv") for t in HEADS_TABLES],
        cell=heads_cell_store(heads_trajectory_cell()),
        limit=results(heads_grid.limit_path(HEADS, heads_trajectory_cell().limit)),
    output:
        [
            report(
                results(f"heads/plots/{f}.{config['plots']['format']}"),
                caption=f"../report/heads_{f}.rst",
                category="heads",
            )
            for f in HEADS_FIGURES
        ],
    log:
        results("logs/heads/plots.log"),
    threads: 1
    resources:
        mem_mb=2000,
    params:
        options=config["plots"],
        code=code_version(["plots", "heads.plots", "heads.claims"]),
    script:
        "../scripts/heads_plots.py"
