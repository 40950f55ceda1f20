"""Rule heads_aggregate: one consolidated Zarr store of every cell's errors."""

from attnlimits.heads.aggregate import aggregate
from attnlimits.progress import job_logger
from attnlimits.provenance import provenance

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = job_logger(sm.log[0], "heads_aggregate")
attrs = {**sm.params.attrs, **provenance({"cells": sm.params.cells}, {}, sm.params.code)}
aggregate(sm.params.cells, list(sm.input.cells), attrs, sm.output[0], log)
