# Configuration validation (before any job), the registry of experiments, and the targets of
# `rule all`. Every experiment is declared in its own package (attnlimits.<name>.experiment);
# the rules of workflow/rules/experiments.smk are made from those declarations.

from pathlib import Path

from snakemake.exceptions import WorkflowError

from attnlimits.config import ConfigError, duplicate_keys, validate_config
from attnlimits.jobs import numeric_runtime
from attnlimits.provenance import code_version
from attnlimits.registry import STORES, registered

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
REGISTRY = registered(config["plugins"])
EXPERIMENTS = {name: REGISTRY[name] for name in config["experiments"]}
# The captions of the report's tables and figures (workflow/report/table.rst, figure.rst read
# them by the item's name): declared by each experiment, never a job's parameter.
config["report_captions"] = {
    name: {"tables": dict(e.tables), "figures": dict(e.figures)}
    for name, e in EXPERIMENTS.items()
}


def results(path):
    """A path under the configured results folder, as a string."""
    return str(RESULTS / path)


def job_code(job):
    """The code version of a job: the import closure of its runner and of the job script's own
    module (attnlimits.jobs), logging, provenance and configuration aside."""
    return code_version([job.runner, "attnlimits.jobs"])


def final_outputs():
    """Every target of `rule all`: each configured experiment's outputs, and the verdicts."""
    targets = [results("verdicts.csv"), results("verdicts.html")]
    for experiment in EXPERIMENTS.values():
        for job in experiment.jobs:
            if not job.keyed:
                targets += [results(p) for p in experiment.outputs(job).values()]
    return targets
