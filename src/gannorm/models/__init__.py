"""Layers and architectures of the studies.

Every architecture is one record of :mod:`gannorm.models.architectures` (its config dataclass,
builders, objective, evaluation); every normalization one entry of :mod:`gannorm.models.norms`;
a variant is a :class:`~gannorm.models.variant.Variant` record (a named preset or a config's
inline record). This package builds the networks of one cell:

* :func:`build_models` - ``(G, D, meta)`` with ``meta = {"architecture", "variant", "model",
  "data"}`` (plus ``"variant_record"`` when the variant is not the preset of its name), stored as
  ``checkpoint["model"]``;
* :func:`build_generator` - the generator rebuilt from such a meta (untrained; load the
  checkpoint's ``generator`` state dict into it);
* :func:`config_class` - the architecture's frozen config dataclass, the single home of its
  defaults (``gannorm.models.<arch>_config``, :mod:`gannorm.models.configs`).

``data`` is ``{"size", "channels", "mean_pm1", "std_pm1", "input_size"}`` (see the contract in
:mod:`gannorm.models.dcgan` / :mod:`gannorm.models.resnet` docstrings for the keys each reads).

Importing this package does not import torch (the config check at Snakefile parse time uses the
registries); the network modules and the names re-exported here from :mod:`gannorm.models.dcgan`
and :mod:`gannorm.models.layers` are imported on first use.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

from gannorm.models import architectures
from gannorm.models.configs import ARCHITECTURE_CONFIGS, config_class  # noqa: F401
from gannorm.models.variant import Variant, parse_variant, preset

if TYPE_CHECKING:
    import torch.nn as nn

#: names re-exported lazily (importing them imports torch)
_LAZY = {name: "gannorm.models.dcgan" for name in ("DCGANSpec", "Discriminator", "Generator", "build_dcgan")}
_LAZY.update({name: "gannorm.models.layers" for name in ("MeanOnlyBatchNorm2d", "TPReLU", "WNAddition", "WNConv2d",
                                                         "WNConvTranspose2d", "WNLinear", "clip_slopes")})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def architecture_module(architecture: str) -> ModuleType:
    """Import and return the module building ``architecture``'s networks.

    Raises:
        ValueError: unknown architecture (the message lists the known ones).
        ImportError: the architecture's module is missing or fails to import.
    """
    path = architectures.get(architecture).module
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as err:
        if err.name == path:
            raise ImportError(f"architecture {architecture!r}: module {path} is not available") from err
        raise


def variants(architecture: str) -> tuple[str, ...]:
    """The variants its papers compare, e.g. ``("vanilla", "batch", "weight")`` for ``resnet``
    (any preset or record the architecture can take also works); does not import torch.

    Raises:
        ValueError: unknown architecture.
    """
    return architectures.get(architecture).paper_variants


def variant_meta(variant: Variant) -> dict[str, Any]:
    """What a checkpoint's meta records of a variant: its name, and its record when it is not the
    preset of that name (an inline record), so the checkpoint alone rebuilds the networks."""
    try:
        if preset(variant.name) == variant:
            return {"variant": variant.name}
    except KeyError:
        pass
    return {"variant": variant.name, "variant_record": variant.to_config()}


def meta_variant(meta: dict[str, Any]) -> Variant:
    """The variant a checkpoint's meta records (:func:`variant_meta`).

    Raises:
        ValueError: an unknown preset or a bad record.
    """
    if meta.get("variant_record") is not None:
        return parse_variant(meta["variant_record"], "checkpoint variant_record")
    return parse_variant(meta["variant"], "checkpoint variant")


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


def build_models(architecture: str, variant: str | Variant, model_cfg: dict[str, Any] | None,
                 data: dict[str, Any]) -> tuple[nn.Module, nn.Module | None, dict[str, Any]]:
    """Build the networks of one study cell.

    Args:
        architecture: a name of :mod:`gannorm.models.architectures`.
        variant: a preset's name or a :class:`~gannorm.models.variant.Variant` record.
        model_cfg: the study's ``model`` section (missing keys -> the architecture's paper
            defaults, see its module docstring); ``None`` = all defaults.
        data: ``{"size", "channels", "mean_pm1", "std_pm1", "input_size"}`` of the dataset.

    Returns:
        ``(generator, discriminator_or_None, meta)``; ``meta = {"architecture", "variant",
        "model", "data"}`` (and ``"variant_record"``, :func:`variant_meta`) holds plain Python values
        (lists, not arrays) and is what :func:`build_generator` needs. Every deferred weight
        reparametrization is applied (:func:`gannorm.models.normalize.reparametrize`).

    Raises:
        ValueError: unknown architecture or variant, a variant the architecture cannot take (and
            whatever the builder raises for bad config values).
    """
    from gannorm.models.normalize import reparametrize

    record = preset_or_record(variant)
    meta = {"architecture": architecture, **variant_meta(record), "model": _plain(dict(model_cfg or {})),
            "data": _plain(dict(data))}
    resolved = architectures.get(architecture).resolve_variant(record, meta["model"])
    generator, discriminator = architecture_module(architecture).build(resolved, meta["model"], meta["data"])
    return reparametrize(generator), reparametrize(discriminator), meta


def preset_or_record(variant: str | Variant) -> Variant:
    """``variant`` as a record (a name is looked up among the presets).

    Raises:
        ValueError: an unknown preset name.
    """
    if isinstance(variant, Variant):
        return variant
    return parse_variant(variant, "variant")


def build_generator(meta: dict[str, Any]) -> nn.Module:
    """The generator described by a checkpoint's ``meta`` (untrained: load its state dict next).

    Accepts the meta of :func:`build_models` and, for DCGAN checkpoints of the first format,
    ``{"architecture": "dcgan", **DCGANSpec.to_dict()}``.

    Raises:
        ValueError: unknown architecture or variant.
    """
    from gannorm.models.normalize import reparametrize

    meta = dict(meta)
    if "data" not in meta or "model" not in meta:  # first format: DCGANSpec fields
        if meta.pop("architecture", None) not in (None, architectures.FIRST_FORMAT):
            raise ValueError("a checkpoint meta without 'model' and 'data' is a DCGAN checkpoint of the first format")
        from gannorm.models.dcgan import DCGANSpec, Generator

        return Generator(DCGANSpec(**meta))
    record = architectures.get(meta["architecture"])
    resolved = record.resolve_variant(meta_variant(meta), meta["model"])
    module = architecture_module(meta["architecture"])
    if record.generator_builder:  # skips building a discriminator
        return reparametrize(module.build_generator(resolved, meta["model"], meta["data"]))
    return reparametrize(module.build(resolved, meta["model"], meta["data"])[0])
