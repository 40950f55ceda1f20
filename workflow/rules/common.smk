# Configuration validation (before any job), the registry of experiments, and the targets of
# the default rule (all). Every experiment is declared in its own package
# (attnlimits.<name>.experiment); the rules of workflow/rules/experiments.smk are made from those
# declarations.

import os
import time
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from attnlimits.batches import FOLDER as BATCH_FOLDER
from attnlimits.batches import WILDCARDS as BATCH_WILDCARDS
from attnlimits.batches import kind_folder
from attnlimits.config import ConfigError, duplicate_keys, validate_config
from attnlimits.jobs import numeric_runtime
from attnlimits.provenance import code_version
from attnlimits.registry import STORES, registered
from attnlimits.storage import (
    remove_broken_links,
    remove_incomplete_batches,
    remove_stale_temporaries,
)

config.pop(
    "report_captions", None
)  # set below, after validation (never a user setting)
try:
    # Snakemake reads the config files (--configfile, or the Snakefile's configfile:) with a YAML
    # loader that keeps the last of repeated keys: they are read again for repeats.
    repeated = [
        line
        for path in workflow.configfiles
        for line in duplicate_keys(Path(path).read_text(encoding="utf-8"), str(path))
    ]
    if repeated:
        raise ConfigError("invalid configuration:\n" + "\n".join(repeated))
    config.update(validate_config(config))
except ConfigError as err:
    raise WorkflowError(f"invalid configuration, nothing was run:\n{err}") from None

RESULTS = Path(config["results"])
# The BLAS threads of numpy and scipy (OpenBLAS, MKL, OpenMP) in every job, which inherits this
# environment: as many as torch's (runtime.torch_threads), so that a number does not depend on
# the machine's core count and jobs side by side do not oversubscribe its cores (POT's costs in
# numpy took 16 ms a call instead of 0.3 ms with OpenBLAS's default threads).
for _blas in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_blas] = str(config["runtime"]["torch_threads"])
REGISTRY = registered(config["plugins"])
EXPERIMENTS = {name: REGISTRY[name] for name in config["experiments"]}
# The captions of the report's tables and figures (workflow/report/table.rst, figure.rst read
# them by the item's name): declared by each experiment, never a job's parameter.
config["report_captions"] = {
    name: {"tables": dict(e.tables), "figures": dict(e.figures)}
    for name, e in EXPERIMENTS.items()
}


RESULTS_PREFIX = os.path.join(RESULTS, "")  # with one trailing separator


def results(path):
    """A path under the configured results folder, as a string (joined as text: a DAG of 10⁵
    cells asks for a few hundred thousand)."""
    return RESULTS_PREFIX + path


def job_code(job):
    """The code version of a job: the import closure of its runner and of the job script's own
    module (attnlimits.jobs), logging, provenance and configuration aside."""
    return code_version([job.runner, "attnlimits.jobs"])


def final_outputs():
    """Every target of the default rule, all: each configured experiment's outputs, and the
    verdicts. The stores of keyed jobs (limits, cells, runs; a batch's folder) are targets too:
    a deleted one is rebuilt by the next run (Snakemake does not rebuild a missing input of a
    job that need not run)."""
    targets = [results("verdicts.csv"), results("verdicts.html")]
    for experiment in EXPERIMENTS.values():
        for job in experiment.jobs:
            if job.keyed:
                targets += [
                    results(p) for p in experiment.keyed_outputs(config, job.name)
                ]
            else:
                targets += [results(p) for p in experiment.outputs(job).values()]
    return targets


# A published store (<experiment>/results.zarr, statistics.zarr) is a link to its current version
# (attnlimits.storage). One whose version is gone or emptied is missing: its link is removed
# before the DAG is built, so that it is rebuilt (Snakemake cannot take the time of a dangling
# link, and would keep a link to an emptied folder).
for _link in remove_broken_links(
    results(path)
    for experiment in EXPERIMENTS.values()
    for job in experiment.jobs
    if not job.keyed
    for name, path in experiment.outputs(job).items()
    if name in STORES
):
    logger.warning(
        f"removed {_link}: its version is gone or unfinished; it will be rebuilt"
    )


# A batch folder whose stores are not all there (one deleted by hand) is missing: removed, so
# that its batch is rebuilt (Snakemake sees only the folder).
for experiment in EXPERIMENTS.values():
    for job in experiment.jobs:
        if job.batched:
            folders = [results(p) for p in experiment.keyed_outputs(config, job.name)]
            for _folder in remove_incomplete_batches(folders):
                logger.warning(
                    f"removed {_folder}: a store of its batch is gone; it will be rebuilt"
                )

# The start of this run: hidden temporaries of killed jobs older than it are stale.
RUN_START = time.time()


onstart:
    # Hidden temporary stores (and links) left by killed jobs (attnlimits.storage): no job of
    # this run has started yet, so those whose process is gone, or that predate this run and were
    # written on another machine, are removed. Nothing ever reads them.
    for path in remove_stale_temporaries(RESULTS, before=RUN_START):
        logger.info(f"removed {path}, left by a killed job")
