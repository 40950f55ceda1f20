"""Rule lowtemp_plots: the figures of experiment lowtemp (``attnlimits.lowtemp.plots``)."""

from pathlib import Path

from attnlimits.heads.plots import read_tables
from attnlimits.lowtemp.grid import RunKey
from attnlimits.lowtemp.plots import NEEDED_TABLES, lowtemp_figures
from attnlimits.plots import figure_path, save_figure
from attnlimits.progress import job_logger
from attnlimits.storage import open_dataset

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = job_logger(sm.log[0], "lowtemp_plots")
opts = sm.params.options
tables = read_tables(Path(sm.input.tables[0]).parent, NEEDED_TABLES)
runs = [
    (RunKey(**key), open_dataset(path, chunks=None))
    for key, path in zip(sm.params.runs, sm.input.runs, strict=True)
]
outdir = Path(sm.output[0]).parent
paths = [
    save_figure(fig, figure_path(outdir, name, opts), opts)
    for name, fig in lowtemp_figures(tables, runs, opts).items()
]
log.info("figures: %s", ", ".join(p.name for p in paths))
