# attnlimits: numerical checks of scaling-limit theorems for deep transformers.
# `snakemake --cores 2` runs the experiments listed in config/config.yaml; see README.md.


from snakemake.utils import min_version

min_version("8.20")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/heads.smk"


rule all:
    input:
        final_outputs(),
    default_target: True
