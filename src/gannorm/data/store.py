"""The dataset store: one uint8 array plus a JSON sidecar (docs/design.md, Engineering rules).

Every data source (digits, CIFAR-10, CelebA, ...) is converted once into a store folder::

    <dir>/images.npy   uint8, shape (N, C, H, W), values 0..255 (image = array / 255 in [0, 1])
    <dir>/store.json   sidecar: shape, per-channel mean/std, train/test split, source checksums,
                       skipped files
    <dir>/inputs.npy   optional, uint8 (N, C, h, w): an aligned second image per image, e.g. the
                       72 px low-resolution input of each 288 px target for 4x super-resolution
                       (Mullery & Whelan); listed in the sidecar under ``inputs``

Training then memory-maps ``images.npy`` and draws batches by index, so no image file is decoded
per iteration. Sources stream images into a :class:`StoreWriter`; the array is written under a
temporary name and the sidecar last, both renamed into place, so an interrupted preparation never
leaves a store that :func:`open_store` accepts.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from gannorm import __version__
from gannorm.io import atomic_path, read_json, write_json

ARRAY_NAME = "images.npy"
INPUTS_NAME = "inputs.npy"
SIDECAR_NAME = "store.json"
FORMAT = "gannorm-store/1"


class StoreError(RuntimeError):
    """A store is missing, incomplete, or its sidecar does not match its array."""


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks (no whole-file read)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _array_record(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": sha256_file(path)}


def check_finite_statistics(dataset: str, statistics: dict[str, Any], where: str = "store.json") -> None:
    """Refuse a store whose statistics (``mean``, ``std``, ...) are not all finite numbers: they
    are written to the strict-JSON sidecar and used by training.

    Raises:
        StoreError: naming the dataset, the statistic and its values.
    """
    for name, values in statistics.items():
        array = np.asarray(values, dtype=np.float64)
        if not np.isfinite(array).all():
            raise StoreError(f"dataset {dataset!r}: statistic {name!r} of the training data is not finite "
                             f"({array.tolist()}); {where} is not written")


def split_indices(count: int, test_count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic train/test split of ``count`` images.

    Returns ``(train, test)``: sorted int64 index arrays, ``len(test) == test_count``. The same
    ``(count, test_count, seed)`` always gives the same split.

    Raises:
        ValueError: if ``test_count`` is not in ``[1, count - 1]``.
    """
    if not 0 < test_count < count:
        raise ValueError(f"test_count must be between 1 and {count - 1} for {count} images, got {test_count}")
    perm = np.random.default_rng(seed).permutation(count)
    return np.sort(perm[test_count:]), np.sort(perm[:test_count])


@dataclass
class StoreWriter:
    """Stream images into a new store at ``directory``.

    Args:
        directory: the store folder (created if needed).
        capacity: the most images that will be added (e.g. the number of source files).
        image_shape: ``(C, H, W)`` of every image.

    Use :meth:`add` for each batch of images (uint8, shape ``(B, C, H, W)``), :meth:`skip` for
    each unreadable source file, then :meth:`finish`. Nothing is visible under the final names
    until :meth:`finish` returns.

    ``input_shape`` (optional, ``(C, h, w)``) adds a second, aligned array ``inputs.npy``: every
    :meth:`add` then passes ``inputs`` of shape ``(B, *input_shape)`` beside the images (the
    low-resolution inputs of a super-resolution pair).
    """

    directory: Path
    capacity: int
    image_shape: tuple[int, int, int]
    count: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    input_shape: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.capacity < 1:
            raise ValueError(f"capacity must be positive, got {self.capacity}")
        self.image_shape = tuple(int(s) for s in self.image_shape)  # type: ignore[assignment]
        # Remove the final names first: a rerun after a crash starts clean, and a half-old,
        # half-new store can never be opened.
        for name in (SIDECAR_NAME, ARRAY_NAME, INPUTS_NAME):
            (self.directory / name).unlink(missing_ok=True)
        # Leftovers of a killed earlier run (partial arrays under temporary names).
        for name in (ARRAY_NAME, INPUTS_NAME):
            for stale in self.directory.glob(f".{name}.*-*"):
                stale.unlink(missing_ok=True)
        self._tmp = self.directory / f".{ARRAY_NAME}.partial-{os.getpid()}"
        self._array = np.lib.format.open_memmap(self._tmp, mode="w+", dtype=np.uint8,
                                                shape=(self.capacity, *self.image_shape))
        self._inputs_tmp: Path | None = None
        if self.input_shape is not None:
            self.input_shape = tuple(int(s) for s in self.input_shape)  # type: ignore[assignment]
            self._inputs_tmp = self.directory / f".{INPUTS_NAME}.partial-{os.getpid()}"
            self._inputs = np.lib.format.open_memmap(self._inputs_tmp, mode="w+", dtype=np.uint8,
                                                     shape=(self.capacity, *self.input_shape))
        channels = self.image_shape[0]
        self._sums = np.zeros((self.capacity, channels), dtype=np.float64)
        self._sq_sums = np.zeros((self.capacity, channels), dtype=np.float64)

    def add(self, images: np.ndarray, inputs: np.ndarray | None = None) -> None:
        """Append images, uint8 array of shape ``(B, C, H, W)``.

        ``inputs`` (uint8 ``(B, *input_shape)``) is required exactly when the writer was made
        with ``input_shape``.

        Raises:
            ValueError: wrong dtype or shape, or more images than ``capacity``.
        """
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[None]
        if images.dtype != np.uint8:
            raise ValueError(f"store images must be uint8, got {images.dtype}")
        if tuple(images.shape[1:]) != self.image_shape:
            raise ValueError(f"image shape {tuple(images.shape[1:])} does not match the store's {self.image_shape}")
        end = self.count + len(images)
        if end > self.capacity:
            raise ValueError(f"more images than the store's capacity {self.capacity}")
        if self.input_shape is None:
            if inputs is not None:
                raise ValueError("inputs given, but the store was made without input_shape")
        else:
            if inputs is None:
                raise ValueError(f"this store pairs every image with an input of shape {self.input_shape}")
            inputs = np.asarray(inputs)
            if inputs.ndim == 3:
                inputs = inputs[None]
            if inputs.dtype != np.uint8 or tuple(inputs.shape) != (len(images), *self.input_shape):
                raise ValueError(f"inputs must be uint8 of shape {(len(images), *self.input_shape)}, "
                                 f"got {inputs.dtype} {tuple(inputs.shape)}")
            self._inputs[self.count:end] = inputs
        self._array[self.count:end] = images
        values = images.astype(np.float64) / 255.0
        self._sums[self.count:end] = values.mean(axis=(2, 3))
        self._sq_sums[self.count:end] = (values ** 2).mean(axis=(2, 3))
        self.count = end

    def skip(self, file: str, reason: str) -> None:
        """Record a source file that could not be used (corrupt, truncated, wrong format)."""
        self.skipped.append({"file": str(file), "reason": str(reason)})

    def finish(self, *, dataset: str, source: dict[str, Any], test_count: int, split_seed: int = 0,
               test_indices: Sequence[int] | None = None, extra: dict[str, Any] | None = None) -> "Store":
        """Write the sidecar and move the array into place; return the opened :class:`Store`.

        The split is ``test_indices`` when given (e.g. from an official partition file), else a
        deterministic random split of ``test_count`` images from ``split_seed``. Per-channel mean
        and std are computed over the training images, in [0, 1] scale (``mean``, ``std``) and in
        [-1, 1] scale (``mean_pm1``, ``std_pm1``).

        The sidecar is strict JSON (no ``NaN``/``Infinity``).

        Raises:
            StoreError: no usable image was added; a statistic is not finite (naming the dataset
                and the statistic; the partial arrays are removed).
        """
        if self.count == 0:
            self.abort()
            detail = f"; {len(self.skipped)} files skipped, first: {self.skipped[0]}" if self.skipped else ""
            raise StoreError(f"no usable images for dataset {dataset!r}{detail}")
        self._array.flush()
        self._tmp = _fit_npy(self._array, self._tmp, self.count, ARRAY_NAME)
        del self._array
        if self._inputs_tmp is not None:
            self._inputs.flush()
            self._inputs_tmp = _fit_npy(self._inputs, self._inputs_tmp, self.count, INPUTS_NAME)
            del self._inputs
        if test_indices is not None:
            test = np.unique(np.asarray(test_indices, dtype=np.int64))
            if len(test) == 0 or test.min() < 0 or test.max() >= self.count:
                raise StoreError(f"test indices out of range for {self.count} images")
            train = np.setdiff1d(np.arange(self.count), test)
        else:
            train, test = split_indices(self.count, test_count, split_seed)
        mean = self._sums[:self.count][train].mean(axis=0)
        mean_sq = self._sq_sums[:self.count][train].mean(axis=0)
        std = np.sqrt(np.maximum(mean_sq - mean ** 2, 0.0))
        try:
            check_finite_statistics(dataset, {"mean": mean, "std": std, "mean_pm1": 2 * mean - 1, "std_pm1": 2 * std},
                                    where=str(self.directory / SIDECAR_NAME))
        except StoreError:
            self.abort()
            raise
        sidecar = {
            "format": FORMAT,
            "dataset": dataset,
            "shape": [self.count, *self.image_shape],
            "count": self.count,
            "dtype": "uint8",
            "scale": "image = array / 255, in [0, 1]",
            "mean": mean.tolist(),
            "std": std.tolist(),
            "mean_pm1": (2 * mean - 1).tolist(),
            "std_pm1": (2 * std).tolist(),
            "split": {"seed": int(split_seed), "train_count": int(len(train)), "test_count": int(len(test)),
                      "test_indices": test.tolist()},
            "skipped": self.skipped,
            "skipped_count": len(self.skipped),
            "source": source,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "gannorm_version": __version__,
        }
        if self._inputs_tmp is not None:
            sidecar["inputs"] = {"file": INPUTS_NAME, "shape": [self.count, *self.input_shape], "dtype": "uint8"}
        if extra:
            sidecar.update(extra)
        # Content checksums of the arrays, verified before training and evaluation (Store.verify)
        # and part of a resume checkpoint's fingerprint.
        sidecar["arrays"] = {ARRAY_NAME: _array_record(self._tmp)}
        if self._inputs_tmp is not None:
            sidecar["arrays"][INPUTS_NAME] = _array_record(self._inputs_tmp)
        os.replace(self._tmp, self.directory / ARRAY_NAME)
        if self._inputs_tmp is not None:
            os.replace(self._inputs_tmp, self.directory / INPUTS_NAME)
        write_json(self.directory / SIDECAR_NAME, sidecar, allow_nan=False)
        return open_store(self.directory)

    def abort(self) -> None:
        """Remove the partial array(s) (call on an error before :meth:`finish`)."""
        if hasattr(self, "_array"):
            del self._array
        if hasattr(self, "_inputs"):
            del self._inputs
        self._tmp.unlink(missing_ok=True)
        if getattr(self, "_inputs_tmp", None) is not None:
            self._inputs_tmp.unlink(missing_ok=True)


def _fit_npy(array: np.memmap, path: Path, count: int, name: str) -> Path:
    """Make the ``.npy`` at ``path`` hold only its first ``count`` rows; return its path.

    When files were skipped the array was made for more images than it holds. The header is
    rewritten in place and the file truncated (numpy pads headers so the first axis can change
    without moving the data), so a large store (LSUN) is never copied; if the header would change
    length the rows are copied into a new file instead. ``array`` is the open memmap of ``path``;
    the caller drops it afterwards.
    """
    capacity = array.shape[0]
    if count == capacity:
        return path
    row_bytes = int(np.prod(array.shape[1:], dtype=np.int64)) * array.dtype.itemsize
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": np.lib.format.dtype_to_descr(array.dtype),
                                                  "fortran_order": False, "shape": (count, *array.shape[1:])})
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            np.lib.format.read_array_header_1_0(handle)
        else:
            np.lib.format.read_array_header_2_0(handle)
        offset = handle.tell()
    if version == (1, 0) and len(header.getvalue()) == offset:
        array._mmap.close()  # type: ignore[attr-defined]
        with open(path, "r+b") as handle:
            handle.write(header.getvalue())
            handle.truncate(offset + count * row_bytes)
        return path
    final = path.parent / f".{name}.exact-{os.getpid()}"
    exact = np.lib.format.open_memmap(final, mode="w+", dtype=array.dtype, shape=(count, *array.shape[1:]))
    step = 4096
    for start in range(0, count, step):
        exact[start:start + step] = array[start:min(start + step, count)]
    exact.flush()
    del exact
    array._mmap.close()  # type: ignore[attr-defined]
    path.unlink()
    return final


@dataclass
class Store:
    """An opened store. ``images`` is a read-only memory map, uint8 ``(N, C, H, W)``.

    ``inputs`` is the optional aligned second array (uint8 ``(N, C, h, w)``, e.g. the 72 px
    super-resolution inputs of 288 px images), else ``None``.
    """

    directory: Path
    meta: dict[str, Any]
    images: np.ndarray
    train_indices: np.ndarray
    test_indices: np.ndarray
    inputs: np.ndarray | None = None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    def as_float(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Images at ``indices`` as float32 ``(B, C, H, W)`` in [0, 1]."""
        return self.images[np.asarray(indices)].astype(np.float32) / 255.0

    @property
    def content_checksum(self) -> str | None:
        """SHA-256 (hex) over the arrays' checksums recorded at prepare time (``store.json``'s
        ``arrays``); ``None`` for a store written before they were recorded."""
        arrays = self.meta.get("arrays")
        if not arrays:
            return None
        return hashlib.sha256(json.dumps(arrays, sort_keys=True).encode()).hexdigest()

    def verify(self) -> None:
        """Check every array against the size and SHA-256 recorded in ``store.json`` (a truncated,
        rewritten or swapped file), before a job trains or evaluates on it.

        Raises:
            StoreError: a mismatch, naming the file, the recorded and the found value, and how to
                rebuild the store.
        """
        for name, record in (self.meta.get("arrays") or {}).items():
            path = self.directory / name
            size = path.stat().st_size if path.is_file() else None
            if size != record.get("bytes"):
                raise StoreError(f"{path}: {size} bytes, but store.json recorded {record.get('bytes')}; the file "
                                 f"was truncated or replaced: delete {self.directory} and rerun to rebuild it")
            digest = sha256_file(path)
            if digest != record.get("sha256"):
                raise StoreError(f"{path}: SHA-256 {digest[:16]}..., but store.json recorded "
                                 f"{str(record.get('sha256'))[:16]}...; the file was changed: delete "
                                 f"{self.directory} and rerun to rebuild it")


def open_verified(directory: str | os.PathLike) -> Store:
    """:func:`open_store`, then :meth:`Store.verify` (the arrays' checksums from prepare time), before
    any work reads a truncated or changed file.

    Raises:
        StoreError: as :func:`open_store` and :meth:`Store.verify`, naming the file.
    """
    store = open_store(directory)
    store.verify()
    return store


def open_store(directory: str | os.PathLike) -> Store:
    """Open and validate the store at ``directory``.

    Raises:
        StoreError: a file is missing, the sidecar is not a store sidecar, or its shape, count,
            dtype or split does not match the array (e.g. a store left by an interrupted run or
            edited by hand). The message names the file and the mismatch.
    """
    directory = Path(directory)
    array_path, sidecar_path = directory / ARRAY_NAME, directory / SIDECAR_NAME
    for path in (sidecar_path, array_path):
        if not path.is_file():
            raise StoreError(f"{path}: missing; prepare the dataset first (snakemake rule prepare_dataset)")
    try:
        meta = read_json(sidecar_path)
    except ValueError as err:
        raise StoreError(str(err)) from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise StoreError(f"{sidecar_path}: not a {FORMAT} sidecar")
    try:
        images = np.load(array_path, mmap_mode="r")
    except (ValueError, OSError) as err:
        raise StoreError(f"{array_path}: unreadable array ({err})") from err
    if images.dtype != np.uint8:
        raise StoreError(f"{array_path}: dtype {images.dtype}, expected uint8")
    if list(images.shape) != list(meta.get("shape", [])) or meta.get("count") != images.shape[0]:
        raise StoreError(f"{sidecar_path}: sidecar says shape {meta.get('shape')} and count {meta.get('count')}, "
                         f"but {array_path} has shape {list(images.shape)}; rerun the prepare rule")
    split = meta.get("split", {})
    test = np.asarray(split.get("test_indices", []), dtype=np.int64)
    if len(test) != split.get("test_count") or (len(test) and (test.min() < 0 or test.max() >= images.shape[0])):
        raise StoreError(f"{sidecar_path}: split does not match the {images.shape[0]} images of {array_path}")
    train = np.setdiff1d(np.arange(images.shape[0]), test)
    inputs = None
    if meta.get("inputs"):
        inputs_path = directory / str(meta["inputs"].get("file", INPUTS_NAME))
        if not inputs_path.is_file():
            raise StoreError(f"{inputs_path}: missing, but {sidecar_path} lists it; rerun the prepare rule")
        try:
            inputs = np.load(inputs_path, mmap_mode="r")
        except (ValueError, OSError) as err:
            raise StoreError(f"{inputs_path}: unreadable array ({err})") from err
        if inputs.dtype != np.uint8 or list(inputs.shape) != list(meta["inputs"].get("shape", [])) \
                or inputs.shape[0] != images.shape[0]:
            raise StoreError(f"{sidecar_path}: sidecar says inputs shape {meta['inputs'].get('shape')}, but "
                             f"{inputs_path} has {inputs.dtype} {list(inputs.shape)} for {images.shape[0]} images; "
                             f"rerun the prepare rule")
    return Store(directory=directory, meta=meta, images=images, train_indices=train, test_indices=test,
                 inputs=inputs)
