# gannorm: normalization in GANs, from data to report (DESIGN.md).
#   snakemake --cores all                                   the embedded demo (config.yaml)
#   snakemake --cores all --configfile configs/smoke.yaml   the CI-sized run
import os
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


# The fork server (config fork_server, CPU only; gannorm.forkserver): started before the first job,
# stopped at the end. Jobs find it through GANNORM_FORK_SERVER in their environment and run in their
# own processes when it is not there.
if config.get("fork_server") and config["device"] == "cpu" and not workflow.non_local_exec_or_dryrun:
    from gannorm import forkserver

    FORK_SERVER = str(forkserver.socket_path(f"{os.getcwd()}:{RESULTS}"))

    onstart:
        os.makedirs(f"{RESULTS}/logs", exist_ok=True)
        if forkserver.start(FORK_SERVER, idle_exit=60, log=f"{RESULTS}/logs/fork_server.log"):
            os.environ["GANNORM_FORK_SERVER"] = FORK_SERVER

    onsuccess:
        forkserver.stop(FORK_SERVER)

    onerror:
        forkserver.stop(FORK_SERVER)


rule all:
    input:
        REPORT_PDF,
        ALL_STORES,
        # every run's final evaluation and every other report input, so a missing one is rebuilt
        [f"{d}/{f}" for study in STUDIES for d in study_run_dirs(study) for f in RUN_FILES],
    default_target: True
