# Configuration validation (before any job) and the targets of `rule all`.

from pathlib import Path

from snakemake.exceptions import WorkflowError

from attnlimits.config import ConfigError, validate_config
from attnlimits.heads import grid as heads_grid
from attnlimits.provenance import code_version

try:
    config.update(validate_config(config))
except ConfigError as err:
    raise WorkflowError(f"invalid configuration, nothing was run:\n{err}") from None

RESULTS = Path(config["results"])


def results(path):
    """A path under the configured results folder, as a string."""
    return str(RESULTS / path)


def final_outputs():
    """Every target of `rule all`, over the configured experiments."""
    targets = []
    if "heads" in config["experiments"]:
        targets += heads_final_outputs()
    if "sde" in config["experiments"]:
        targets += sde_final_outputs()
    if "adamw" in config["experiments"]:
        targets += adamw_final_outputs()
    if "lowtemp" in config["experiments"]:
        targets += lowtemp_final_outputs()
    return targets
