"""Rule heads_plots: the figures of experiment heads."""

from pathlib import Path

from attnlimits.heads.plots import heads_figures, read_tables, trajectories_figure
from attnlimits.progress import job_logger
from attnlimits.storage import open_dataset

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = job_logger(sm.log[0], "heads_plots")
opts = sm.params.options
outdir = Path(sm.output[0]).parent
heads_figures(read_tables(Path(sm.input.tables[0]).parent), outdir, opts)

tr = opts["trajectories"]
cell, limit = open_dataset(sm.input.cell, chunks=None), open_dataset(sm.input.limit, chunks=None)
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
log.info("figures written to %s", outdir)
