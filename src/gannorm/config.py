"""Checks on a study configuration that its JSON schema cannot express.

The schema (``workflow/schemas/config.schema.yaml``) types every key, fills defaults and rejects
unknown keys and variants; :func:`check_config` then checks the cross-references: a study's
dataset exists, the image size suits the DCGAN builder, the evaluation subsets fit in the
test split. Both run when the Snakefile is parsed, before any job starts.
"""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """A configuration value is inconsistent; the message names the key path."""


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


def check_config(config: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` naming the first inconsistent key of a validated config."""
    datasets = config["datasets"]
    for name, spec in datasets.items():
        if spec.get("source") == "digits":
            try:
                dcgan_map_sizes(spec.get("size", 16))
            except ConfigError as err:
                raise ConfigError(f"datasets.{name}.size: {err}") from None
            if spec.get("test_images", 0) >= 1797:
                raise ConfigError(f"datasets.{name}.test_images: must be below 1797 (the digits count)")
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
