# Experiment `sde` (MODELS.md): common-noise SDE limit of attention + MLP blocks.
# kernel table; per (row, sign): depth, width, sync runs; per d: chaos run
#   -> fit (claims and tables) -> plots.

from attnlimits.sde import grid as sde_grid

SDE = config["sde"]
SDE_JOBS = {kind: sde_grid.row_jobs(SDE, kind) for kind in ("depth", "width", "sync")}
SDE_TABLES = [
    "claims",
    "reference",
    "chaos_truncation",
    "chaos_reference",
    "points",
    "lines",
]
SDE_FIGURES = [
    "depth_error",
    "width_error",
    "chaos_w2",
    "energy",
    "lyapunov",
    "sphere_tokens",
    "cosine_histograms",
]
SDE_CODE = code_version(sde_grid.RUN_MODULES)


wildcard_constraints:
    **sde_grid.WILDCARD_CONSTRAINTS,
    kind="depth|width|sync",


def sde_stores(kind):
    if kind == "chaos":
        return [results(sde_grid.chaos_path(SDE, d)) for d in SDE["chaos"]["d"]]
    return [results(sde_grid.row_path(SDE, job)) for job in SDE_JOBS[kind]]


def sde_final_outputs():
    fmt = config["plots"]["format"]
    return (
        [results(f"sde/tables/{t}.md") for t in SDE_TABLES]
        + [results(f"sde/tables/exponents.{ext}") for ext in ("csv", "md", "html")]
        + [results(f"sde/plots/{f}.{fmt}") for f in SDE_FIGURES]
    )


rule sde_kernel_table:
    output:
        csv=results("sde/tables/exponents.csv"),
        md=results("sde/tables/exponents.md"),
        html=report(
            results("sde/tables/exponents.html"),
            caption="../report/sde_table_exponents.rst",
            category="sde",
        ),
    log:
        results("logs/sde/kernel_table.log"),
    benchmark:
        results("benchmarks/sde/kernel_table.tsv")
    threads: 1
    resources:
        mem_mb=4000,
    params:
        spec={**SDE["kernel_table"], "seed": SDE["seed"]},
        code=SDE_CODE,
    script:
        "../scripts/sde_kernel_table.py"


rule sde_run:
    output:
        directory(results("sde/{kind}/" + sde_grid.ROW_PATTERN)),
    log:
        results("logs/sde/{kind}/{activation}_d{d}_sigma{sigma}_{sign}_{hash}.log"),
    benchmark:
        results(
            "benchmarks/sde/{kind}/{activation}_d{d}_sigma{sigma}_{sign}_{hash}.tsv"
        )
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        kind=lambda wc: wc.kind,
        spec=lambda wc: sde_grid.row_spec(
            SDE, sde_grid.find_row_job(SDE_JOBS[wc.kind], wc)
        ),
        code=SDE_CODE,
        runtime=config["runtime"],
    script:
        "../scripts/sde_run.py"


rule sde_chaos:
    output:
        directory(results(sde_grid.PATTERNS["chaos"])),
    log:
        results("logs/sde/chaos/d{d}_{hash}.log"),
    benchmark:
        results("benchmarks/sde/chaos/d{d}_{hash}.tsv")
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        kind="chaos",
        spec=lambda wc: sde_grid.chaos_spec(SDE, int(wc.d)),
        code=SDE_CODE,
        runtime=config["runtime"],
    script:
        "../scripts/sde_run.py"


rule sde_fit:
    input:
        depth=sde_stores("depth"),
        width=sde_stores("width"),
        chaos=sde_stores("chaos"),
        sync=sde_stores("sync"),
    output:
        table_outputs("sde", SDE_TABLES),
    log:
        results("logs/sde/fit.log"),
    threads: 1
    resources:
        mem_mb=4000,
    params:
        options=SDE["fits"],
        code=code_version(["statistics", "fits", "tables", "sde.claims"]),
    script:
        "../scripts/sde_fit.py"


rule sde_plots:
    input:
        tables=[results(f"sde/tables/{t}.csv") for t in SDE_TABLES],
        depth=sde_stores("depth"),
        width=sde_stores("width"),
        chaos=sde_stores("chaos"),
        sync=sde_stores("sync"),
    output:
        [
            report(
                results(f"sde/plots/{f}.{config['plots']['format']}"),
                caption=f"../report/sde_{f}.rst",
                category="sde",
            )
            for f in SDE_FIGURES
        ],
    log:
        results("logs/sde/plots.log"),
    threads: 1
    resources:
        mem_mb=4000,
    params:
        options=config["plots"],
        code=code_version(["plots", "sde.plots", "sde.claims"]),
    script:
        "../scripts/sde_plots.py"
