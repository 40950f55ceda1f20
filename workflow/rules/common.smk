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


def table_outputs(experiment, tables):
    """The csv, md and html of each of an experiment's tables (attnlimits.heads.claims.
    write_tables); the html page is the report item (the report shows it, where a csv could only
    be downloaded), captioned by workflow/report/<experiment>_table_<table>.rst."""
    outputs = []
    for t in tables:
        outputs += [results(f"{experiment}/tables/{t}.{ext}") for ext in ("csv", "md")]
        page = results(f"{experiment}/tables/{t}.html")
        caption = f"../report/{experiment}_table_{t}.rst"
        outputs.append(report(page, caption=caption, category=experiment))
    return outputs


def final_outputs():
    """Every target of `rule all`, over the configured experiments, and the verdict table."""
    targets = [results("verdicts.csv"), results("verdicts.html")]
    if "heads" in config["experiments"]:
        targets += heads_final_outputs()
    if "sde" in config["experiments"]:
        targets += sde_final_outputs()
    if "adamw" in config["experiments"]:
        targets += adamw_final_outputs()
    if "lowtemp" in config["experiments"]:
        targets += lowtemp_final_outputs()
    return targets
