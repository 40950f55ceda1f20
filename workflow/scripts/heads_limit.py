"""Rule heads_limit: solve the limit ODE of one (mask, normalisation, N, d, beta)."""

from attnlimits.heads.pipeline import run_limit
from attnlimits.progress import job_logger
from attnlimits.runtime import setup

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = job_logger(sm.log[0], "heads_limit")
run_limit(sm.params.spec, setup(sm.params.runtime), sm.output[0], sm.params.code, log)
