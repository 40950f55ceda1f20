"""Every rule's script: run the job's runner (attnlimits.jobs.run_job)."""

from attnlimits.jobs import run_job

run_job(snakemake)  # noqa: F821 (injected by Snakemake)
