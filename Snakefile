# attnlimits: numerical checks of scaling-limit theorems for deep transformers.
# `snakemake --cores 2` runs the experiments listed in config/config.yaml; see README.md.


from snakemake.utils import min_version

min_version("8.20")


# The default config, unless the command line names its own (`--configfile`): a given config file
# replaces the default rather than being merged into it, so its grids are exactly the ones run.
# Keys it leaves out take the schema's defaults (workflow/schemas/config.schema.yaml).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# The landing page of `snakemake --report report.html`: it shows the verdict table first.
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/experiments.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
