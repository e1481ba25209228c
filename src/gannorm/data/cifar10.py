"""CIFAR-10 as a store (Xiang & Li 2017, section 5.1; Mullery & Whelan's frogs).

Raw files (put there by the ``download_cifar10`` rule, or by hand) under
``<data_root>/cifar10/cifar-10-batches-py/``: the python pickle batches ``data_batch_1`` ...
``data_batch_5`` (10,000 images each) and ``test_batch`` (10,000), each a dict with
``b"data"`` (uint8 ``(N, 3072)``, the red, green and blue 32x32 planes row by row) and
``b"labels"`` (N ints 0..9). ``download`` fetches the official archive with torchvision's
download utilities and checks its MD5.

Untrusted input is data, never code:

* Every batch file preparation reads must have its published MD5 (:data:`BATCH_MD5`, as
  torchvision lists them), and the archive too when it is still there (:data:`ARCHIVE_MD5`),
  whether the files were downloaded or placed by hand; a mismatch stops preparation
  (:class:`ChecksumMismatch`). Custom data in the CIFAR-10 format sets ``verify_md5: false``.
* A batch is unpickled by :class:`BatchUnpickler`, which only rebuilds numpy arrays (and the
  dicts, lists, ints and bytes around them) and refuses any other global of the pickle
  (:class:`UnsafePickle`, which stops preparation); nothing in a batch file is ever run.

Spec keys (``datasets.<name>`` in the config):

* ``classes``: class indices to keep (default all ten; ``[6]`` = frog).
* ``split``:
    - ``merged`` (default, Xiang & Li): the five training batches and the test batch are merged
      in that order (60,000 images, or 6,000 per kept class) and ``test_images`` of them
      (2,000 in the paper) are held out at random (``split_seed``).
    - ``official``: the store holds every training-batch image of the kept classes and
      ``test_images`` images drawn at random (``split_seed``) from the test batch, which form
      the test split. With ``classes: [6]`` this gives exactly the 5,000 training frogs of
      Mullery & Whelan; at most 1,000 test frogs exist.
* ``size``: image side (default 32, the native size; other sizes are antialiased bicubic resizes).
* ``verify_md5``: check the published MD5 of every batch file (default true); ``false`` for your
  own data in the CIFAR-10 format (the restricted unpickling stays on).

A batch that cannot be unpickled (truncated, corrupt), or whose keys or shapes are not CIFAR-10's,
is skipped and listed in the sidecar (with ``verify_md5: true`` such a file already fails its MD5
check); the others are used. Source checksums: SHA-256 of every batch file read (and of the archive
when it is still there), and ``md5_verified``.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any

import numpy as np

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy < 2
    from numpy.core.multiarray import _reconstruct

from gannorm.data.common import file_record, guarded, log, record_skip
from gannorm.data.store import Store, StoreWriter

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE = "cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCH = "test_batch"
#: Published MD5 of each batch file (torchvision's ``CIFAR10.train_list`` and ``test_list``).
BATCH_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
HOMEPAGE = "https://www.cs.toronto.edu/~kriz/cifar.html"


def raw_dir(data_root: Path) -> Path:
    """``<data_root>/cifar10``: where the download rule puts the archive and the batches."""
    return Path(data_root) / "cifar10"


def expected_files(data_root: Path) -> list[Path]:
    """The six batch files preparation reads."""
    folder = raw_dir(data_root) / FOLDER
    return [folder / name for name in (*TRAIN_BATCHES, TEST_BATCH)]


def download(data_root: Path) -> None:
    """Fetch and extract the official archive (MD5 checked) unless the batches are already there.

    Uses ``torchvision.datasets.utils.download_and_extract_archive``. Raises whatever it raises
    (``URLError``, ``RuntimeError`` on a checksum mismatch); the download CLI turns that into a
    message naming the files to place by hand.
    """
    if all(path.is_file() for path in expected_files(data_root)):
        return
    from torchvision.datasets.utils import download_and_extract_archive

    download_and_extract_archive(URL, download_root=str(raw_dir(data_root)), filename=ARCHIVE, md5=ARCHIVE_MD5)


class ChecksumMismatch(ValueError):
    """A CIFAR-10 file's MD5 is not the published one; the message names the file, both MD5s and
    the override."""


class UnsafePickle(pickle.UnpicklingError):
    """A batch file's pickle needs a global a CIFAR-10 batch never holds; nothing was run. The
    message names the file and the refused global."""


def md5_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex MD5 of a file, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify_md5(path: Path, expected: str, dataset: str) -> None:
    """Check ``path`` against its published MD5 ``expected``.

    Raises:
        ChecksumMismatch: naming the file, the expected and the actual MD5, and how to fix or
            override it (``datasets.<dataset>.verify_md5: false``).
    """
    actual = md5_file(path)
    if actual != expected:
        raise ChecksumMismatch(
            f"{path}: MD5 {actual}, expected {expected} (the published CIFAR-10 file); it is corrupt or not "
            f"the official one. Delete it and rerun the download_cifar10 rule, or, for your own data in the "
            f"CIFAR-10 format, set datasets.{dataset}.verify_md5: false")


class BatchUnpickler(pickle.Unpickler):
    """Unpickles a CIFAR-10 batch and nothing else: the only globals it resolves are what a batch
    needs (numpy's ``_reconstruct``, ``ndarray`` and ``dtype``, under numpy 1 and 2 names, and
    ``_codecs.encode`` for latin-1 text, which Python 3 protocol-2 pickles of bytes use).

    Raises (from :meth:`load`):
        UnsafePickle: any other global.
        pickle.UnpicklingError: ``_codecs.encode`` of something other than latin-1 text (a
            corrupt file, like a truncated one).
    """

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"): _reconstruct,
                ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
                ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}

    def __init__(self, handle: Any, path: Path) -> None:
        super().__init__(handle, encoding="bytes")
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        if (module, name) == ("_codecs", "encode"):
            return self._latin1
        raise UnsafePickle(f"{self.path}: refused to load the global {module}.{name}: a CIFAR-10 batch holds "
                           "only numpy arrays, lists, ints and bytes; nothing in the file was run")

    def _latin1(self, text: Any, encoding: str = "utf-8", *args: Any) -> bytes:
        if not isinstance(text, str) or encoding not in ("latin1", "latin-1") or args:
            raise pickle.UnpicklingError(f"{self.path}: refused _codecs.encode(..., {encoding!r}): a CIFAR-10 "
                                         "batch only encodes latin-1 text")
        return text.encode("latin1")


def load_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one pickle batch with :class:`BatchUnpickler` (numpy arrays and plain values only).

    Returns:
        ``(images, labels)``: uint8 ``(N, 3, 32, 32)`` in 0..255 and int64 ``(N,)`` in 0..9.

    Raises:
        UnsafePickle: the pickle needs another global (a crafted file); nothing was run.
        ValueError: the file is not a CIFAR-10 batch (the message names the file and key).
        OSError, pickle.UnpicklingError, EOFError: the file is unreadable or truncated.
    """
    with open(path, "rb") as handle:
        batch = BatchUnpickler(handle, Path(path)).load()
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise ValueError(f"{path}: expected a dict with keys b'data' and b'labels', got {keys}")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{path}: key b'data' must be uint8 (N, 3072), got {data.dtype} {data.shape}")
    if labels.shape != (len(data),) or (len(labels) and (labels.min() < 0 or labels.max() > 9)):
        raise ValueError(f"{path}: key b'labels' must hold {len(data)} ints in 0..9, got shape {labels.shape}")
    return data.reshape(-1, 3, 32, 32), labels


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    if size == images.shape[-1]:
        return images
    import torch
    import torch.nn.functional as F

    out = F.interpolate(torch.from_numpy(images).float(), size=(size, size), mode="bicubic",
                        align_corners=False, antialias=True)
    return out.round().clamp(0, 255).to(torch.uint8).numpy()


def prepare(dataset: str, spec: dict[str, Any], out_dir: Path, data_root: Path) -> Store:
    """Write the CIFAR-10 store for ``spec`` (see the module docstring for the keys).

    Returns the opened store: uint8 ``(N, 3, size, size)``; the sidecar lists the kept classes.

    Raises:
        FileNotFoundError: no batch file is present (names the folder and the download rule).
        ChecksumMismatch: (a ``ValueError``) with ``verify_md5`` (the default), a batch file or the
            archive does not have its published MD5; nothing is written.
        UnsafePickle: a batch file's pickle needs a global other than numpy arrays' (a crafted
            file); nothing is written, nothing in the file was run.
        ValueError: bad ``classes``/``split``, or fewer test-batch images than ``test_images``.
        StoreError: no usable images.
    """
    classes = sorted(set(int(c) for c in (spec.get("classes") or range(10))))
    if not classes or min(classes) < 0 or max(classes) > 9:
        raise ValueError(f"datasets.{dataset}.classes: class indices must be in 0..9, got {classes}")
    split = spec.get("split") or "merged"
    if split not in ("merged", "official"):
        raise ValueError(f"datasets.{dataset}.split: 'merged' or 'official', got {split!r}")
    size = int(spec.get("size") or 32)
    test_images = int(spec.get("test_images", 2000))
    seed = int(spec.get("split_seed", 0))
    check_md5 = spec.get("verify_md5", True) is not False
    files = expected_files(data_root)
    present = [path for path in files if path.is_file()]
    if not present:
        raise FileNotFoundError(f"{raw_dir(data_root) / FOLDER}: no CIFAR-10 batches; expected "
                                f"{', '.join(p.name for p in files)} (run the download_cifar10 rule)")

    parts: list[tuple[str, np.ndarray]] = []  # (batch name, images of the kept classes)
    skipped: list[tuple[str, str]] = []
    records = []
    archive = raw_dir(data_root) / ARCHIVE
    if check_md5 and archive.is_file():
        verify_md5(archive, ARCHIVE_MD5, dataset)
    for path in files:
        if not path.is_file():
            skipped.append((str(path), "missing"))
            continue
        if check_md5:
            verify_md5(path, BATCH_MD5[path.name], dataset)
        try:
            images, labels = load_batch(path)
        except UnsafePickle:
            raise
        except Exception as err:  # corrupt/truncated pickle or wrong content: skip this batch
            skipped.append((str(path), f"{type(err).__name__}: {err}"))
            continue
        records.append(file_record(path, raw_dir(data_root)))
        parts.append((path.name, images[np.isin(labels, classes)]))
        log(f"{path}: {len(images)} images, {len(parts[-1][1])} of classes {classes}")

    train_parts = [images for name, images in parts if name != TEST_BATCH]
    test_part = next((images for name, images in parts if name == TEST_BATCH), None)
    test_indices = None
    if split == "official":
        available = 0 if test_part is None else len(test_part)
        if test_images > available:
            raise ValueError(f"datasets.{dataset}.test_images: {test_images} requested, but the test batch "
                             f"{files[-1]} holds {available} images of classes {classes}")
        chosen = np.sort(np.random.default_rng(seed).permutation(available)[:test_images])
        n_train = sum(len(p) for p in train_parts)
        blocks = train_parts + [test_part[chosen]]
        test_indices = np.arange(n_train, n_train + test_images)
    else:
        blocks = train_parts + ([test_part] if test_part is not None else [])
    capacity = max(1, sum(len(b) for b in blocks))
    writer = StoreWriter(out_dir, capacity=capacity, image_shape=(3, size, size))
    with guarded(writer):
        for file, reason in skipped:
            record_skip(writer, file, reason)
        for block in blocks:
            for start in range(0, len(block), 2000):
                writer.add(_resize(block[start:start + 2000], size))
        source = {"name": "cifar10", "url": URL, "archive_md5": ARCHIVE_MD5, "homepage": HOMEPAGE,
                  "files": records, "checksums": "sha256 of every batch file read", "md5_verified": check_md5}
        if archive.is_file():
            source["archive"] = file_record(archive, raw_dir(data_root))
        extra = {"classes": classes, "class_names": [CLASS_NAMES[c] for c in classes], "split_mode": split,
                 "order": "data_batch_1..5 then test_batch, file order, kept classes only"}
        return writer.finish(dataset=dataset, source=source, test_count=test_images, split_seed=seed,
                             test_indices=test_indices, extra=extra)
