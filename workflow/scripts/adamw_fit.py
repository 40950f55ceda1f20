"""Rule adamw_fit: statistics over the grid with bootstrap replicates, rate fits, verdict tables."""

from pathlib import Path

from attnlimits.adamw.claims import adamw_claims, grid_statistics
from attnlimits.adamw.grid import Cell
from attnlimits.analysis.statistics import replicate_weights
from attnlimits.analysis.tables import write_tables
from attnlimits.progress import job_logger
from attnlimits.provenance import provenance
from attnlimits.storage import open_dataset, write_dataset

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = job_logger(sm.log[0], "adamw_fit")
opts = sm.params.options
cells = [
    (Cell(**key), open_dataset(path, chunks=None))  # read lazily: the statistics need few variables
    for key, path in zip(sm.params.cells, sm.input.cells, strict=True)
]
weights = replicate_weights(cells[0][1].sizes["seed"], opts["bootstrap"], opts["bootstrap_seed"])
stats = grid_statistics(cells, weights)
stats.attrs.update(provenance(opts, {"bootstrap_seed": opts["bootstrap_seed"]}, sm.params.code))
log.info("statistics of %d cells, %d replicates", len(cells), stats.sizes["replicate"])
write_dataset(stats, sm.output.statistics)
paths = write_tables(adamw_claims(stats, opts), Path(sm.output.tables[0]).parent)
log.info("wrote %s", ", ".join(p.name for p in paths))
