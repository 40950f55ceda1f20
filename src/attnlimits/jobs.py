"""What a job's runner receives: :class:`JobContext`, built from Snakemake's job by
:func:`run_job` (the one script of every rule, ``workflow/scripts/job.py``).

A runner is a function ``runner(job: JobContext) -> None`` named by an experiment's
:class:`attnlimits.registry.Job`; it reads ``job.spec`` (its parameters), ``job.input`` and
writes ``job.output``. Only the runner's own module is imported, inside the job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attnlimits.progress import job_logger, reporter
from attnlimits.registry import resolve

#: Runtime settings that can change a number (they are part of a job's parameters); the others
#: (``dask``: where lazy reads run) only change how a job runs.
NUMERIC_RUNTIME = ("device", "torch_threads")
#: The log line of a job that ran library code its code version does not cover (a bug of
#: :mod:`attnlimits.imports`; the workflow tests fail on it).
UNSEEN_CODE = "code outside this job's code version"


def numeric_runtime(runtime: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of the config block ``runtime`` that can change a number."""
    return {key: runtime[key] for key in NUMERIC_RUNTIME if key in runtime}


@dataclass
class JobContext:
    """One job: its parameters, inputs, outputs, log and settings."""

    experiment: str
    name: str
    spec: Mapping[str, Any]
    input: Any
    output: Any
    log: logging.Logger
    code: str
    config: Mapping[str, Any]

    @property
    def block(self) -> Mapping[str, Any]:
        """The experiment's config block."""
        return self.config[self.experiment]

    @property
    def runtime(self) -> Mapping[str, Any]:
        return self.config["runtime"]

    def device(self) -> Any:
        """Fix torch's threads and pick the device (:func:`attnlimits.runtime.setup`)."""
        from attnlimits.runtime import setup

        return setup(numeric_runtime(self.runtime))

    def progress(self, what: str) -> Callable[[int, int], None]:
        """A ``(done, total)`` callback that logs progress lines."""
        return reporter(self.log, what)

    def provenance(self, params: Mapping[str, Any], seeds: Mapping[str, Any]) -> dict[str, Any]:
        """The provenance attributes of a store this job writes."""
        from attnlimits.provenance import provenance

        return provenance(params, seeds, self.code)

    def folder(self, name: str) -> Path:
        """The output folder ``name`` (``tables``, ``plots``), created."""
        path = Path(getattr(self.output, name))
        path.mkdir(parents=True, exist_ok=True)
        return path


def run_job(snakemake: Any) -> None:
    """Run the job Snakemake hands the script: build its context, call its runner."""
    params = snakemake.params
    log = job_logger(snakemake.log[0], f"{params.experiment}_{params.job}")
    job = JobContext(
        experiment=params.experiment,
        name=params.job,
        spec=params.spec,
        input=snakemake.input,
        output=snakemake.output,
        log=log,
        code=params.code,
        config=snakemake.config,
    )
    log.info("%s_%s: %s", job.experiment, job.name, params.runner)
    resolve(params.runner)(job)
    _check_code_version(params.runner, log)
    log.info("done")


def _check_code_version(runner: str, log: logging.Logger) -> None:
    """Warn (``UNSEEN_CODE``) when the job imported a library module that its code version
    (:func:`attnlimits.provenance.code_version` of the runner) does not cover."""
    import sys

    from attnlimits.imports import unseen_modules
    from attnlimits.provenance import NOT_NUMERICS

    unseen = unseen_modules([runner, __name__], NOT_NUMERICS, list(sys.modules))
    if unseen:
        log.warning("%s: %s", UNSEEN_CODE, ", ".join(unseen))
