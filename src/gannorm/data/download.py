"""Download rules' entry point: fetch a dataset's raw files, or check the ones a user placed.

    python -m gannorm.data.download --source cifar10 --data-root resources [--spec JSON]... [--offline]

Raw files go under ``<data_root>/<source>/`` (Snakemake's ``resources/`` convention; shared by
every configured dataset of that source). The command

1. returns at once if the files are already in place (no network);
2. otherwise, for a source with an automatic download (CIFAR-10 from its official host, CelebA
   from Google Drive, LSUN from its host) and without ``--offline`` (or a spec with
   ``download: false``), fetches them with torchvision's download utilities;
3. if they are still missing (ImageNet never downloads; hosts refuse), exits with status 1 and
   a message listing the exact files expected, the folder, and where to get them.

On success it writes ``<data_root>/<source>/download.json`` (the rule's output): the files found
with their sizes, and SHA-256 for the small ones (the big ones are checksummed by preparation
while it reads them).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from gannorm.data import celeba, cifar10, imagenet, lsun
from gannorm.data.common import file_record
from gannorm.io import write_json

MANIFEST = "download.json"
DOWNLOADABLE = ("cifar10", "celeba", "lsun", "imagenet")


class MissingFiles(RuntimeError):
    """Raw dataset files are missing and cannot be fetched; the message lists them."""


def manifest_path(data_root: str | Path, source: str) -> Path:
    """``<data_root>/<source>/download.json``, the download rule's output."""
    return Path(data_root) / source / MANIFEST


def raw_fingerprint(data_root: str | Path, source: str, content_below: int = 1 << 20) -> str:
    """SHA-256 (hex) of a source's raw files under ``<data_root>/<source>/`` as they are now: every
    file's relative path, size and modification time, and the content of files under
    ``content_below`` bytes (partition and list files such as CelebA's ``list_eval_partition.txt``);
    the download manifest itself is left out. The prepare rule takes it as a parameter, so a
    repaired image or an edited partition file rebuilds the store. ``""`` when the folder does
    not exist (yet)."""
    import hashlib
    import os

    folder = Path(data_root) / source
    if not folder.is_dir():
        return ""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if path == folder / MANIFEST:
                continue
            info = path.stat()
            digest.update(f"{path.relative_to(folder)}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
            if info.st_size < content_below:
                digest.update(path.read_bytes())
    return digest.hexdigest()


def _missing(source: str, data_root: Path, specs: list[dict[str, Any]]) -> list[str]:
    if source == "cifar10":
        return [str(p) for p in cifar10.expected_files(data_root) if not p.is_file()]
    if source == "celeba":
        return celeba.missing_files(data_root)
    if source == "lsun":
        categories = sorted({spec.get("category") or "bedroom" for spec in specs} or {"bedroom"})
        return [f for c in categories for f in lsun.missing_files(data_root, c)]
    if source == "imagenet":
        return sorted({f for spec in (specs or [{}]) for f in imagenet.missing_files(spec, data_root)})
    raise ValueError(f"source {source!r} has no download step; known: {DOWNLOADABLE}")


def _where(source: str, data_root: Path, specs: list[dict[str, Any]]) -> str:
    root = Path(data_root) / source
    if source == "cifar10":
        return (f"Get {cifar10.URL} (md5 {cifar10.ARCHIVE_MD5}, from {cifar10.HOMEPAGE}) and extract it in {root}, "
                f"so that {root / cifar10.FOLDER} holds the six batches.")
    if source == "celeba":
        return (f"Get 'Align&Cropped Images/{celeba.ARCHIVE}' and 'Eval/{celeba.PARTITION_FILE}' from "
                f"{celeba.HOMEPAGE} (Google Drive or Baidu links there), put both in {root} and unzip the archive "
                f"there (or leave the zip: this rule extracts it).")
    if source == "lsun":
        categories = sorted({spec.get("category") or "bedroom" for spec in specs} or {"bedroom"})
        urls = ", ".join(lsun.URL.format(category=c) for c in categories)
        return (f"Get {urls} (see {lsun.HOMEPAGE} and https://github.com/fyu/lsun, download.py -c bedroom) and "
                f"unzip it in {root}, so that {root}/<category>_train_lmdb/data.mdb exists.")
    return (f"ImageNet needs an account: download ILSVRC2012_img_train.tar (or the Kaggle ILSVRC2017 "
            f"'imagenet-object-localization-challenge' archive) from {imagenet.HOMEPAGE}, extract the per-class "
            f"archives, and put (or symlink) the folder of class subfolders at {root / 'train'} "
            f"(or set the dataset's folder key to its path).")


def _fetchers(data_root: Path, specs: list[dict[str, Any]]) -> dict[str, Callable[[], None]]:
    categories = sorted({spec.get("category") or "bedroom" for spec in specs} or {"bedroom"})

    def fetch_lsun() -> None:
        for category in categories:
            lsun.download(data_root, category)

    return {
        "cifar10": lambda: cifar10.download(data_root),
        "celeba": lambda: celeba.download(data_root),
        "lsun": fetch_lsun,
    }


def ensure(source: str, data_root: str | Path, specs: Sequence[dict[str, Any]] = (), offline: bool = False) -> Path:
    """Make sure ``source``'s raw files are under ``<data_root>/<source>/``; write the manifest.

    Args:
        source: ``cifar10``, ``celeba``, ``lsun`` or ``imagenet``.
        data_root: the config's ``data_root``.
        specs: the config entries of the datasets using this source (their ``category``,
            ``folder``, ``classes_file``, ``monitor`` and ``download`` keys are honoured).
        offline: never use the network (also when any spec has ``download: false``).

    Returns the manifest path.

    Raises:
        MissingFiles: files are missing after the download attempt (or without one); the message
            lists each expected file, the folder, where to get them, and the download error.
    """
    data_root = Path(data_root)
    specs = list(specs)
    offline = offline or any(spec.get("download") is False for spec in specs)
    missing = _missing(source, data_root, specs)
    error = ""
    if missing and not offline and source in _fetchers(data_root, specs):
        print(f"{source}: fetching into {data_root / source} ...", file=sys.stderr, flush=True)
        try:
            _fetchers(data_root, specs)[source]()
        except Exception as err:  # network refused, quota, checksum mismatch: fall through to the message
            error = f"{type(err).__name__}: {err}"
        missing = _missing(source, data_root, specs)
    if missing:
        lines = [f"{source}: the raw files are not in {data_root / source}; expected:"]
        lines += [f"  {item}" for item in missing]
        lines.append(_where(source, data_root, specs))
        if error:
            lines.append(f"The automatic download failed: {error}")
        elif offline and source in DOWNLOADABLE[:3]:
            lines.append("(Automatic download is switched off for this dataset: download: false.)")
        raise MissingFiles("\n".join(lines))
    return write_manifest(source, data_root, specs)


def write_manifest(source: str, data_root: Path, specs: Sequence[dict[str, Any]] = ()) -> Path:
    """Record the raw files found (name, size; SHA-256 of small files) in ``download.json``."""
    root = Path(data_root) / source
    files: list[dict[str, Any]] = []
    if source == "cifar10":
        files = [file_record(p, root) for p in cifar10.expected_files(data_root)]
    elif source == "celeba":
        files = [file_record(root / celeba.PARTITION_FILE, root)]
        folder = root / celeba.IMAGE_FOLDER
        files.append({"path": celeba.IMAGE_FOLDER + "/", "jpg_files": sum(1 for _ in folder.glob("*.jpg"))})
    elif source == "lsun":
        for folder in sorted(root.glob("*_train_lmdb")):
            files += [{"path": f"{folder.name}/{p.name}", "bytes": p.stat().st_size} for p in sorted(folder.glob("*.mdb"))]
    elif source == "imagenet":
        for spec in specs or [{}]:
            folder = imagenet.image_folder(spec, data_root)
            files.append({"path": str(folder), "class_folders": len(imagenet.list_classes(folder))})
            listed = imagenet.classes_file(spec, data_root)
            if listed is not None:
                files.append(file_record(listed))
    path = manifest_path(data_root, source)
    write_json(path, {"source": source, "files": files, "checked": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    return path


#: The keys of a dataset's config entry that matter to its source's download.
DOWNLOAD_KEYS = ("download", "category", "folder", "classes_file", "monitor")


def download_specs(datasets: dict[str, dict[str, Any]], source: str) -> list[dict[str, Any]]:
    """The config entries that ``source``'s download takes (``--spec``, one per dataset of that
    source, in config order), each cut down to :data:`DOWNLOAD_KEYS`, so that changing e.g. a
    dataset's size does not rerun the download and, after it, every store of the source."""
    return [{k: spec[k] for k in DOWNLOAD_KEYS if k in spec} for spec in datasets.values()
            if spec["source"] == source]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line (see the module docstring). Returns 0, or exits 1 with the missing-files message."""
    parser = argparse.ArgumentParser(prog="python -m gannorm.data.download", description=__doc__.split("\n")[0])
    parser.add_argument("--source", required=True, choices=DOWNLOADABLE)
    parser.add_argument("--data-root", default="resources")
    parser.add_argument("--spec", action="append", default=[], type=json.loads,
                        help="a dataset's config entry as JSON (repeat for each dataset of this source)")
    parser.add_argument("--offline", action="store_true", help="never use the network; only check placed files")
    args = parser.parse_args(argv)
    try:
        path = ensure(args.source, args.data_root, args.spec, offline=args.offline)
    except MissingFiles as err:
        print(f"ERROR: {err}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    print(f"{args.source}: raw files in place; manifest {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
