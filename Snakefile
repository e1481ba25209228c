# gannorm: normalization in GANs, from data to report (README.md; docs/design.md).
#   snakemake --cores all                                   the embedded demo (config.yaml)
#   snakemake --cores all --configfile configs/smoke.yaml   the CI-sized run
#   snakemake --cores 1 report --configfile mine.yaml       the report only: the target goes before
#                                                           --configfile, which reads every word after it
#   python -m gannorm check-config mine.yaml                 read and check a config without Snakemake
import os
import sys

from snakemake.utils import min_version

# Parse with this checkout's package (src/), as the rules run it (their PYTHONPATH starts with src).
sys.path.insert(0, f"{workflow.basedir}/src")

from gannorm.config import ConfigError
from gannorm.config_files import load_config_files, validate_config

min_version("8.0")


# The config files, read again with gannorm's strict loader (gannorm.config_files.load_config_files:
# duplicate keys are errors, 1e-4 is a float, a syntax error names file:line:column), then the
# --config values on top, as Snakemake merges them. --configfile replaces the demo config.yaml
# instead of being merged into it. (Snakemake parses --configfile files itself before this file
# runs; for a YAML syntax error there it names no line: `python -m gannorm check-config FILE` does.)
if workflow.overwrite_configfiles:
    CONFIG_FILES = [str(path) for path in workflow.overwrite_configfiles]
elif getattr(workflow.config_settings, "replace_workflow_config", False) and workflow.config_settings.config:
    CONFIG_FILES = []
elif os.path.exists("config.yaml"):
    CONFIG_FILES = ["config.yaml"]
    workflow.configfiles.append("config.yaml")  # as the configfile: directive records it
else:
    raise ConfigError(f"config.yaml: not found in {os.getcwd()}; run in the repository or pass --configfile FILE")
_config = load_config_files(CONFIG_FILES, overrides=workflow.config_settings.config)
config.clear()
config.update(_config)

# The schema fills defaults and rejects unknown keys; one short message (the key path, the value,
# what was expected; GANNORM_SCHEMA_ERRORS=full adds the validator's full report).
validate_config(config, f"{workflow.basedir}/workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


# The fork server (config fork_server, CPU only; gannorm.forkserver): started before the first job,
# stopped at the end. Jobs find it through GANNORM_FORK_SERVER in their environment and run in their
# own processes when it is not there: also when it cannot be used (its socket folder refused, or it
# does not start), which one warning says; the workflow never stops for it.
if config.get("fork_server") and config["device"] == "cpu" and not workflow.non_local_exec_or_dryrun:
    from gannorm import forkserver

    FORK_SERVER = forkserver.usable_socket(f"{os.getcwd()}:{RESULTS}")

    onstart:
        os.makedirs(f"{RESULTS}/logs", exist_ok=True)
        if FORK_SERVER and forkserver.start(FORK_SERVER, idle_exit=60, log=f"{RESULTS}/logs/fork_server.log"):
            os.environ["GANNORM_FORK_SERVER"] = str(FORK_SERVER)

    onsuccess:
        if FORK_SERVER:
            forkserver.stop(FORK_SERVER)

    onerror:
        if FORK_SERVER:
            forkserver.stop(FORK_SERVER)


rule all:
    input:
        REPORT_PDF,
        ALL_STORES,
        # every run's final evaluation and every other report input, so a missing one is rebuilt
        [f"{d}/{f}" for study in STUDIES for d in study_run_dirs(study) for f in RUN_FILES],
    default_target: True
