"""The runners of experiment ``lowtemp``'s jobs (declared in
:mod:`attnlimits.lowtemp.experiment`)."""

from __future__ import annotations

from pathlib import Path

from attnlimits.jobs import JobContext


def _store(job: JobContext, ds) -> None:
    from attnlimits.storage import write_dataset

    ds.attrs.update(job.provenance(job.spec, {"head_seed": job.spec["head"].get("seed")}))
    write_dataset(ds, job.output[0])


def run(job: JobContext) -> None:
    """The finite-β and hardmax flows of one (head, variant) and their W2 over (β, t)."""
    from attnlimits.lowtemp import runs

    _store(job, runs.run(job.spec, progress=job.progress("betas"), device=job.device()))


def terminal(job: JobContext) -> None:
    """The hardmax flow of one (head, variant, size) against the push-forward of μ₀."""
    from attnlimits.lowtemp import runs

    _store(job, runs.run_terminal(job.spec, device=job.device()))


def sweep(job: JobContext) -> None:
    """The flows of one (head, variant, family, size) of the N sweep, W2 at the claim times."""
    from attnlimits.lowtemp import convergence

    _store(job, convergence.run_sweep(job.spec, device=job.device()))


def window(job: JobContext) -> None:
    """The long-horizon flows of one (head, variant, size) of the metastable window, W2 to T#μ₀."""
    from attnlimits.lowtemp import window_runs

    _store(job, window_runs.run_window(job.spec, device=job.device()))


def _keyed(keys, paths) -> list:
    from attnlimits.storage import open_dataset

    return [(k, open_dataset(p, chunks=None)) for k, p in zip(keys, paths, strict=True)]


def fit(job: JobContext) -> None:
    """Slopes in β, t*(β), the terminal law, the long-time phase, the regime in N and the
    metastable window; the claims."""
    from attnlimits.analysis.claims import write_judged_tables
    from attnlimits.lowtemp import convergence_grid, grid, window_grid
    from attnlimits.lowtemp.claims import CLAIMS, lowtemp_tables

    runs = _keyed(grid.run_keys(job.block), job.stores("run"))
    terminals = _keyed(grid.terminal_keys(job.block), job.stores("terminal"))
    sweeps = _keyed(convergence_grid.sweep_keys(job.block), job.stores("sweep"))
    windows = _keyed(window_grid.window_keys(job.block), job.stores("window"))
    tables = lowtemp_tables(runs, terminals, job.spec, sweeps, job.block, windows)
    write_judged_tables(tables, CLAIMS, job.config, job.folder("tables"), job.log)


def plots(job: JobContext) -> None:
    """The figures of the tables and the runs."""
    from attnlimits.lowtemp import grid
    from attnlimits.lowtemp.plots import NEEDED_TABLES, lowtemp_figures
    from attnlimits.plots import figure_path, read_tables, save_figure

    opts = job.spec
    tables = read_tables(Path(job.input.tables), NEEDED_TABLES)
    runs = _keyed(grid.run_keys(job.block), job.stores("run"))
    outdir = job.folder("plots")
    paths = [
        save_figure(fig, figure_path(outdir, name, opts), opts)
        for name, fig in lowtemp_figures(tables, runs, opts).items()
    ]
    job.log.info("figures: %s", ", ".join(p.name for p in paths))
