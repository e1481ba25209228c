# Config -> cells. A study expands into cells (dataset, architecture, variant) x seed; each cell
# is one training job and one final evaluation (DESIGN.md section 3).
import json

import os
import re

from gannorm.config import cell_study, check_config, study_cells, variant_spec
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
    """A study's resolved config (schema defaults and its paper's architecture filled in) for one
    variant (gannorm.config.variant_spec: its train.variant_iterations entry as train.iterations),
    without its ``report`` section and ``paper`` key, passed to the training CLI as JSON (so a
    report setting, or another variant's iteration count, does not rerun training); the IS/FID/KID
    keys of ``evaluate`` are left out too (training does not use them:
    gannorm.metrics.fidelity.without_fidelity)."""
    spec = {k: v for k, v in cell_study(STUDIES[wildcards.study], wildcards.arch).items() if k not in ("report", "paper")}
    return json.dumps(with_plugins(variant_spec(without_fidelity(spec), wildcards.variant)), sort_keys=True)


def evaluate_json(wildcards):
    """The final evaluation's study JSON: :func:`study_json`, plus the IS/FID/KID keys when
    ``evaluate.inception_weights`` is set (without it, the same text as study_json)."""
    spec = {k: v for k, v in cell_study(STUDIES[wildcards.study], wildcards.arch).items() if k not in ("report", "paper")}
    return json.dumps(with_plugins(variant_spec(without_fidelity(spec, keep_when_enabled=True), wildcards.variant)),
                      sort_keys=True)


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
