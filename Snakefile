# gannorm: normalization in GANs, from data to report (DESIGN.md).
#   snakemake --cores all                                   the embedded demo (config.yaml)
#   snakemake --cores all --configfile configs/smoke.yaml   the CI-sized run
import sys

from snakemake.utils import min_version, validate

# Parse with this checkout's package (src/), as the rules run it (their PYTHONPATH starts with src).
sys.path.insert(0, f"{workflow.basedir}/src")

min_version("8.0")


# --configfile replaces the demo config instead of being merged into it.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"



validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        REPORT_PDF,
        ALL_STORES,
    default_target: True
