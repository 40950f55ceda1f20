"""Rule heads_cell: simulate one (L, H) cell and measure its errors to the limit."""

from attnlimits.heads.pipeline import run_cell
from attnlimits.progress import job_logger
from attnlimits.runtime import setup

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = job_logger(sm.log[0], "heads_cell")
run_cell(
    sm.params.spec, setup(sm.params.runtime), sm.input.limit, sm.output[0], sm.params.code, log
)
