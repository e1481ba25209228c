"""Studies: one module per source paper, each declaring in one place what its report section needs.

A *study module* (``gannorm/studies/<module>.py``) defines one or more :class:`Study` records at
module level (any name; every :class:`Study` instance in the module is registered). A study says:

* ``paper``: the key a config names (``studies.<name>.paper: xiang_li``) and the stem of its prose
  file ``paper/studies/<paper>.tex`` (the paper's question and claims in words, LaTeX);
* ``architecture`` (or ``architectures``, several) and ``variants``: what it trains (records of
  :mod:`gannorm.models.architectures`) and the variants it compares (presets or records of
  :mod:`gannorm.models.variant`; a config may run others the architecture takes). A study over
  several architectures has cells (architecture, variant, seed), may run only some variants in an
  architecture (``variants_in``, e.g. no batch normalization in a WGAN-GP critic) and its claims
  are evaluated in each architecture on the variants it ran;
* ``published``: the paper's numbers, each :class:`Published` with its source (table, figure,
  section) and :class:`Setting` (dataset, image size, iterations); the report picks the one whose
  dataset matches the study's store (else the first);
* ``claims``: :class:`Claim` records, each evaluated by :mod:`gannorm.report.claims` as a
  statistical test;
* ``tables`` (:class:`Table`) and ``figures``: which generic builders of :mod:`gannorm.report.tables` and
  :mod:`gannorm.report.figures` its section shows.

Nothing here imports torch or runs anything: this module is read when the Snakefile is parsed.
:func:`registry` discovers every module of this package; a module elsewhere registers itself with
:func:`register` (a config may also name ``paper: package.module:attribute``).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Iterable, Mapping


@dataclass(frozen=True)
class Setting:
    """An experimental setting: dataset source (a ``datasets.<d>.source`` name, e.g. ``celeba``), a
    label for readers, image side in pixels, generator iterations, and the classes kept (CIFAR-10
    subsets) where the paper keeps some. ``None`` = not given by the paper."""

    dataset: str
    label: str
    size: int | None = None
    iterations: int | None = None
    classes: tuple[int, ...] | None = None

    def relation(self, ours: "Setting | None") -> str:
        """``"the same dataset and scale"``, ``"the same dataset at another scale"``, ``"another
        dataset"`` or ``"another dataset and scale"`` for our setting against this (the paper's).

        Same dataset: the same source (and the same classes when the paper keeps some). Same scale:
        the same image side and at least the paper's iterations (each where the paper gives it).
        An unknown setting (``ours`` None) counts as different.
        """
        if ours is None:
            return "another dataset and scale"
        same_data = ours.dataset == self.dataset and (self.classes is None or ours.classes == self.classes)
        same_scale = ((self.size is None or ours.size == self.size)
                      and (self.iterations is None or (ours.iterations or 0) >= self.iterations))
        if same_data:
            return "the same dataset and scale" if same_scale else "the same dataset at another scale"
        return "another dataset" if same_scale else "another dataset and scale"


@dataclass(frozen=True)
class Published:
    """Numbers a paper publishes for some variants, with where they come from.

    Attributes:
        source: where in the paper, e.g. ``"Xiang & Li 2017, Table 2"``.
        setting: the paper's setting for these numbers.
        rows: variant -> {quantity: value}; quantities are the names of
            :data:`gannorm.report.runs.QUANTITIES` (e.g. ``final_recon``), a value is a number or,
            where the paper gives it only in words, a string; plus ``label`` (the paper's own name of
            the variant).
        note: a sentence on how the numbers were obtained (LaTeX-safe plain text).
    """

    source: str
    setting: Setting
    rows: Mapping[str, Mapping[str, object]]
    note: str = ""


@dataclass(frozen=True)
class Claim:
    """A claim of the paper: the ``lower`` variants have a lower ``quantity`` than the ``higher`` ones.

    Attributes:
        text: the claim in words (plain text).
        quantity: a name of :data:`gannorm.report.runs.QUANTITIES` (e.g. ``final_recon``: the final
            reconstruction loss per test image; ``steep_drop``: generator iteration of the critic
            loss's steep drop).
        lower, higher: variant names; every ``lower`` variant is compared with every ``higher`` one.
        source: where the paper makes the claim (table, figure, section).
        best_of_lower: the claim is about the best of the ``lower`` variants (e.g. "GroupNorm at
            its best group count beats LayerNorm" by a loss); ``higher`` is one variant. Judged with
            a Bonferroni correction for the ``k`` candidates (:func:`gannorm.report.claims.best_of`).
        best_of_higher: the claim is about the best (highest) of the ``higher`` variants (e.g.
            "LayerNorm has a lower Inception score than GroupNorm at its best group count"; for a
            higher-is-better quantity); ``lower`` is one variant.
        paper_effect: the paper's own effect in words where it is not computable from
            :attr:`Study.published` (e.g. ``"steep drop at about 500 vs 900-1,500 iterations"``).
        paper_effects: in a study over several architectures, architecture -> the source's own
            effect measured in (a network like) that architecture, with its source; the verdict in
            any other architecture shows ``"-"`` (the claim was not measured there before).
    """

    text: str
    quantity: str
    lower: tuple[str, ...]
    higher: tuple[str, ...]
    source: str
    best_of_lower: bool = False
    paper_effect: str = ""
    best_of_higher: bool = False
    paper_effects: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.best_of_lower and self.best_of_higher:
            raise ValueError(f"claim {self.text!r}: best_of_lower and best_of_higher together")
        if (self.best_of_lower and len(self.higher) != 1) or (self.best_of_higher and len(self.lower) != 1):
            raise ValueError(f"claim {self.text!r}: a best-of claim compares its candidates with one variant "
                             "on the other side")


@dataclass(frozen=True)
class Table:
    """A table of a study's report section: ``columns`` are quantities of
    :data:`gannorm.report.runs.QUANTITIES`, one row per run plus the mean and standard deviation over
    seeds per variant and the published numbers for the same quantities; ``snapshots=True`` makes
    the table of the pixel-histogram W1 at every snapshot iteration instead. ``optional`` columns
    follow ``columns`` only when some run measured them (e.g. the Inception score, FID and KID,
    measured only with ``evaluate.inception_weights``); the table's files are written either way."""

    name: str
    columns: tuple[str, ...] = ()
    snapshots: bool = False
    optional: tuple[str, ...] = ()


#: IS, FID and KID of the best checkpoint (gannorm.metrics.fidelity), where a study measured them.
FIDELITY = ("final_is", "final_fid", "final_kid")
#: The reconstruction-loss table of every image GAN (Xiang & Li, Tables 2-8): the optimal model
#: (best running evaluation) and the converged one (``train.evaluate_at``, else the last checkpoint),
#: with IS/FID/KID beside it when measured.
RECONSTRUCTION = Table("results", ("best_iteration", "running_recon", "final_recon", "running_recon_converged",
                                   "final_recon_converged"), optional=FIDELITY)


@dataclass(frozen=True)
class Study:
    """One paper's study (see the module docstring). ``title`` is the report section's default title
    (a config's ``title`` wins); ``citation`` is the short reference printed with claims. Give
    ``architecture`` (one) or ``architectures`` (several); either way both are set after
    construction: ``architectures`` lists them all, ``architecture`` is the single one (``""`` for a
    study over several).

    Raises:
        ValueError: neither or both of ``architecture``/``architectures``, an unknown architecture, or a
            claim naming a variant the study does not compare.
    """

    paper: str
    title: str
    citation: str
    architecture: str = ""
    variants: tuple[str, ...] = ()
    claims: tuple[Claim, ...] = ()
    published: tuple[Published, ...] = ()
    tables: tuple[Table, ...] = (RECONSTRUCTION,)
    figures: tuple[str, ...] = ()
    main_quantity: str = "final_recon"
    notes: tuple[str, ...] = field(default=())
    architectures: tuple[str, ...] = ()
    variants_in: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from gannorm.models.architectures import get

        if not self.architecture and not self.architectures or (
                self.architecture and self.architectures and self.architectures != (self.architecture,)):
            raise ValueError(f"study {self.paper!r}: give architecture (one) or architectures (several)")
        if self.architecture:
            object.__setattr__(self, "architectures", (self.architecture,))
        elif len(self.architectures) == 1:
            object.__setattr__(self, "architecture", self.architectures[0])
        for name in self.architectures:
            get(name)  # raises ValueError for an unknown one
        for arch, names in self.variants_in.items():
            if arch not in self.architectures or not set(names) <= set(self.variants):
                raise ValueError(f"study {self.paper!r}: variants_in[{arch!r}] must name one of its architectures "
                                 f"{list(self.architectures)} and some of its variants {list(self.variants)}")
        for claim in self.claims:
            for arch in claim.paper_effects:
                if arch not in self.architectures:
                    raise ValueError(f"study {self.paper!r}: claim {claim.text!r} gives a paper effect in {arch!r}, "
                                     f"not one of its architectures {list(self.architectures)}")
            for variant in (*claim.lower, *claim.higher):
                if variant not in self.variants:
                    raise ValueError(f"study {self.paper!r}: claim {claim.text!r} names variant {variant!r}, "
                                     f"not one of its variants {list(self.variants)}")

    def report_files(self, name: str) -> list[str]:
        """Every file (relative to ``results/<run name>``) the report job of the config's study
        ``name`` writes: ``tables/<name>[_<table>].{csv,tex}`` and ``..._runs.tex`` (the ``results``
        table has no suffix; ``_runs``: its per-run rows, for the appendix; ``verdicts``: every claim's
        verdict, per architecture), ``report/runs_<name>.tex`` (the appendix's inputs),
        ``figures/<name>_<figure>.pdf`` and ``report/study_<name>.tex``."""
        out = [f"tables/{table_stem(name, t.name)}{part}" for t in self.tables
               for part in (".csv", ".tex", "_runs.tex")]
        if self.claims:  # every claim's verdict (the report's opening table; a section's own over architectures)
            out += [f"tables/{table_stem(name, 'verdicts')}.{ext}" for ext in ("csv", "tex")]
        out.append(f"report/runs_{name}.tex")  # the study's per-run tables, for the appendix
        return out + [f"figures/{name}_{f}.pdf" for f in self.figures] + [f"report/study_{name}.tex"]

    def caption_files(self, name: str) -> dict[str, str]:
        """Each table and figure file of :meth:`report_files` -> the file (relative to
        ``results/<run name>``) the report job writes its caption to, as reStructuredText for Snakemake's
        HTML report (:func:`caption_file`; a table's CSV and LaTeX share one)."""
        return {f: caption_file(f) for f in self.report_files(name) if f.startswith(("tables/", "figures/"))}

    def published_for(self, dataset: str | None) -> Published | None:
        """The published numbers whose setting's dataset is ``dataset``, else the first (None if none)."""
        for entry in self.published:
            if entry.setting.dataset == dataset:
                return entry
        return self.published[0] if self.published else None


def table_stem(study: str, table: str) -> str:
    """File stem under ``tables/``: ``<study>`` for the ``results`` table, else ``<study>_<table>``."""
    return study if table == "results" else f"{study}_{table}"


def caption_file(path: str) -> str:
    """The caption file of a report file: ``tables/<stem>.{csv,tex}`` -> ``captions/table_<stem>.rst``,
    ``figures/<stem>.pdf`` -> ``captions/figure_<stem>.rst``."""
    folder, _, name = path.partition("/")
    return f"captions/{folder.removesuffix('s')}_{name.rsplit('.', 1)[0]}.rst"


_REGISTRY: dict[str, Study] = {}
_DISCOVERED = False


def register(*studies: Study) -> None:
    """Add studies to the registry (a study module outside this package calls this at import).

    Raises:
        ValueError: another study already has the same ``paper`` key.
    """
    for study in studies:
        old = _REGISTRY.get(study.paper)
        if old is not None and old != study:
            raise ValueError(f"two studies register paper {study.paper!r}")
        _REGISTRY[study.paper] = study


def _module_studies(module) -> Iterable[Study]:
    return [value for value in vars(module).values() if isinstance(value, Study)]


def registry() -> dict[str, Study]:
    """Every study: those of this package's modules (discovered once) and those registered."""
    global _DISCOVERED
    if not _DISCOVERED:
        for info in pkgutil.iter_modules(__path__):
            if not info.name.startswith("_"):
                register(*_module_studies(importlib.import_module(f"{__name__}.{info.name}")))
        _DISCOVERED = True
    return dict(_REGISTRY)


def get(paper: str) -> Study:
    """The study a config names: a registered ``paper`` key, or ``package.module:attribute``.

    Raises:
        KeyError: unknown paper (the message lists the known ones).
    """
    studies = registry()
    if paper in studies:
        return studies[paper]
    if ":" in paper:
        module, _, attribute = paper.partition(":")
        study = getattr(importlib.import_module(module), attribute, None)
        if isinstance(study, Study):
            return study
    raise KeyError(f"unknown paper {paper!r}; known: {sorted(studies)} (or package.module:attribute)")
