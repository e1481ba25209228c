"""Tiny datasets in the real on-disk formats, made by the tests (no download, ever).

Images whose pixels encode their own coordinates let the tests read a crop's position off the
crop: red = x mod 256, green = y mod 256, blue = 16 * (x // 256) + (y // 256).
"""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path

import numpy as np
from PIL import Image


def coord_image(width: int, height: int) -> np.ndarray:
    """uint8 ``(height, width, 3)`` whose pixel (y, x) is (x % 256, y % 256, 16 * (x // 256) + y // 256)."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x % 256, y % 256, 16 * (x // 256) + y // 256], axis=-1).astype(np.uint8)


def crop_origin(crop_chw: np.ndarray) -> tuple[float, float]:
    """(top, left) of a crop of a :func:`coord_image`, averaged over the crop (robust to JPEG noise;
    valid for images under 256 px, where red and green are the plain coordinates)."""
    side_h, side_w = crop_chw.shape[1:]
    red, green = crop_chw[0].astype(np.float64), crop_chw[1].astype(np.float64)
    left = float(np.mean(red - np.arange(side_w)[None, :]))
    top = float(np.mean(green - np.arange(side_h)[:, None]))
    return top, left


def jpeg_bytes(pixels: np.ndarray, quality: int = 98) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality, subsampling=0)
    return buffer.getvalue()


def webp_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="WEBP", lossless=True)
    return buffer.getvalue()


def truncated(data: bytes) -> bytes:
    """An encoded image cut short (a download interrupted halfway)."""
    return data[: len(data) // 2]


# --- CIFAR-10: python pickle batches -------------------------------------------------------------


def make_cifar10(root: Path, per_batch: int = 20, corrupt: str | None = "data_batch_3", seed: int = 0) -> dict:
    """Write ``root/cifar10/cifar-10-batches-py/{data_batch_1..5,test_batch}`` with the real keys
    (``b"batch_label"``, ``b"labels"``, ``b"data"`` uint8 (N, 3072), ``b"filenames"``); labels cycle
    0..9. ``corrupt`` names a batch written truncated. Returns ``{batch name: (images NCHW, labels)}``."""
    folder = root / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = rng.integers(0, 256, size=(per_batch, 3, 32, 32), dtype=np.uint8)
        labels = [i % 10 for i in range(per_batch)]
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": images.reshape(per_batch, 3072),
                 b"filenames": [f"img_{i}.png".encode() for i in range(per_batch)]}
        data = pickle.dumps(batch, protocol=2)
        (folder / name).write_bytes(truncated(data) if name == corrupt else data)
        batches[name] = (images, np.asarray(labels))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"airplane"] * 10}, protocol=2))
    return batches


# --- CelebA: aligned JPEGs + list_eval_partition.txt ----------------------------------------------


def make_celeba(root: Path, count: int = 12, corrupt: int | None = 3, missing: int | None = 5) -> list[tuple[str, int]]:
    """Write ``root/celeba/img_align_celeba/000001.jpg ...`` (178 x 218 coordinate images) and
    ``list_eval_partition.txt`` (first half partition 0, then 1, the last third 2). Image ``corrupt``
    is truncated; image ``missing`` is listed but not written. Returns the partition entries."""
    folder = root / "celeba" / "img_align_celeba"
    folder.mkdir(parents=True, exist_ok=True)
    pixels = coord_image(178, 218)
    entries = []
    for i in range(1, count + 1):
        name = f"{i:06d}.jpg"
        part = 0 if i <= count // 2 else (1 if i <= 2 * count // 3 else 2)
        entries.append((name, part))
        if i == missing:
            continue
        data = jpeg_bytes(pixels)
        (folder / name).write_bytes(truncated(data) if i == corrupt else data)
    (root / "celeba" / "list_eval_partition.txt").write_text("".join(f"{n} {p}\n" for n, p in entries))
    return entries


# --- LSUN: lmdb of encoded images -----------------------------------------------------------------

LSUN_SIZES = [(340, 300), (256, 256), (300, 256), (256, 320), (200, 250), (256, 282), (258, 256)]  # (w, h)


def make_lsun(root: Path, corrupt: bool = True) -> list[tuple[str, tuple[int, int] | None]]:
    """Write ``root/lsun/bedroom_train_lmdb`` as the released database: keys are 40-character
    SHA-1 hex strings, values lossless WebP coordinate images of the sizes in :data:`LSUN_SIZES`
    (200 x 250 is below the 256 crop), plus one value of garbage bytes when ``corrupt``.
    Returns ``[(key, (w, h) or None for the corrupt one)]`` in key order."""
    import lmdb

    folder = root / "lsun" / "bedroom_train_lmdb"
    folder.mkdir(parents=True, exist_ok=True)
    items = {}
    for i, (width, height) in enumerate(LSUN_SIZES):
        key = hashlib.sha1(f"image-{i}".encode()).hexdigest()
        items[key] = (webp_bytes(coord_image(width, height)), (width, height))
    if corrupt:
        key = hashlib.sha1(b"corrupt").hexdigest()
        items[key] = (b"RIFF\x00\x01\x00\x00WEBPVP8 garbage" + bytes(range(200)), None)
    env = lmdb.open(str(folder), map_size=1 << 26, subdir=True)
    with env.begin(write=True) as txn:
        for key, (value, _) in items.items():
            txn.put(key.encode("ascii"), value)
    env.close()
    return [(key, items[key][1]) for key in sorted(items)]


# --- ImageNet: class folders of JPEGs ----------------------------------------------------------------


def make_imagenet(root: Path, classes: int = 3, per_class: int = 4, corrupt: str | None = "n00000002/img_01.JPEG",
                  sizes: tuple[tuple[int, int], ...] = ((100, 120), (120, 100), (96, 96), (110, 130))) -> Path:
    """Write ``root/imagenet/train/n0000000k/img_0j.JPEG`` coordinate images (sizes cycle through
    ``sizes`` as (w, h)); ``corrupt`` is truncated. Returns the train folder."""
    train = root / "imagenet" / "train"
    for c in range(classes):
        folder = train / f"n{c:08d}"
        folder.mkdir(parents=True, exist_ok=True)
        for j in range(per_class):
            width, height = sizes[(c + j) % len(sizes)]
            data = jpeg_bytes(coord_image(width, height))
            rel = f"n{c:08d}/img_{j:02d}.JPEG"
            (train / rel).write_bytes(truncated(data) if rel == corrupt else data)
    return train


class Payload:
    """Unpickled without restrictions, this creates ``marker`` (stands for any code an attacker runs);
    tests of untrusted files check that loading a file holding it creates nothing."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))
