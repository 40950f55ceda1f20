# Experiment `lowtemp` (MODELS.md): a mean-field transformer at low temperature.
# run (per head, variant: finite-beta and hardmax flows, W2 over the (beta, t) grid)
# terminal (per head, variant, size: the hardmax flow against the push-forward of mu0)
#   -> fit (slopes in beta, t*(beta), terminal law, long-time phase; tables with verdicts)
#   -> plots (figures with report captions).

from attnlimits.lowtemp import grid as lowtemp_grid
from attnlimits.lowtemp.grid import FIGURES as LOWTEMP_FIGURES
from attnlimits.lowtemp.grid import NEEDED_TABLES as LOWTEMP_PLOT_TABLES

LOWTEMP = config["lowtemp"]
LOWTEMP_RUNS = lowtemp_grid.run_keys(LOWTEMP)
LOWTEMP_TERMINALS = lowtemp_grid.terminal_keys(LOWTEMP)
LOWTEMP_TABLES = [
    "claims",
    "slopes",
    "best_times",
    "phase",
    "terminal",
    "w2",
    "phase_curves",
    "terminal_curves",
]
LOWTEMP_CODE = code_version(lowtemp_grid.RUN_MODULES)


wildcard_constraints:
    **lowtemp_grid.WILDCARD_CONSTRAINTS,


def lowtemp_final_outputs():
    return [results(f"lowtemp/tables/{t}.md") for t in LOWTEMP_TABLES] + [
        results(f"lowtemp/plots/{f}.{config['plots']['format']}")
        for f in LOWTEMP_FIGURES
    ]


def lowtemp_runs():
    return [results(lowtemp_grid.run_path(LOWTEMP, k)) for k in LOWTEMP_RUNS]


rule lowtemp_run:
    output:
        directory(results(lowtemp_grid.RUN_PATTERN)),
    log:
        results("logs/lowtemp/runs/{head}/{variant}_{hash}.log"),
    benchmark:
        results("benchmarks/lowtemp/runs/{head}/{variant}_{hash}.tsv")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        spec=lambda wc: lowtemp_grid.run_spec(
            LOWTEMP, lowtemp_grid.find(LOWTEMP_RUNS, wc)
        ),
        code=LOWTEMP_CODE,
        runtime=config["runtime"],
        kind="run",
    script:
        "../scripts/lowtemp_run.py"


rule lowtemp_terminal:
    output:
        directory(results(lowtemp_grid.TERMINAL_PATTERN)),
    log:
        results("logs/lowtemp/terminal/{head}/{variant}_size{size}_{hash}.log"),
    benchmark:
        results("benchmarks/lowtemp/terminal/{head}/{variant}_size{size}_{hash}.tsv")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        spec=lambda wc: lowtemp_grid.terminal_spec(
            LOWTEMP, lowtemp_grid.find(LOWTEMP_TERMINALS, wc)
        ),
        code=LOWTEMP_CODE,
        runtime=config["runtime"],
        kind="terminal",
    script:
        "../scripts/lowtemp_run.py"


rule lowtemp_fit:
    input:
        runs=lowtemp_runs(),
        terminals=[
            results(lowtemp_grid.terminal_path(LOWTEMP, k)) for k in LOWTEMP_TERMINALS
        ],
    output:
        table_outputs("lowtemp", LOWTEMP_TABLES),
    log:
        results("logs/lowtemp/fit.log"),
    threads: 1
    resources:
        mem_mb=4000,
    params:
        runs=[k.__dict__ for k in LOWTEMP_RUNS],
        terminals=[k.__dict__ for k in LOWTEMP_TERMINALS],
        options=LOWTEMP["fits"],
        code=code_version(lowtemp_grid.FIT_MODULES),
    script:
        "../scripts/lowtemp_fit.py"


rule lowtemp_plots:
    input:
        tables=[results(f"lowtemp/tables/{t}.csv") for t in LOWTEMP_PLOT_TABLES],
        runs=lowtemp_runs(),
    output:
        [
            report(
                results(f"lowtemp/plots/{f}.{config['plots']['format']}"),
                caption=f"../report/lowtemp_{f}.rst",
                category="lowtemp",
            )
            for f in LOWTEMP_FIGURES
        ],
    log:
        results("logs/lowtemp/plots.log"),
    threads: 1
    resources:
        mem_mb=2000,
    params:
        runs=[k.__dict__ for k in LOWTEMP_RUNS],
        options=config["plots"],
        code=code_version(["plots", "fits", "lowtemp.analysis", "lowtemp.plots"]),
    script:
        "../scripts/lowtemp_plots.py"
