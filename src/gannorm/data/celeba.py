"""CelebA as a store: central 160x160 crops of the aligned faces (Xiang & Li 2017, section 5.1).

Raw files under ``<data_root>/celeba/``:

* ``img_align_celeba/000001.jpg`` ... ``202599.jpg``: the aligned and cropped faces, 178 x 218
  (width x height) JPEGs (or ``img_align_celeba.zip``, which the download rule extracts);
* ``list_eval_partition.txt``: one line ``<file> <partition>`` per image, partition 0 = train,
  1 = validation, 2 = test (the official split).

The download rule tries torchvision's Google Drive download of exactly these two files (MD5s
from ``torchvision.datasets.CelebA``); Google Drive often refuses (quota), and then the rule
fails with the list of files to place by hand.

Preparation reads the images in the order of the partition file, takes the central
``crop`` x ``crop`` square (default 160; torchvision's centre-crop coordinates: top 29, left 9
for 178 x 218) and, if ``size`` differs from ``crop``, resizes it (antialiased bicubic).

How the partition file is used (``split``):

* ``official`` (default): the ``test_images`` held-out images (2,000 in the paper) are drawn at
  random (``split_seed``) from the usable images of the official test partition (2); all other
  images, partitions 0 and 1 and the remaining test-partition images, are training images.
  Xiang & Li hold out 2,000 images without saying which; drawing them from the official test
  partition keeps them disjoint from the official training identities.
* ``random``: the held-out images are drawn from all usable images; the partition file then only
  lists the images.

``max_images`` keeps a deterministic random subset (``split_seed``) of the listed images, in file
order. Listed images that are missing, corrupt, truncated or smaller than the crop are skipped
and listed in the sidecar. Source checksums: SHA-256 of ``list_eval_partition.txt``, and a
SHA-256 over the relative name and bytes of every image read (computed while reading).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gannorm.data.common import (BadImage, Digest, Progress, center_crop, decode_rgb, file_record, guarded, log,
                                 map_ordered, record_skip, resize, to_chw)
from gannorm.data.store import Store, StoreWriter

IMAGE_FOLDER = "img_align_celeba"
ARCHIVE = "img_align_celeba.zip"
PARTITION_FILE = "list_eval_partition.txt"
HOMEPAGE = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"
GDRIVE = {  # file -> (Google Drive id, md5), as in torchvision.datasets.CelebA.file_list
    ARCHIVE: ("0B7EVK8r0v71pZjFTYXZWM3FlRnM", "00d2c5bc6d35e252742224ab0c1e8fcb"),
    PARTITION_FILE: ("0B7EVK8r0v71pY0NSMzRuSXJEVkk", "d32c9cbf5e040fd4025c592c306e6668"),
}


def raw_dir(data_root: Path) -> Path:
    """``<data_root>/celeba``."""
    return Path(data_root) / "celeba"


def missing_files(data_root: Path) -> list[str]:
    """Human-readable list of the required raw files that are not in place (empty when ready)."""
    root = raw_dir(data_root)
    missing = []
    folder = root / IMAGE_FOLDER
    if not (folder.is_dir() and any(folder.glob("*.jpg"))):
        missing.append(f"{folder}/000001.jpg ... 202599.jpg (202,599 aligned 178x218 JPEGs; "
                       f"or the archive {root / ARCHIVE})")
    if not (root / PARTITION_FILE).is_file():
        missing.append(str(root / PARTITION_FILE))
    return missing


def download(data_root: Path) -> None:
    """Fetch the two files from Google Drive (MD5 checked) and extract the images.

    A placed ``img_align_celeba.zip`` is extracted without any download. Raises on failure.
    """
    from torchvision.datasets.utils import download_file_from_google_drive, extract_archive

    root = raw_dir(data_root)
    root.mkdir(parents=True, exist_ok=True)
    folder = root / IMAGE_FOLDER
    if not (folder.is_dir() and any(folder.glob("*.jpg"))):
        if not (root / ARCHIVE).is_file():
            file_id, md5 = GDRIVE[ARCHIVE]
            download_file_from_google_drive(file_id, str(root), ARCHIVE, md5)
        extract_archive(str(root / ARCHIVE), str(root))
    if not (root / PARTITION_FILE).is_file():
        file_id, md5 = GDRIVE[PARTITION_FILE]
        download_file_from_google_drive(file_id, str(root), PARTITION_FILE, md5)


def read_partition(path: Path) -> list[tuple[str, int]]:
    """Parse ``list_eval_partition.txt`` into ``[(file name, partition 0/1/2), ...]`` in file order.

    Raises:
        ValueError: a line is not ``<name> <0|1|2>`` (names the file and line number).
    """
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise ValueError(f"{path}:{number}: expected '<file> <0|1|2>', got {line!r}")
        entries.append((fields[0], int(fields[1])))
    if not entries:
        raise ValueError(f"{path}: no entries")
    return entries


def prepare(dataset: str, spec: dict[str, Any], out_dir: Path, data_root: Path) -> Store:
    """Write the CelebA store (keys: ``crop``, ``size``, ``test_images``, ``split``, ``split_seed``,
    ``max_images``; see the module docstring).

    Returns the opened store, uint8 ``(N, 3, size, size)``; the sidecar's ``partition`` counts
    images per official partition.

    Raises:
        FileNotFoundError: the partition file or the image folder is missing.
        ValueError: a malformed partition file, or fewer usable test-partition images than
            ``test_images`` with ``split: official``.
        StoreError: no usable images.
    """
    root = raw_dir(data_root)
    missing = missing_files(data_root)
    if missing:
        raise FileNotFoundError("CelebA files missing (run the download_celeba rule): " + "; ".join(missing))
    crop = int(spec.get("crop") or 160)
    size = int(spec.get("size") or crop)
    split = spec.get("split") or "official"
    if split not in ("official", "random"):
        raise ValueError(f"datasets.{dataset}.split: 'official' or 'random', got {split!r}")
    test_images = int(spec.get("test_images", 2000))
    seed = int(spec.get("split_seed", 0))
    entries = read_partition(root / PARTITION_FILE)
    max_images = spec.get("max_images")
    if max_images is not None and int(max_images) < len(entries):
        keep = np.sort(np.random.default_rng(seed).permutation(len(entries))[:int(max_images)])
        entries = [entries[i] for i in keep]
    folder = root / IMAGE_FOLDER
    digest = Digest()

    def load(entry: tuple[str, int]) -> tuple[bytes, np.ndarray]:
        name = entry[0]
        path = folder / name
        if not path.is_file():
            raise BadImage(f"{IMAGE_FOLDER}/{name}: missing (listed in {PARTITION_FILE})")
        data = path.read_bytes()
        image = center_crop(decode_rgb(data, f"{IMAGE_FOLDER}/{name}"), crop, f"{IMAGE_FOLDER}/{name}")
        return data, to_chw(resize(image, size))

    writer = StoreWriter(out_dir, capacity=len(entries), image_shape=(3, size, size))
    partitions: list[int] = []
    progress = Progress(f"{dataset}: images", len(entries))
    with guarded(writer):
        for (name, part), result in map_ordered(load, entries):
            progress.step()
            if isinstance(result, BaseException):
                record_skip(writer, f"{IMAGE_FOLDER}/{name}", str(result).split(": ", 1)[-1])
                continue
            data, image = result
            digest.update(name, data)
            writer.add(image)
            partitions.append(part)
        parts = np.asarray(partitions, dtype=np.int64)
        test_indices = None
        if split == "official" and writer.count:
            candidates = np.flatnonzero(parts == 2)
            if len(candidates) < test_images:
                raise ValueError(f"datasets.{dataset}.test_images: {test_images} requested, but only "
                                 f"{len(candidates)} usable images are in the official test partition (2) of "
                                 f"{root / PARTITION_FILE}; use fewer, or split: random")
            test_indices = np.sort(np.random.default_rng(seed).permutation(candidates)[:test_images])
        log(f"{dataset}: {writer.count} images, {len(writer.skipped)} skipped")
        source = {"name": "celeba", "homepage": HOMEPAGE, "files": [file_record(root / PARTITION_FILE, root)],
                  "images": digest.as_dict(f"relative name, size and bytes of every {IMAGE_FOLDER}/*.jpg read, "
                                           f"in {PARTITION_FILE} order")}
        extra = {"crop": crop, "split_mode": split,
                 "partition": {str(p): int((parts == p).sum()) for p in (0, 1, 2)},
                 "crop_rule": "torchvision center_crop: top=round((H-crop)/2), left=round((W-crop)/2)"}
        return writer.finish(dataset=dataset, source=source, test_count=test_images, split_seed=seed,
                             test_indices=test_indices, extra=extra)
