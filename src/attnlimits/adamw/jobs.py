"""The runners of experiment ``adamw``'s jobs (declared in :mod:`attnlimits.adamw.experiment`)."""

from __future__ import annotations

from pathlib import Path

from attnlimits.jobs import JobContext


def _seeds(spec) -> dict:
    return {"law_seed": spec["law"]["seed"], "task_seed": spec["task"]["seed"]}


def limit(job: JobContext) -> None:
    """Train the limit (forward–backward ODE system under AdamW) and its own error by halving."""
    from attnlimits.adamw import runs
    from attnlimits.storage import write_dataset

    ds = runs.run_limit(job.spec, job.device(), progress=job.progress("training limit"))
    ds.attrs.update(job.provenance(job.spec, _seeds(job.spec)))
    write_dataset(ds, job.output[0])


def cell(job: JobContext) -> None:
    """Train one (L, H) discrete model and measure its errors to the limit after every step."""
    from attnlimits.adamw import runs
    from attnlimits.storage import open_dataset, write_dataset

    spec = job.spec
    device = job.device()
    limit = open_dataset(job.input.limit, chunks=None).load()
    ds = runs.run_cell(spec, limit, device, progress=job.progress("training cell"))
    seeds = {**_seeds(spec), "heads_seed": spec["seed"], "seeds": spec["seeds"]}
    ds.attrs.update(job.provenance(spec, seeds))
    write_dataset(ds, job.output[0])


def fit(job: JobContext) -> None:
    """Statistics over the grid, rate fits and the claims."""
    from attnlimits.adamw import grid, studies
    from attnlimits.adamw.claims import CLAIMS, adamw_claims, grid_statistics
    from attnlimits.analysis.claims import write_judged_tables
    from attnlimits.analysis.statistics import replicate_weights
    from attnlimits.storage import open_dataset, write_dataset

    opts = job.spec
    keys = grid.cells(job.block)
    cells = [
        (key, open_dataset(path, chunks=None))  # lazily: the statistics need few variables
        for key, path in zip(keys, job.stores("cell"), strict=True)
    ]
    weights = replicate_weights(
        cells[0][1].sizes["seed"], opts["bootstrap"], opts["bootstrap_seed"]
    )
    stats = grid_statistics(cells, weights)
    stats.attrs.update(job.provenance(opts, {"bootstrap_seed": opts["bootstrap_seed"]}))
    job.log.info("statistics of %d cells, %d replicates", len(cells), stats.sizes["replicate"])
    write_dataset(stats, job.output.statistics)
    study_keys = studies.cells(job.block)
    study_stores = {
        key: open_dataset(path, chunks=None)
        for key, path in zip(study_keys, job.stores("study_cell"), strict=True)
    }
    job.log.info("study cells: %d", len(study_stores))
    tables = adamw_claims(stats, opts, job.block, study_stores)
    write_judged_tables(tables, CLAIMS, job.config, job.folder("tables"), job.log)


def plots(job: JobContext) -> None:
    """The figures of the tables."""
    from attnlimits.adamw.plots import NEEDED_TABLES, adamw_figures
    from attnlimits.plots import figure_path, read_tables, save_figure

    opts = job.spec
    tables = read_tables(Path(job.input.tables), NEEDED_TABLES)
    outdir = job.folder("plots")
    paths = [
        save_figure(fig, figure_path(outdir, name, opts), opts)
        for name, fig in adamw_figures(tables, opts).items()
    ]
    job.log.info("figures: %s", ", ".join(p.name for p in paths))
