"""Checks on a study configuration that its JSON schema cannot express.

The Snakefile reads its config files and validates them against the schema
(``workflow/schemas/config.schema.yaml``) with :mod:`gannorm.config_files` (strict YAML, one short
message per error; the schema types every key, fills defaults and rejects unknown keys); then
:func:`check_config` checks what the schema cannot express: names are identifiers
(:func:`check_names`), a study's dataset exists, the image size suits the DCGAN builder, the
evaluation subsets fit in the test split. All of it runs when the Snakefile is parsed, before any
job starts.
"""

from __future__ import annotations

import os
import re
from typing import Any, Mapping

import gannorm.models.architectures as architectures
from gannorm.cells import (ARCHITECTURE_SECTIONS, TRAIN_KEYS, cell_study, job_spec,  # noqa: F401
                           study_architectures, study_cells, variant_spec)
from gannorm.models.variant import Variant, parse_variant


class ConfigError(ValueError):
    """A configuration value is inconsistent; the message names the key path."""


#: Study, dataset and run names (``name:``): an ASCII letter, then letters, digits or ``_``. They
#: become rule names, folder names under results/ and words of shell commands, so nothing else
#: (no ``.``, ``/``, space, ``;``, quote or parenthesis) is allowed. The schema uses the same pattern.
NAME_PATTERN = "^[A-Za-z][A-Za-z0-9_]*$"
_NAME = re.compile("[A-Za-z][A-Za-z0-9_]*")  # fullmatch: unlike NAME_PATTERN's $, no trailing newline


def is_name(value: object) -> bool:
    """Whether ``value`` is a valid study, dataset or run name (:data:`NAME_PATTERN`)."""
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


def name_error(key: str, value: object, what: str) -> str:
    """The message for a bad name: ``key`` (e.g. ``studies``), the name and the allowed pattern."""
    return (f"{key}: {value!r} is not a valid {what}; use a letter, then letters, digits or _ "
            f"(pattern {NAME_PATTERN})")


def check_names(config: Mapping[str, Any]) -> None:
    """Check the run name (``name``) and every study and dataset name against :data:`NAME_PATTERN`.

    Raises:
        ConfigError: naming the key (``name``, ``studies`` or ``datasets``), the bad name and the pattern.
    """
    if "name" in config and not is_name(config["name"]):
        raise ConfigError(name_error("name", config["name"], "run name"))
    for section, what in (("datasets", "dataset name"), ("studies", "study name")):
        entries = config.get(section)
        for name in entries if isinstance(entries, Mapping) else ():
            if not is_name(name):
                raise ConfigError(name_error(section, name, what))


def dcgan_map_sizes(size: int) -> list[int]:
    """Feature-map sides of the DCGAN discriminator for an image of side ``size``.

    Xiang & Li (section 5.1, Table 1) add stride-2 convolutions until the map is 5x5 (CelebA 160)
    or 4x4 (CIFAR-10 32, LSUN 256); so ``size`` must be 4 or 5 times a power of two.

    Returns e.g. ``[16, 8, 4]`` for 16 and ``[160, 80, 40, 20, 10, 5]`` for 160.

    Raises:
        ConfigError: ``size`` is not 4 * 2**n or 5 * 2**n with n >= 1.
    """
    sizes = [int(size)]
    while sizes[-1] > 5 and sizes[-1] % 2 == 0:
        sizes.append(sizes[-1] // 2)
    if sizes[-1] not in (4, 5) or len(sizes) < 2:
        raise ConfigError(f"image size {size} does not halve down to a 4x4 or 5x5 map "
                          f"(use 4 or 5 times a power of two, e.g. 16, 32, 64, 160)")
    return sizes


def _resolve_architectures(name: str, study: dict[str, Any], paper: Any) -> None:
    """Set ``architecture`` (one) or ``architectures`` (several: name -> overrides) of a study."""
    given = study.get("architectures")
    if len(paper.architectures) == 1:
        if given is not None:
            raise ConfigError(f"studies.{name}.architectures: paper {study['paper']!r} trains one architecture "
                              f"({paper.architectures[0]}); set its keys in the study's model/train/evaluate")
        study["architecture"] = paper.architectures[0]
        return
    given = {a: (s or {}) for a, s in (given or {a: {} for a in paper.architectures}).items()}
    for arch in given:
        if arch not in paper.architectures:
            raise ConfigError(f"studies.{name}.architectures.{arch}: not an architecture of paper {study['paper']!r}; "
                              f"its architectures: {list(paper.architectures)}")
    study["architectures"] = given
    study.pop("architecture", None)


def resolve_studies(config: dict[str, Any]) -> None:
    """Fill in each study's ``architecture`` (``architectures`` for a paper over several: name ->
    per-architecture keys, :func:`cell_study`) and ``variants`` (when the config gives none) from
    the :class:`gannorm.studies.Study` its ``paper`` names, and turn its ``variants`` into names:
    an inline record moves to ``variant_records`` (name -> record), a preset stays a name.
    Modifies ``config`` in place.

    Raises:
        ConfigError: ``studies.<name>.paper`` is unknown; a variant is an unknown preset or a bad
            record, two variants share a name, or the architecture cannot take a variant (naming
            study, variant and reason).
    """
    from gannorm.studies import get

    for name, study in config["studies"].items():
        try:
            spec = get(study["paper"])
        except KeyError as err:
            raise ConfigError(f"studies.{name}.paper: {err.args[0]}") from None
        _resolve_architectures(name, study, spec)
        entries = study.setdefault("variants", list(spec.variants))
        records = dict(study.get("variant_records") or {})
        names: list[str] = []
        for i, entry in enumerate(entries):
            where = f"studies.{name}.variants[{i}]"
            try:
                record = parse_variant(records.get(entry, entry) if isinstance(entry, str) else entry, where)
            except ValueError as err:
                raise ConfigError(str(err)) from None
            if record.name in names:
                raise ConfigError(f"{where}: a second variant named {record.name!r}")
            names.append(record.name)
            if not isinstance(entry, str):
                records[record.name] = record.to_config()
        study["variants"] = names
        if records:
            study["variant_records"] = records
        _resolve_architecture_variants(name, study, spec)
        for i, entry in enumerate(names):
            record = parse_variant(records.get(entry, entry), f"studies.{name}.variants[{i}]")
            for architecture in study_architectures(study):
                cell = cell_study(study, architecture)
                if entry in cell["variants"]:
                    check_variant(name, cell, record, f"studies.{name}.variants[{i}]")


def _resolve_architecture_variants(name: str, study: dict[str, Any], paper: Any) -> None:
    """Set ``architectures.<a>.variants`` of a study over several architectures: the config's list
    (names of the study's variants), else the paper's :attr:`gannorm.studies.Study.variants_in`
    entry restricted to the study's variants, else every variant of the study.

    Raises:
        ConfigError: a name that is not one of the study's variants.
    """
    if "architectures" not in study:
        return
    for arch, overrides in study["architectures"].items():
        given = overrides.get("variants")
        if given is None:
            wanted = (paper.variants_in or {}).get(arch)
            overrides["variants"] = [v for v in study["variants"] if wanted is None or v in wanted]
            continue
        for i, variant in enumerate(given):
            if variant not in study["variants"]:
                raise ConfigError(f"studies.{name}.architectures.{arch}.variants[{i}]: {variant!r} is not one of the "
                                  f"study's variants {study['variants']}")


def check_variant(name: str, study: dict[str, Any], record: Variant, where: str | None = None) -> None:
    """Whether study ``name``'s architecture can take ``record`` with the study's ``model`` section
    (:meth:`gannorm.models.architectures.Architecture.check_variant`).

    Raises:
        ConfigError: naming the study, the variant and the reason.
    """
    try:
        architectures.get(study["architecture"]).check_variant(record, study.get("model"))
    except ValueError as err:
        where = where or f"studies.{name}.variants"
        raise ConfigError(f"{where}: variant {record.name!r} of study {name} ({study['architecture']}): {err}") from None


def study_variant(spec: dict[str, Any], variant: str) -> Variant:
    """The record of ``variant`` in a resolved study (its ``variant_records`` entry, else the
    preset of that name), as the training and evaluation jobs read it from their study JSON.

    Raises:
        ValueError: an unknown preset or a bad record.
    """
    return parse_variant((spec.get("variant_records") or {}).get(variant, variant), f"variant {variant!r}")


def load_plugins(config: dict[str, Any]) -> None:
    """Import the config's ``plugins`` (:func:`gannorm.plugins.load`).

    Raises:
        ConfigError: naming ``plugins[i]`` and what went wrong.
    """
    from gannorm.plugins import PluginError, load

    try:
        load(config.get("plugins"))
    except PluginError as err:
        raise ConfigError(str(err)) from err.__cause__


def check_config(config: dict[str, Any]) -> None:
    """Import the plug-ins (:func:`load_plugins`), check the names (:func:`check_names`), resolve
    each study's paper and variants (:func:`resolve_studies`), then check the cross-references of a
    validated config.

    Raises:
        ConfigError: naming the first bad name or inconsistent key.
    """
    load_plugins(config)
    check_names(config)
    resolve_studies(config)
    datasets = config["datasets"]
    for name, spec in datasets.items():
        if spec.get("source") == "digits":
            try:
                dcgan_map_sizes(spec.get("size", 16))
            except ConfigError as err:
                raise ConfigError(f"datasets.{name}.size: {err}") from None
            if spec.get("test_images", 0) >= 1797:
                raise ConfigError(f"datasets.{name}.test_images: must be below 1797 (the digits count)")
    for name, spec in datasets.items():
        check_dataset(name, spec)
    for name, study in config["studies"].items():
        if study["dataset"] in datasets:
            for architecture in study_architectures(study):
                check_study(name, cell_study(study, architecture), datasets[study["dataset"]])
    for name, study in config["studies"].items():
        key = f"studies.{name}"
        dataset = study["dataset"]
        if dataset not in datasets:
            raise ConfigError(f"{key}.dataset: {dataset!r} is not a configured dataset; "
                              f"configured: {sorted(datasets)}")
        test_images = datasets[dataset].get("test_images")
        train, evaluate = study.get("train", {}), study.get("evaluate", {})
        if test_images is not None:
            for sub, field in ((train, "eval_images"), (evaluate, "images")):
                if field in sub and sub[field] > test_images:
                    section = "train" if sub is train else "evaluate"
                    raise ConfigError(f"{key}.{section}.{field}: {sub[field]} exceeds the "
                                      f"{test_images} test images of dataset {dataset!r}")
        if "reconstructions" in evaluate and "images" in evaluate and evaluate["reconstructions"] > evaluate["images"]:
            raise ConfigError(f"{key}.evaluate.reconstructions: more than evaluate.images")
        for architecture in study_architectures(study):
            check_iterations(name, cell_study(study, architecture))
            check_fidelity(key, cell_study(study, architecture), test_images, dataset)


def check_iterations(name: str, study: dict[str, Any]) -> None:
    """``train.variant_iterations`` names only variants of the study or of its architecture's papers
    (one the config does not run is unused, so a study cut down to some variants keeps its map); every
    ``train.evaluate_at`` iteration is reached by at least one variant the study runs.

    Raises:
        ConfigError: naming the key, the value and what is expected.
    """
    key = f"studies.{name}.train"
    train = study.get("train") or {}
    per_variant = train.get("variant_iterations") or {}
    record = architectures.get(study["architecture"])
    known = (*record.paper_variants, *[v for v in study["variants"] if v not in record.paper_variants])
    for variant in per_variant:
        if variant not in known:  # a misspelt name; a variant this config does not run is simply unused
            raise ConfigError(f"{key}.variant_iterations: {variant!r} is neither a variant of the study nor one of "
                              f"architecture {record.name!r}'s papers; known: {list(known)}")
    per_variant = {v: n for v, n in per_variant.items() if v in study["variants"]}
    if train.get("evaluate_at") and not record.evaluate_at:
        raise ConfigError(f"{key}.evaluate_at: the final evaluation of architecture {record.name!r} "
                          "reads only the best and the last checkpoint; evaluate_at is for image GANs")
    longest = max([int(train.get("iterations", 0)), *map(int, per_variant.values())])
    for iteration in train.get("evaluate_at") or []:
        if int(iteration) > longest:
            raise ConfigError(f"{key}.evaluate_at: {iteration} is beyond every variant's iterations (at most "
                              f"{longest}); list iterations a run reaches")


def check_fidelity(key: str, study: dict[str, Any], test_images: int | None, dataset: str) -> None:
    """The IS/FID/KID keys of one study's ``evaluate`` (:mod:`gannorm.metrics.fidelity`), when
    ``inception_weights`` is set: an image GAN, the weights file present, ``kid_subset_size`` at most
    ``fidelity_samples`` and the dataset's test images.

    Raises:
        ConfigError: naming ``<key>.evaluate.<field>`` and what is expected (for a missing weights file:
            the file torch-fidelity expects, its URL and where to put it).
    """
    from gannorm.metrics.fidelity import enabled, settings, weights_help

    evaluate = study.get("evaluate") or {}
    if not enabled(evaluate):
        return
    s = settings(evaluate)
    arch = study["architecture"]
    if not architectures.get(arch).fidelity:
        image_gans = [a.name for a in architectures.registry().values() if a.fidelity]
        raise ConfigError(f"{key}.evaluate.inception_weights: architecture {arch!r} has its own final evaluation; "
                          f"IS/FID/KID are computed for the image GANs {image_gans} only: remove the key")
    if not os.path.isfile(s["inception_weights"]):
        raise ConfigError(f"{key}.evaluate.inception_weights: {weights_help(s['inception_weights'])}")
    if s["kid_subset_size"] > s["fidelity_samples"]:
        raise ConfigError(f"{key}.evaluate.kid_subset_size: {s['kid_subset_size']} exceeds evaluate.fidelity_samples "
                          f"({s['fidelity_samples']}); KID subsets are drawn from the generated samples")
    if test_images is not None and s["kid_subset_size"] > test_images:
        raise ConfigError(f"{key}.evaluate.kid_subset_size: {s['kid_subset_size']} exceeds the {test_images} test "
                          f"images of dataset {dataset!r}; KID subsets are drawn from them too")


#: Sources of image data (every architecture but toy2d), of super-resolution pairs, of 2-D points.
IMAGE_SOURCES = ("digits", "photo_patches", "cifar10", "celeba", "lsun", "imagenet")
#: Sources whose stores hold the low-resolution inputs of super-resolution pairs (with ``scale``).
SR_SOURCES = ("photo_patches", "imagenet")


def check_power_of_two_times_4(size: int) -> None:
    """An image side of 4 times a power of two (8, 16, 32, ...): the WGAN-GP networks start from a
    4x4 map and double it.

    Raises:
        ConfigError: any other side.
    """
    if not (size >= 8 and size % 4 == 0 and (size // 4) & (size // 4 - 1) == 0):
        raise ConfigError(f"image size {size}; the network needs 4 times a power of two (8, 16, 32, ...)")


def check_study(name: str, study: dict[str, Any], dataset: dict[str, Any]) -> None:
    """Checks of one study against its dataset, by what its architecture's record says it needs
    (:mod:`gannorm.models.architectures`: ``data``, ``size_check``).

    Raises:
        ConfigError: naming ``studies.<name>.<key>`` (or the dataset key) and what is expected.
    """
    key = f"studies.{name}"
    record = architectures.get(study["architecture"])
    source = dataset.get("source")
    if (source == "toy2d") != (record.data == "points"):
        needs = "2-D points (a dataset with source toy2d)" if record.data == "points" else "images"
        raise ConfigError(f"{key}.dataset: architecture {record.name} needs {needs}; {study['dataset']!r} has "
                          f"source {source!r}")
    if record.data == "points":
        return
    size = dataset_size(dataset)
    if record.data == "sr_pairs":
        if source not in SR_SOURCES or (source == "photo_patches" and not dataset.get("scale")):
            raise ConfigError(f"{key}.dataset: architecture {record.name} needs low-resolution inputs: a photo_patches "
                              f"dataset with scale, or an imagenet dataset; {study['dataset']!r} has none")
        scale = int(dataset.get("scale") or 4)
        if scale & (scale - 1):
            raise ConfigError(f"datasets.{study['dataset']}.scale: {scale}; the {record.name} network upsamples by "
                              "powers of two")
    if record.size_check:
        from gannorm.models.architectures import resolve

        try:
            resolve(record.size_check)(size)
        except ConfigError as err:
            raise ConfigError(f"datasets.{study['dataset']}.size (used by the {record.name} study {name}): {err}") from None


COMMON_DATASET_KEYS = {"source", "size", "test_images", "split_seed"}
SOURCE_KEYS: dict[str, set[str]] = {
    "digits": set(),
    "photo_patches": {"photos", "monitor", "patches", "photo_scale", "scale"},
    "cifar10": {"download", "classes", "split", "verify_md5"},
    "celeba": {"download", "crop", "split", "max_images"},
    "lsun": {"download", "crop", "max_images", "category"},
    "imagenet": {"folder", "classes_file", "resize", "scale", "monitor", "max_images"},
    "toy2d": {"points", "seed", "spread", "curvature", "noise", "offset"},
}
SPLIT_MODES = {"cifar10": ("merged", "official"), "celeba": ("official", "random")}
CELEBA_SIDE = 178  # the aligned CelebA images are 178 x 218 (width x height)
LSUN_SIDE = 256  # LSUN images have their short side 256


def dataset_size(spec: dict[str, Any]) -> int:
    """The image side a dataset's store will have (``size``, else the source's default;
    for celeba and lsun the default is ``crop``)."""
    from gannorm.data import DEFAULT_SIZES

    if spec.get("size") is not None:
        return int(spec["size"])
    if spec.get("source") in ("celeba", "lsun") and spec.get("crop") is not None:
        return int(spec["crop"])
    return DEFAULT_SIZES.get(spec.get("source", ""), 16)


def check_dataset(name: str, spec: dict[str, Any]) -> None:
    """Source-specific checks of one dataset entry (keys that apply, sizes, split sizes; for
    toy2d, points finite in float32 and with a spread, :func:`gannorm.data.toy2d.check_points`).

    Raises:
        ConfigError: naming ``datasets.<name>.<key>`` and what is expected.
    """
    key = f"datasets.{name}"
    source = spec.get("source")
    if source not in SOURCE_KEYS:
        raise ConfigError(f"{key}.source: unknown source {source!r}; known: {sorted(SOURCE_KEYS)}")
    allowed = COMMON_DATASET_KEYS | SOURCE_KEYS[source]
    for field in spec:
        if field not in allowed:
            raise ConfigError(f"{key}.{field}: not a key of source {source!r}; its keys: {sorted(allowed)}")
    test_images = int(spec.get("test_images", 2000))
    size = dataset_size(spec)
    if "split" in spec and spec["split"] not in SPLIT_MODES.get(source, ()):
        raise ConfigError(f"{key}.split: {spec['split']!r} is not a split of source {source!r}; "
                          f"use one of {list(SPLIT_MODES.get(source, ()))}")
    if source == "cifar10":
        classes = len(spec.get("classes") or range(10))
        if spec.get("split", "merged") == "merged":
            limit, what = 6000 * classes - 1, f"below the {6000 * classes} images of {classes} class(es)"
        else:
            limit, what = 1000 * classes, f"at most the {1000 * classes} test-batch images of {classes} class(es)"
        if test_images > limit:
            raise ConfigError(f"{key}.test_images: {test_images}, must be {what}")
    if source in ("celeba", "lsun"):
        side = CELEBA_SIDE if source == "celeba" else LSUN_SIDE
        crop = int(spec.get("crop") or (160 if source == "celeba" else LSUN_SIDE))
        if crop > side:
            raise ConfigError(f"{key}.crop: {crop} exceeds the {side} px short side of the {source} images")
        if size > crop:
            raise ConfigError(f"{key}.size: {size} exceeds the crop {crop} (size only scales the crop down)")
    if source in ("imagenet", "photo_patches") and spec.get("scale") is not None and size % int(spec["scale"]):
        raise ConfigError(f"{key}.scale: size {size} is not divisible by scale {spec['scale']}")
    if source == "photo_patches":
        from gannorm.data.photo_patches import AVAILABLE, DEFAULT_MONITOR, DEFAULT_PHOTOS

        monitor = spec.get("monitor", DEFAULT_MONITOR)
        if monitor not in AVAILABLE:
            raise ConfigError(f"{key}.monitor: {monitor!r} is not a bundled photograph; available: {AVAILABLE}")
        if monitor in spec.get("photos", DEFAULT_PHOTOS):
            raise ConfigError(f"{key}.monitor: {monitor!r} is also in photos; the monitor image must be held out")
        patches = int(spec.get("patches", 4096))
        if test_images >= patches:
            raise ConfigError(f"{key}.test_images: {test_images}, must be below patches ({patches})")
    if source == "toy2d":
        points = int(spec.get("points", 4096))
        test_points = int(spec.get("test_images", 2048))
        if test_points >= points:
            raise ConfigError(f"{key}.test_images: {test_points} held-out points, must be below points ({points})")
        from gannorm.data.toy2d import check_points

        try:  # draws the points (2 floats each): overflow or zero spread is found before any job runs
            check_points(spec, name)
        except ValueError as err:
            raise ConfigError(str(err)) from None
    if spec.get("max_images") is not None and test_images >= int(spec["max_images"]):
        raise ConfigError(f"{key}.test_images: {test_images}, must be below max_images ({spec['max_images']})")
