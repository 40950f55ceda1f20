"""Rule heads_fit: cell statistics with bootstrap replicates, rate fits, verdict tables."""

from pathlib import Path

from attnlimits.analysis.tables import write_tables
from attnlimits.heads.claims import heads_claims, heads_statistics
from attnlimits.progress import job_logger
from attnlimits.provenance import provenance
from attnlimits.runtime import dask_scheduler
from attnlimits.storage import open_dataset, write_dataset

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = job_logger(sm.log[0], "heads_fit")
opts = sm.params.options
# The consolidated store is read lazily, chunk by chunk, on the configured Dask scheduler (a
# cluster's address in runtime.dask, or this job's own threads); the result does not depend on it.
with dask_scheduler(sm.config["runtime"]):
    stats = heads_statistics(open_dataset(sm.input[0]), opts)
stats.attrs.update(provenance(opts, {"bootstrap_seed": opts["bootstrap_seed"]}, sm.params.code))
log.info(
    "statistics of %d cells, %d replicates",
    int(stats["err"].isel(replicate=0).notnull().sum()),
    stats.sizes["replicate"],
)
write_dataset(stats, sm.output.statistics)
paths = write_tables(heads_claims(stats, opts), Path(sm.output.tables[0]).parent)
log.info("wrote %s", ", ".join(p.name for p in paths))
