"""The runners of experiment ``heads``'s jobs (declared in :mod:`attnlimits.heads.experiment`)."""

from __future__ import annotations

from pathlib import Path

from attnlimits.jobs import JobContext


def limit(job: JobContext) -> None:
    """Solve the MVODE limit of one (mask, normalisation, N, d, β), with its own error."""
    from attnlimits.heads.pipeline import run_limit

    run_limit(job.spec, job.device(), job.output[0], job.code, job.log)


def cell(job: JobContext) -> None:
    """Simulate one (L, H) cell and measure its errors to the limit."""
    from attnlimits.heads.pipeline import run_cell

    run_cell(job.spec, job.device(), job.input.limit, job.output[0], job.code, job.log)


def adversarial(job: JobContext) -> None:
    """Search the worst-case inputs of one (L, H) cell."""
    from attnlimits.heads.adversarial import run_adversarial

    run_adversarial(job.spec, job.device(), job.output[0], job.code, job.log)


def aggregate(job: JobContext) -> None:
    """Gather every cell store into the consolidated dataset ``heads/results.zarr``."""
    from attnlimits.heads.aggregate import aggregate as gather

    cells = job.spec["cells"]
    attrs = {"T": job.spec["T"], "seeds": job.spec["seeds"], "experiment": "heads"}
    attrs.update(job.provenance({"cells": cells}, {}))
    gather(cells, job.stores("cell"), attrs, job.output.results, job.log)


def fit(job: JobContext) -> None:
    """Cell statistics with bootstrap replicates, rate fits and the tables with the claims; the
    tables and claims of the worst-case inputs (the search's stores)."""
    from attnlimits.analysis.claims import judge_tables
    from attnlimits.analysis.tables import write_tables
    from attnlimits.heads.adversarial_tables import adversarial_report
    from attnlimits.heads.claims import CLAIMS, heads_claims, heads_statistics
    from attnlimits.runtime import dask_scheduler
    from attnlimits.storage import open_dataset, write_dataset

    opts = {k: v for k, v in job.spec.items() if k != "adversarial"}
    search = job.spec["adversarial"]
    # The consolidated store is read lazily, chunk by chunk, on the configured Dask scheduler
    # (runtime.dask: an execution setting, not a parameter); the result does not depend on it.
    with dask_scheduler(job.runtime):
        stats = heads_statistics(open_dataset(job.input.results), opts)
    stats.attrs.update(job.provenance(opts, {"bootstrap_seed": opts["bootstrap_seed"]}))
    job.log.info(
        "statistics of %d cells, %d replicates",
        int(stats["err"].isel(replicate=0).notnull().sum()),
        stats.sizes["replicate"],
    )
    write_dataset(stats, job.output.statistics)
    tables = heads_claims(stats, opts)
    options = {**opts, "adversarial_ratio_tolerance": search["ratio_tolerance"]}
    if search["cells"]:
        found = adversarial_report(
            search["cells"], job.stores("adversarial"), {**opts, **search}, tables["claims"]
        )
        tables = {**tables, **found}
    judged = judge_tables(tables, CLAIMS, job.config, options)
    paths = write_tables(judged, job.folder("tables"))
    job.log.info("wrote %s", ", ".join(p.name for p in paths))


def plots(job: JobContext) -> None:
    """The figures of the tables, and the trajectories of one cell against its limit."""
    from attnlimits.heads.plots import heads_figures, trajectories_figure
    from attnlimits.plots import read_tables
    from attnlimits.storage import open_dataset

    opts = job.spec
    outdir = job.folder("plots")
    heads_figures(read_tables(Path(job.input.tables)), outdir, opts)
    tr = opts["trajectories"]
    cell = open_dataset(job.input.cell, chunks=None)
    limit = open_dataset(job.input.limit, chunks=None)
    discrete = cell["X"].sel(seed=tr["seed"], input=tr["input"])
    trajectories_figure(
        discrete.transpose("layer", "token", "component").values,
        limit["x"].sel(input=tr["input"]).transpose("time", "token", "component").values,
        cell["t"].values,
        limit["time"].values,
        outdir / f"trajectories.{opts['format']}",
        opts,
        title=(
            f"{tr['mask']} mask, {tr['normalisation']}, N={tr['N']}, d={tr['d']}, "
            f"β={tr['beta']}, L={tr['L']}, H={tr['H']} (seed {tr['seed']}, input {tr['input']})"
        ),
    )
    job.log.info("figures written to %s", outdir)
