"""Layers and architectures of the studies (DESIGN.md section 2, ``models/``).

Every architecture module exposes ``VARIANTS`` and ``build(variant, model_cfg, data) ->
(generator, discriminator_or_None)``; this package maps architecture names to modules
(:data:`ARCHITECTURES`, imported lazily) and builds the pair plus the checkpoint meta:

* :func:`variants` - the variants of an architecture;
* :func:`build_models` - ``(G, D, meta)`` with ``meta = {"architecture", "variant", "model",
  "data"}``, stored as ``checkpoint["model"]``;
* :func:`build_generator` - the generator rebuilt from such a meta (untrained; load the
  checkpoint's ``generator`` state dict into it);
* :func:`config_class` - the architecture's frozen config dataclass, the single home of its
  defaults (``gannorm.models.<arch>_config``, :mod:`gannorm.models.configs`).

``data`` is ``{"size", "channels", "mean_pm1", "std_pm1", "input_size"}`` (see the contract in
:mod:`gannorm.models.dcgan` / :mod:`gannorm.models.resnet` docstrings for the keys each reads).

Importing this package does not import torch (the config check at Snakefile parse time uses the
config dataclasses); the network modules and the names re-exported here from
:mod:`gannorm.models.dcgan` and :mod:`gannorm.models.layers` are imported on first use.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

from gannorm.models.configs import ARCHITECTURE_CONFIGS, config_class  # noqa: F401

if TYPE_CHECKING:
    import torch.nn as nn

#: architecture name (config ``studies.<s>.architecture``) -> module implementing it
ARCHITECTURES: dict[str, str] = {name: f"gannorm.models.{name}" for name in ARCHITECTURE_CONFIGS}

#: names re-exported lazily (importing them imports torch)
_LAZY = {name: "gannorm.models.dcgan" for name in ("DCGANSpec", "Discriminator", "Generator", "build_dcgan")}
_LAZY.update({name: "gannorm.models.layers" for name in ("MeanOnlyBatchNorm2d", "TPReLU", "WNAddition", "WNConv2d",
                                                         "WNConvTranspose2d", "WNLinear", "clip_slopes")})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: architectures whose module also has ``build_generator(variant, model_cfg, data) -> G``
_GENERATOR_BUILDERS = ("dcgan", "resnet")


def architecture_module(architecture: str) -> ModuleType:
    """Import and return the module of ``architecture``.

    Raises:
        ValueError: unknown architecture (the message lists the known ones).
        ImportError: the architecture's module is missing or fails to import.
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; known: {tuple(ARCHITECTURES)}")
    path = ARCHITECTURES[architecture]
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as err:
        if err.name == path:
            raise ImportError(f"architecture {architecture!r}: module {path} is not available") from err
        raise


def variants(architecture: str) -> tuple[str, ...]:
    """The variants of ``architecture`` (its module's ``VARIANTS``, defined in its config module),
    e.g. ``("vanilla", "batch", "weight")`` for ``resnet``; does not import torch.

    Raises:
        ValueError: unknown architecture.
    """
    return tuple(config_class(architecture).variants)


def _plain(value: Any) -> Any:
    """``value`` with numpy/torch arrays and scalars turned into Python lists and numbers, tuples
    into lists (so a meta pickles without numpy and compares equal after a round trip)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):  # numpy / torch arrays and scalars
        return _plain(value.tolist())
    return value


def build_models(architecture: str, variant: str, model_cfg: dict[str, Any] | None,
                 data: dict[str, Any]) -> tuple[nn.Module, nn.Module | None, dict[str, Any]]:
    """Build the networks of one study cell.

    Args:
        architecture: a key of :data:`ARCHITECTURES`.
        variant: one of :func:`variants` ``(architecture)``.
        model_cfg: the study's ``model`` section (missing keys -> the architecture's paper
            defaults, see its module docstring); ``None`` = all defaults.
        data: ``{"size", "channels", "mean_pm1", "std_pm1", "input_size"}`` of the dataset.

    Returns:
        ``(generator, discriminator_or_None, meta)``; ``meta = {"architecture", "variant",
        "model", "data"}`` holds plain Python values (lists, not arrays) and is what
        :func:`build_generator` needs.

    Raises:
        ValueError: unknown architecture or variant (and whatever the builder raises for bad
            config values).
    """
    module = architecture_module(architecture)
    known = tuple(module.VARIANTS)
    if variant not in known:
        raise ValueError(f"unknown variant {variant!r} of architecture {architecture!r}; known: {known}")
    meta = {"architecture": architecture, "variant": variant, "model": _plain(dict(model_cfg or {})),
            "data": _plain(dict(data))}
    generator, discriminator = module.build(variant, meta["model"], meta["data"])
    return generator, discriminator, meta


def build_generator(meta: dict[str, Any]) -> nn.Module:
    """The generator described by a checkpoint's ``meta`` (untrained: load its state dict next).

    Accepts the meta of :func:`build_models` and, for DCGAN checkpoints of the first format,
    ``{"architecture": "dcgan", **DCGANSpec.to_dict()}``.

    Raises:
        ValueError: unknown architecture or variant.
    """
    meta = dict(meta)
    if "data" not in meta or "model" not in meta:  # first format: DCGANSpec fields
        architecture = meta.pop("architecture", "dcgan")
        if architecture != "dcgan":
            raise ValueError(f"checkpoint meta of architecture {architecture!r} lacks 'model' and 'data'")
        from gannorm.models.dcgan import DCGANSpec, Generator

        return Generator(DCGANSpec(**meta))
    module = architecture_module(meta["architecture"])
    if meta["variant"] not in tuple(module.VARIANTS):
        raise ValueError(f"unknown variant {meta['variant']!r} of architecture {meta['architecture']!r}")
    if meta["architecture"] in _GENERATOR_BUILDERS:  # skips building a discriminator
        return module.build_generator(meta["variant"], meta["model"], meta["data"])
    return module.build(meta["variant"], meta["model"], meta["data"])[0]
