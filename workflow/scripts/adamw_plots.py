"""Rule adamw_plots: the figures of experiment adamw (``attnlimits.adamw.plots``)."""

from pathlib import Path

from attnlimits.adamw.plots import NEEDED_TABLES, adamw_figures
from attnlimits.heads.plots import read_tables
from attnlimits.plots import figure_path, save_figure
from attnlimits.progress import job_logger

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = job_logger(sm.log[0], "adamw_plots")
opts = sm.params.options
tables = read_tables(Path(sm.input.tables[0]).parent, NEEDED_TABLES)
outdir = Path(sm.output[0]).parent
paths = [
    save_figure(fig, figure_path(outdir, name, opts), opts)
    for name, fig in adamw_figures(tables, opts).items()
]
log.info("figures: %s", ", ".join(p.name for p in paths))
