"""Rule sde_fit: rate fits, verdicts and tables of experiment sde."""

from pathlib import Path

from attnlimits.analysis.tables import write_tables
from attnlimits.progress import job_logger
from attnlimits.sde.claims import sde_claims
from attnlimits.storage import open_dataset

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = job_logger(sm.log[0], "sde_fit")
stores = {
    k: [open_dataset(p, chunks=None) for p in sm.input[k]]
    for k in ("depth", "width", "chaos", "sync")
}
tables = sde_claims(
    stores["depth"], stores["width"], stores["chaos"], stores["sync"], sm.params.options
)
paths = write_tables(tables, Path(sm.output[0]).parent)
log.info("wrote %s", ", ".join(p.name for p in paths))
