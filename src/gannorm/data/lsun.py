"""LSUN bedroom as a store: centre 256x256 crops of the full-size images (Xiang & Li 2017, 5.1).

Raw files: the official LMDB database ``<data_root>/lsun/bedroom_train_lmdb/`` (``data.mdb``,
``lock.mdb``; 3,033,042 entries, about 43 GB), as unzipped from ``bedroom_train_lmdb.zip``
(https://github.com/fyu/lsun, ``download.py -c bedroom``). Each entry maps a key (the image's
SHA-1, 40 hex characters) to the encoded image bytes (WebP in the released database; JPEG is read
as well); the images are full size with their short side 256 pixels.

Preparation opens the database read-only with the ``lmdb`` package and walks its cursor, so it
streams: one image at a time is decoded (a few in flight with ``GANNORM_WORKERS`` threads) and
written into the memory-mapped store. Each image gives its central ``crop`` x ``crop`` square
(default 256, torchvision's centre-crop coordinates; no downsampling, as in the paper); an image
with a short side below ``crop`` is skipped, as is an entry that does not decode. ``size``
(default ``crop``) resizes the crop (antialiased bicubic) for smaller experiments.

``max_images`` keeps the first N entries in the database's key order. The keys are SHA-1 digests,
so this is a deterministic sample unrelated to content, read without scanning the whole database.
The held-out split is ``test_images`` (2,000 in the paper) at random from ``split_seed``.
Source checksums: a SHA-256 over key and value of every entry read (the database file itself is
43 GB), plus the database's entry count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from gannorm.data.common import (Digest, Progress, center_crop, decode_rgb, guarded, log, map_ordered, record_skip,
                                 resize, to_chw)
from gannorm.data.store import Store, StoreWriter

HOMEPAGE = "https://www.yf.io/p/lsun"
URL = "http://dl.yf.io/lsun/scenes/{category}_train_lmdb.zip"


def raw_dir(data_root: Path) -> Path:
    """``<data_root>/lsun``."""
    return Path(data_root) / "lsun"


def database(data_root: Path, category: str = "bedroom") -> Path:
    """The LMDB folder, ``<data_root>/lsun/<category>_train_lmdb``."""
    return raw_dir(data_root) / f"{category}_train_lmdb"


def missing_files(data_root: Path, category: str = "bedroom") -> list[str]:
    """The database files that are not in place (empty when ready)."""
    folder = database(data_root, category)
    return [str(folder / name) for name in ("data.mdb",) if not (folder / name).is_file()]


def download(data_root: Path, category: str = "bedroom") -> None:
    """Fetch ``<category>_train_lmdb.zip`` from the LSUN host and extract it (no checksum is
    published). The host is often unreachable; then this raises and the download rule lists the
    files to place by hand."""
    if not missing_files(data_root, category):
        return
    from torchvision.datasets.utils import download_and_extract_archive

    download_and_extract_archive(URL.format(category=category), download_root=str(raw_dir(data_root)),
                                 remove_finished=True)


def open_database(path: Path) -> Any:
    """Open an LMDB folder read-only (no lock file is written; safe on read-only disks).

    Raises:
        FileNotFoundError: ``path/data.mdb`` is missing.
        lmdb.Error: the database is corrupt.
    """
    import lmdb

    if not (Path(path) / "data.mdb").is_file():
        raise FileNotFoundError(f"{path}/data.mdb: missing (run the download_lsun rule)")
    return lmdb.open(str(path), readonly=True, lock=False, readahead=False, meminit=False, max_readers=1)


def iter_entries(env: Any, limit: int) -> Iterator[tuple[bytes, bytes]]:
    """Yield the first ``limit`` ``(key, value)`` pairs in key order, one at a time."""
    with env.begin(write=False) as txn:
        cursor = txn.cursor()
        for number, (key, value) in enumerate(cursor):
            if number >= limit:
                break
            yield bytes(key), bytes(value)


def prepare(dataset: str, spec: dict[str, Any], out_dir: Path, data_root: Path) -> Store:
    """Write the LSUN store (keys: ``category``, ``crop``, ``size``, ``max_images``,
    ``test_images``, ``split_seed``; see the module docstring).

    Returns the opened store, uint8 ``(N, 3, size, size)``.

    Raises:
        FileNotFoundError: the database is missing.
        StoreError: no usable images.
    """
    category = spec.get("category") or "bedroom"
    crop = int(spec.get("crop") or 256)
    size = int(spec.get("size") or crop)
    path = database(data_root, category)
    env = open_database(path)
    try:
        entries = int(env.stat()["entries"])
        limit = entries if spec.get("max_images") is None else min(entries, int(spec["max_images"]))
        log(f"{path}: {entries} entries, using {limit}")
        digest = Digest()

        def load(item: tuple[bytes, bytes]) -> Any:
            key, value = item
            name = key.decode(errors="replace")
            return to_chw(resize(center_crop(decode_rgb(value, name), crop, name), size))

        writer = StoreWriter(out_dir, capacity=max(1, limit), image_shape=(3, size, size))
        progress = Progress(f"{dataset}: images", limit)
        with guarded(writer):
            for (key, value), result in map_ordered(load, iter_entries(env, limit)):
                progress.step()
                name = key.decode(errors="replace")
                digest.update(name, value)
                if isinstance(result, BaseException):
                    record_skip(writer, name, str(result).split(": ", 1)[-1])
                    continue
                writer.add(result)
            log(f"{dataset}: {writer.count} images, {len(writer.skipped)} skipped")
            source = {"name": "lsun", "category": category, "homepage": HOMEPAGE, "database": path.name,
                      "entries": entries, "used_entries": limit,
                      "selection": "first max_images entries in key order (keys are SHA-1 digests)",
                      "images": digest.as_dict("key, value length and value bytes of every entry read, in key order")}
            extra = {"crop": crop,
                     "crop_rule": "torchvision center_crop: top=round((H-crop)/2), left=round((W-crop)/2)"}
            return writer.finish(dataset=dataset, source=source, test_count=int(spec.get("test_images", 2000)),
                                 split_seed=int(spec.get("split_seed", 0)), extra=extra)
    finally:
        env.close()
