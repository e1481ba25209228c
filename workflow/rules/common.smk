# Config -> cells. A study expands into cells (dataset, architecture, variant) x seed; each cell
# is one training job and one final evaluation (docs/design.md, Cells, runs and outputs).
import json

import os
import re

from gannorm.config import cell_study, check_config, job_spec, study_cells
from gannorm.metrics.fidelity import enabled as fidelity_enabled, without_fidelity

# Names are identifiers (gannorm.config.check_names); each study's paper (gannorm.studies) gives its
# architecture and, when the config names none, its variants; then the cross-checks a schema cannot
# express.
check_config(config)

RESULTS = f"results/{config['name']}"
STUDIES = config["studies"]
DATASETS = config["datasets"]


wildcard_constraints:
    study="|".join(map(re.escape, STUDIES)),
    dataset="|".join(map(re.escape, DATASETS)),
    arch="[a-z0-9_]+",
    variant="[a-z0-9_]+",
    seed="[0-9]+",


def cli(*words):
    """Shell command calling the package CLI (rules never hold long run: blocks).

    ``src/`` goes first on PYTHONPATH so the rules run this checkout's code even in a
    ``--sdm conda`` environment that does not install the package.
    """
    return " ".join(("PYTHONPATH=src${{PYTHONPATH:+:$PYTHONPATH}} python -m gannorm",) + words)


def store_dir(dataset):
    return f"{RESULTS}/data/{dataset}"


def run_dir(study, arch, variant, seed):
    return f"{RESULTS}/runs/{study}/{arch}-{variant}/seed{seed}"


def cells(study):
    """(architecture, variant, seed) of every run of a study."""
    return study_cells(STUDIES[study])


def study_run_dirs(study):
    return [run_dir(study, *cell) for cell in cells(study)]


def gpus_per_job(stage):
    """The `gpu` resource of a training/evaluation job: none on device cpu."""
    return 0 if config["device"] == "cpu" else config["resources"][stage]["gpu"]


def study_json(wildcards):
    """The training job's study JSON: only the keys it reads (gannorm.config.job_spec: architecture,
    dataset, model, train with train.variant_iterations applied, its own variant's record, the
    plug-ins), so changing a title, report options, figure lists, the evaluate section or another
    variant plans no training job (Snakemake's params trigger)."""
    spec = job_spec(STUDIES[wildcards.study], wildcards.arch, wildcards.variant, "train", config.get("plugins") or ())
    return json.dumps(spec, sort_keys=True)


def evaluate_json(wildcards):
    """The final evaluation's study JSON: :func:`study_json` plus the ``evaluate`` section (its IS/FID/KID
    keys only when ``evaluate.inception_weights`` is set: gannorm.metrics.fidelity.without_fidelity)."""
    spec = job_spec(STUDIES[wildcards.study], wildcards.arch, wildcards.variant, "evaluate", config.get("plugins") or ())
    return json.dumps(without_fidelity(spec, keep_when_enabled=True), sort_keys=True)


def report_json(study):
    """The report job's study JSON: the whole resolved study (title, variants, seeds, every
    architecture's keys, report options; gannorm.report.latex.write_study reads it for the methods
    and options) with the plug-ins."""
    return json.dumps(with_plugins(STUDIES[study]), sort_keys=True)


def with_plugins(spec):
    """``spec`` with the config's ``plugins`` list (when there is one), which every job imports
    before it builds a variant (gannorm.plugins)."""
    return {**spec, "plugins": config["plugins"]} if config.get("plugins") else spec


def inception_weights(wildcards):
    """The final evaluation's InceptionV3 weights file as an input when the study sets
    ``evaluate.inception_weights`` (a changed file reruns the evaluation), else none."""
    evaluate = cell_study(STUDIES[wildcards.study], wildcards.arch).get("evaluate") or {}
    return [evaluate["inception_weights"]] if fidelity_enabled(evaluate) else []


def study_store(wildcards):
    return store_dir(STUDIES[wildcards.study]["dataset"])
