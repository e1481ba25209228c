"""Report kinds: which tables and figures a study gets, from its architecture.

Every architecture maps to one report *kind* (:func:`report_kind`):

========  ==========================  ====================================================================
kind      architectures               tables (``tables/<stem>.csv`` + ``.tex``) / figures (``figures/<stem>.pdf``)
========  ==========================  ====================================================================
gan       dcgan, resnet, mlp          ``results`` (reconstruction loss) / running_loss, samples, reconstructions
wgan      iwgan, wgan_resnet          gan's + ``steep_drop``, ``w1`` / gan's + critic_loss, histograms, w1
sr        sr                          ``results`` (perceptual loss), ``w1`` / perceptual_loss, monitor, w1, outputs
toy2d     toy2d                       ``results`` (:mod:`gannorm.report.toy2d`) / scatter
========  ==========================  ====================================================================

File stems: the ``results`` table of study ``S`` is ``tables/S.csv`` / ``tables/S.tex``; another table
``T`` is ``tables/S_T.*``; figure ``F`` is ``figures/S_F.pdf`` (:func:`table_stem`, :func:`figure_stem`).
:data:`TABLE_RUN_FILES` / :data:`FIGURE_RUN_FILES` name the files of each run folder that a table or
figure reads (the Snakemake rules declare them as inputs).
"""

from __future__ import annotations

from typing import Iterable, Mapping

#: architecture -> report kind.
ARCHITECTURE_KINDS: dict[str, str] = {
    "dcgan": "gan", "resnet": "gan", "mlp": "gan",
    "iwgan": "wgan", "wgan_resnet": "wgan",
    "sr": "sr",
    "toy2d": "toy2d",
}

#: The report kinds.
KINDS = ("gan", "wgan", "sr", "toy2d")

#: kind -> table names (``results`` is the study's main table).
KIND_TABLES: dict[str, tuple[str, ...]] = {
    "gan": ("results",),
    "wgan": ("results", "steep_drop", "w1"),
    "sr": ("results", "w1"),
    "toy2d": ("results",),
}

#: kind -> figure names.
KIND_FIGURES: dict[str, tuple[str, ...]] = {
    "gan": ("running_loss", "samples", "reconstructions"),
    "wgan": ("running_loss", "critic_loss", "histograms", "w1", "samples", "reconstructions"),
    "sr": ("perceptual_loss", "monitor", "w1", "outputs"),
    "toy2d": ("scatter",),
}

#: (kind, table) -> files of each run folder the table reads.
TABLE_RUN_FILES: dict[tuple[str, str], tuple[str, ...]] = {
    ("gan", "results"): ("run.json", "final_eval.json"),
    ("wgan", "results"): ("run.json", "final_eval.json"),
    ("wgan", "steep_drop"): ("run.json", "metrics.csv"),
    ("wgan", "w1"): ("run.json", "snapshots"),
    ("sr", "results"): ("run.json", "final_eval.json"),
    ("sr", "w1"): ("run.json", "snapshots"),
    ("toy2d", "results"): ("run.json", "metrics.csv", "final_eval.json", "reconstructions.npz"),
}

#: (kind, figure) -> files of each run folder the figure reads.
FIGURE_RUN_FILES: dict[tuple[str, str], tuple[str, ...]] = {
    ("gan", "running_loss"): ("run.json", "metrics.csv"),
    ("gan", "samples"): ("run.json", "samples"),
    ("gan", "reconstructions"): ("run.json", "reconstructions.npz"),
    ("wgan", "running_loss"): ("run.json", "metrics.csv"),
    ("wgan", "critic_loss"): ("run.json", "metrics.csv"),
    ("wgan", "histograms"): ("run.json", "snapshots"),
    ("wgan", "w1"): ("run.json", "snapshots"),
    ("wgan", "samples"): ("run.json", "samples"),
    ("wgan", "reconstructions"): ("run.json", "reconstructions.npz"),
    ("sr", "perceptual_loss"): ("run.json", "metrics.csv"),
    ("sr", "monitor"): ("run.json", "snapshots"),
    ("sr", "w1"): ("run.json", "snapshots"),
    ("sr", "outputs"): ("run.json", "reconstructions.npz"),
    ("toy2d", "scatter"): ("run.json", "final_eval.json", "reconstructions.npz"),
}

#: Files of each run folder the summary (verdicts) of a kind reads.
SUMMARY_RUN_FILES: dict[str, tuple[str, ...]] = {
    "gan": ("run.json", "final_eval.json"),
    "wgan": ("run.json", "final_eval.json", "metrics.csv", "snapshots"),
    "sr": ("run.json", "final_eval.json", "metrics.csv", "snapshots"),
    "toy2d": ("run.json", "metrics.csv", "final_eval.json", "reconstructions.npz"),
}


def report_kind(architecture: str | None) -> str:
    """The report kind of an architecture (``None`` = ``dcgan``, the schema default).

    Raises:
        ValueError: an unknown architecture.
    """
    architecture = architecture or "dcgan"
    if architecture not in ARCHITECTURE_KINDS:
        raise ValueError(f"no report kind for architecture {architecture!r}; known: {sorted(ARCHITECTURE_KINDS)}")
    return ARCHITECTURE_KINDS[architecture]


def check_kind(kind: str) -> str:
    """``kind`` itself, or ValueError naming the known kinds."""
    if kind not in KINDS:
        raise ValueError(f"unknown report kind {kind!r}; choose from {KINDS}")
    return kind


def table_stem(study: str, table: str) -> str:
    """File stem (under ``tables/``) of a study's table: ``S`` for ``results``, else ``S_<table>``."""
    return study if table == "results" else f"{study}_{table}"


def figure_stem(study: str, figure: str) -> str:
    """File stem (under ``figures/``) of a study's figure: ``S_<figure>``."""
    return f"{study}_{figure}"


def _unique(mapping: dict[str, tuple[str, str]], stem: str, value: tuple[str, str], what: str) -> None:
    if stem in mapping and mapping[stem] != value:
        raise ValueError(f"{what} file name {stem!r} is claimed by both {mapping[stem]} and {value}; rename a study")
    mapping[stem] = value


def table_stems(study_kinds: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """``{stem: (study, table)}`` for every table of every study (``study_kinds``: study -> kind).

    Raises:
        ValueError: an unknown kind, or two tables of different studies with the same file name.
    """
    out: dict[str, tuple[str, str]] = {}
    for study, kind in study_kinds.items():
        for table in KIND_TABLES[check_kind(kind)]:
            _unique(out, table_stem(study, table), (study, table), "table")
    return out


def figure_stems(study_kinds: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """``{stem: (study, figure)}`` for every figure of every study; see :func:`table_stems`."""
    out: dict[str, tuple[str, str]] = {}
    for study, kind in study_kinds.items():
        for figure in KIND_FIGURES[check_kind(kind)]:
            _unique(out, figure_stem(study, figure), (study, figure), "figure")
    return out


def run_inputs(run_dirs: Iterable[str], files: Iterable[str]) -> list[str]:
    """``<run_dir>/<file>`` for every run folder and file (the inputs of a report job)."""
    files = tuple(files)
    return [f"{d}/{f}" for d in run_dirs for f in files]
