"""Rule sde_kernel_table: κ(1), κ′(1), λ₁, λ̄ over activation × d × σ, with a Monte Carlo check."""

from pathlib import Path

from attnlimits.progress import job_logger
from attnlimits.sde.exponents_table import write_exponents_table
from attnlimits.sde.runs.kernel_table import run_kernel_table

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = job_logger(sm.log[0], "sde_kernel_table")
table = run_kernel_table(sm.params.spec)
write_exponents_table(table, Path(sm.output.csv).parent)
log.info("exponents table: %d rows", len(table))
