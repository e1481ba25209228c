"""Data sources and the store they all write (docs/design.md, Layout).

Each source module has ``prepare(dataset, spec, out_dir, data_root) -> Store``: it reads its
raw files (bundled with a package, or placed under ``<data_root>/<source>/`` by a download rule,
see :mod:`gannorm.data.download`) and streams them into a
:class:`~gannorm.data.store.StoreWriter`. :data:`SOURCES` maps the config's ``source`` names to
these functions; :data:`DEFAULT_SIZES` gives each source's image side when ``size`` is not set,
and :data:`NEEDS_DOWNLOAD` the sources with a download rule.

Sources (default ``size``; raw files):

* ``digits``: scikit-learn's handwritten digits (16; bundled)
* ``photo_patches``: random patches of scikit-image's photographs (32; bundled)
* ``cifar10``: CIFAR-10, train+test merged, optional class filter (32; downloaded)
* ``celeba``: CelebA aligned faces, central 160 px crops (160; downloaded or placed)
* ``lsun``: LSUN bedroom lmdb, centre 256 px crops (256; downloaded or placed)
* ``imagenet``: ImageNet subset, 288 px targets with 72 px inputs (288; placed)
* ``toy2d``: Johannsmeier's 2-D toy distribution (points, not images; generated from the seed;
  its own store format, :mod:`gannorm.data.toy2d`)
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable

from gannorm.data.store import Store, StoreError, open_store  # noqa: F401

PrepareFn = Callable[[str, dict[str, Any], Path, Path], Store]

DEFAULT_SIZES: dict[str, int] = {"digits": 16, "photo_patches": 32, "cifar10": 32, "celeba": 160, "lsun": 256,
                                 "imagenet": 288}
NEEDS_DOWNLOAD: tuple[str, ...] = ("cifar10", "celeba", "lsun", "imagenet")


def _lazy(module: str) -> PrepareFn:
    """A prepare function that imports its source module on first use (keeps imports light)."""

    def run(dataset: str, spec: dict[str, Any], out_dir: Path, data_root: Path) -> Store:
        return importlib.import_module(f"gannorm.data.{module}").prepare(dataset, spec, out_dir, data_root)

    run.__name__ = f"prepare_{module}"
    run.__doc__ = f"Prepare a store from source {module!r} (see gannorm.data.{module})."
    return run


def _prepare_toy2d(dataset: str, spec: dict[str, Any], out_dir: Path, data_root: Path):  # noqa: ARG001
    """Prepare the 2-D toy points (see :func:`gannorm.data.toy2d.prepare_toy2d`); the points are
    checked first (:func:`gannorm.data.toy2d.check_points`), errors naming ``datasets.<dataset>``."""
    from gannorm.data.toy2d import check_points, open_toy2d, prepare_toy2d

    check_points(spec, dataset)
    prepare_toy2d(spec, out_dir)  # its sidecar's "dataset" stays "toy2d", as stores already written have it
    return open_toy2d(out_dir)


SOURCES: dict[str, PrepareFn] = {name: _lazy(name) for name in DEFAULT_SIZES}
SOURCES["toy2d"] = _prepare_toy2d


def prepare(dataset: str, spec: dict[str, Any], out_dir: str | Path, data_root: str | Path = "resources") -> Store:
    """Build the store for one configured dataset.

    Args:
        dataset: the dataset's name in the config (used in messages and the sidecar).
        spec: its config entry (``source``, ``size``, ``test_images``, ``split_seed``, ...).
        out_dir: the store folder, ``results/<name>/data/<dataset>``.
        data_root: where download rules put raw files (``resources/`` by default).

    Raises:
        KeyError: unknown ``source`` (the schema normally rejects it first).
        StoreError: a statistic of the store is not finite (:func:`gannorm.data.store.check_finite_statistics`).
        ValueError: toy2d points not finite in float32 or with zero spread, naming the config key
            (:func:`gannorm.data.toy2d.check_points`); a config value that is not finite (store.json
            is strict JSON).
    """
    source = spec["source"]
    if source not in SOURCES:
        raise KeyError(f"dataset {dataset!r}: unknown source {source!r}; known: {sorted(SOURCES)}")
    store = SOURCES[source](dataset, spec, Path(out_dir), Path(data_root))
    if isinstance(store, Store):  # the config it was prepared from: part of a resume fingerprint
        from gannorm.io import write_json

        write_json(store.directory / "store.json", {**store.meta, "config": spec}, allow_nan=False)
        store = open_store(store.directory)
    return store
