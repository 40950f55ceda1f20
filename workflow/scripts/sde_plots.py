"""Rule sde_plots: the figures of experiment sde."""

from pathlib import Path

import pandas as pd

from attnlimits.progress import job_logger
from attnlimits.sde.plots import sde_figures
from attnlimits.storage import open_dataset

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = job_logger(sm.log[0], "sde_plots")
tables = {Path(p).stem: pd.read_csv(p) for p in sm.input.tables}
stores = {
    k: [open_dataset(p, chunks=None) for p in sm.input[k]]
    for k in ("depth", "width", "chaos", "sync")
}
paths = sde_figures(tables, stores, Path(sm.output[0]).parent, sm.params.options)
log.info("figures: %s", ", ".join(p.name for p in paths))
