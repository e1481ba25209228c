"""The cells of a resolved study and what each job of a cell reads (torch-free; read by the Snakefile).

A study (:func:`gannorm.config.resolve_studies`) over one architecture or several runs cells
(architecture, variant, seed): :func:`study_cells`. :func:`cell_study` is the single-architecture
study one cell trains; :func:`job_spec` the part of it one training or final-evaluation job
reads, so that a key no job reads reruns nothing; :func:`variant_spec` applies a variant's own
iteration count.
"""

from __future__ import annotations

from typing import Any


#: The sections a study over several architectures can set per architecture (and ``variants``: the
#: names of the study's variants that architecture runs).
ARCHITECTURE_SECTIONS = ("model", "train", "evaluate")


def study_architectures(study: dict[str, Any]) -> list[str]:
    """The architectures a resolved study trains, in config order."""
    return list(study["architectures"]) if "architectures" in study else [study["architecture"]]


def cell_study(study: dict[str, Any], architecture: str) -> dict[str, Any]:
    """The single-architecture study one cell trains: a resolved study itself when it has one
    architecture; for a study over several, its sections with ``architectures.<architecture>``'s
    keys on top, ``architecture`` set, ``variants`` the ones that architecture runs (no
    ``architectures`` key).

    Raises:
        KeyError: ``architecture`` is not one the study trains.
    """
    if "architectures" not in study:
        if architecture != study["architecture"]:
            raise KeyError(f"the study trains {study['architecture']!r}, not {architecture!r}")
        return study
    overrides = study["architectures"][architecture] or {}
    cell = {k: v for k, v in study.items() if k != "architectures"}
    for section in ARCHITECTURE_SECTIONS:
        if overrides.get(section):
            cell[section] = {**(study.get(section) or {}), **overrides[section]}
    if overrides.get("variants") is not None:
        cell["variants"] = list(overrides["variants"])
    cell["architecture"] = architecture
    return cell


def study_cells(study: dict[str, Any]) -> list[tuple[str, str, int]]:
    """``(architecture, variant, seed)`` of every run of a resolved study: architectures, then
    variants (those the architecture runs, :func:`cell_study`), then seeds (one training job and one
    final evaluation each)."""
    return [(a, v, int(s)) for a in study_architectures(study) for v in cell_study(study, a)["variants"]
            for s in study["seeds"]]


#: The keys of a study a training job reads (plus its own variant's record and the plug-ins).
TRAIN_KEYS = ("architecture", "dataset", "model", "train")


def job_spec(study: dict[str, Any], architecture: str, variant: str, stage: str,
             plugins: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The study config one job of cell (``architecture``, ``variant``) reads, and nothing else, so a
    key a job does not read (a title, report options, figure lists, another variant's record; for
    training the ``evaluate`` section) changes none of its parameters and reruns no job.

    Args:
        study: a resolved study (:func:`resolve_studies`).
        stage: ``"train"``: :data:`TRAIN_KEYS` of the cell (:func:`cell_study`), with
            ``train.variant_iterations`` applied (:func:`variant_spec`); ``"evaluate"``: that plus
            the ``evaluate`` section.
        plugins: the config's ``plugins`` (every job imports them; omitted when empty).

    Raises:
        ValueError: an unknown stage.
    """
    if stage not in ("train", "evaluate"):
        raise ValueError(f"stage {stage!r}: expected 'train' or 'evaluate'")
    cell = cell_study(study, architecture)
    keys = TRAIN_KEYS + (("evaluate",) if stage == "evaluate" else ())
    spec = {k: cell[k] for k in keys if k in cell}
    record = (cell.get("variant_records") or {}).get(variant)
    if record is not None:
        spec["variant_records"] = {variant: record}
    if plugins:
        spec["plugins"] = list(plugins)
    return variant_spec(spec, variant)


def variant_spec(study: dict[str, Any], variant: str) -> dict[str, Any]:
    """The study config one variant trains with: ``train.variant_iterations[variant]`` (when given)
    replaces ``train.iterations``, and the ``variant_iterations`` map itself is left out, so a
    variant's config (and its Snakemake parameters) changes only when its own count does.

    Xiang & Li trained vanilla and BN for 150,000 iterations and WN and affine WN for 700,000 on
    CelebA (section 5.2, Appendix D.2): ``iterations: 150000`` with ``variant_iterations: {weight:
    700000, weight_affine: 700000}``. A spec without the map is returned as a copy unchanged.
    """
    spec = dict(study)
    train = dict(spec.get("train") or {})
    per_variant = train.pop("variant_iterations", None)
    if per_variant is not None:
        if variant in per_variant:
            train["iterations"] = int(per_variant[variant])
        spec["train"] = train
    return spec
