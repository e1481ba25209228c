"""Data sources and the store they all write (DESIGN.md section 2, ``data/``).

Each source module has ``prepare(dataset, spec, out_dir, data_root) -> Store``: it reads its
raw files (bundled with a package, or placed under ``data_root`` by a download rule) and
streams them into a :class:`~gannorm.data.store.StoreWriter`. :data:`SOURCES` maps the
config's ``source`` names to these functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from gannorm.data.store import Store, StoreError, open_store  # noqa: F401

PrepareFn = Callable[[str, dict[str, Any], Path, Path], Store]


def _digits(dataset: str, spec: dict[str, Any], out_dir: Path, data_root: Path) -> Store:
    from gannorm.data import digits

    return digits.prepare(dataset, spec, out_dir, data_root)


SOURCES: dict[str, PrepareFn] = {
    "digits": _digits,
}


def prepare(dataset: str, spec: dict[str, Any], out_dir: str | Path, data_root: str | Path = "resources") -> Store:
    """Build the store for one configured dataset.

    Args:
        dataset: the dataset's name in the config (used in messages and the sidecar).
        spec: its config entry (``source``, ``size``, ``test_images``, ``split_seed``, ...).
        out_dir: the store folder, ``results/<name>/data/<dataset>``.
        data_root: where download rules put raw files (``resources/`` by default).

    Raises:
        KeyError: unknown ``source`` (the schema normally rejects it first).
    """
    source = spec["source"]
    if source not in SOURCES:
        raise KeyError(f"dataset {dataset!r}: unknown source {source!r}; known: {sorted(SOURCES)}")
    return SOURCES[source](dataset, spec, Path(out_dir), Path(data_root))
