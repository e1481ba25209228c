"""Helpers shared by the image sources: decoding, crops, digests, logging, the write guard.

Decoding and resampling use Pillow through torchvision's functional transforms, so the crop
coordinates and the interpolation are those of the well-known library:

* :func:`center_crop` is ``torchvision.transforms.functional.center_crop``: for an image of
  height ``H`` and width ``W`` the crop starts at ``top = round((H - side) / 2)``,
  ``left = round((W - side) / 2)`` (Python rounding). A CelebA image (178 x 218) gives the
  160 x 160 crop at ``top = 29``, ``left = 9`` (Xiang & Li, section 5.1).
* :func:`resize` is an antialiased bicubic resize (Pillow's convolution-based resampling).

Corrupt or truncated files raise :class:`BadImage` from :func:`decode_rgb`; the sources catch
it, record the file with :meth:`StoreWriter.skip` and print it to the log, and go on.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import io
import os
import signal
import sys
from collections import deque
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

import numpy as np

from gannorm.data.store import StoreWriter, sha256_file

T = TypeVar("T")
R = TypeVar("R")

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


class BadImage(ValueError):
    """A source image is corrupt, truncated, or too small for the requested crop."""


def log(message: str) -> None:
    """Print a progress or skip message to stderr (the prepare rule sends it to its log)."""
    print(message, file=sys.stderr, flush=True)


def decode_rgb(data: bytes | str | os.PathLike, name: str = "") -> Any:
    """Decode an encoded image (bytes or a file path) completely into an RGB ``PIL.Image``.

    The whole image is decoded here (``Image.load``), so a truncated JPEG/WebP fails now and not
    later. Grey-scale, palette and CMYK images are converted to RGB.

    Raises:
        BadImage: the data cannot be decoded (message names ``name`` and Pillow's reason).
    """
    from PIL import Image, ImageFile

    if ImageFile.LOAD_TRUNCATED_IMAGES:  # some library switched it on globally; we want errors
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        handle = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else open(data, "rb")
        with handle, Image.open(handle) as image:
            image.load()
            return image.convert("RGB")
    except BadImage:
        raise
    except Exception as err:  # Pillow raises OSError, SyntaxError, ValueError, struct.error, ...
        raise BadImage(f"{name or data}: cannot decode ({type(err).__name__}: {err})") from None


def center_crop(image: Any, side: int, name: str = "") -> Any:
    """Central ``side`` x ``side`` crop of a PIL image (torchvision's coordinates, see module doc).

    Raises:
        BadImage: the image's short side is below ``side`` (it would need padding).
    """
    import torchvision.transforms.functional as TF

    width, height = image.size
    if min(width, height) < side:
        raise BadImage(f"{name}: {width}x{height} is smaller than the {side}x{side} crop")
    return TF.center_crop(image, [side, side])


def resize(image: Any, side: int | tuple[int, int]) -> Any:
    """Antialiased bicubic resize of a PIL image to ``side`` x ``side`` (or ``(height, width)``)."""
    import torchvision.transforms.functional as TF
    from torchvision.transforms import InterpolationMode

    size = [side, side] if isinstance(side, int) else list(side)
    if list(image.size[::-1]) == size:
        return image
    return TF.resize(image, size, interpolation=InterpolationMode.BICUBIC, antialias=True)


def resize_short_side(image: Any, side: int) -> Any:
    """Antialiased bicubic resize of a PIL image so that its short side is ``side`` pixels."""
    import torchvision.transforms.functional as TF
    from torchvision.transforms import InterpolationMode

    if min(image.size) == side:
        return image
    return TF.resize(image, side, interpolation=InterpolationMode.BICUBIC, antialias=True)


def to_chw(image: Any) -> np.ndarray:
    """A PIL RGB image as a uint8 ``(3, H, W)`` array."""
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8).transpose(2, 0, 1))


def save_png(image: Any, path: Path) -> str:
    """Write a PIL image as PNG atomically; return its SHA-256."""
    from gannorm.io import atomic_path

    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return sha256_file(path)


def workers() -> int:
    """Decoder threads for preparation: ``GANNORM_WORKERS`` (the prepare rule sets it from its
    ``threads:``), else 1. Pillow releases the GIL while decoding and resampling, so threads scale."""
    try:
        return max(1, int(os.environ.get("GANNORM_WORKERS", "1")))
    except ValueError:
        return 1


def map_ordered(fn: Callable[[T], R], items: Iterable[T], threads: int | None = None,
                window: int = 256) -> Iterator[tuple[T, R | BaseException]]:
    """Yield ``(item, fn(item))`` in input order, computed by ``threads`` threads.

    At most ``window`` items are in flight, so a stream of millions of items (LSUN) is never held
    in memory. An exception raised by ``fn`` is yielded in place of the result, not raised, except
    a missing package (ImportError) or memory (MemoryError): those are the environment, not the
    item, so they stop the preparation at once.

    Raises:
        MissingPackage: ``fn`` needs a Python package the environment lacks (names it).
        MemoryError: from ``fn``.
    """
    threads = workers() if threads is None else threads

    def call(item: T) -> R | BaseException:
        try:
            return fn(item)
        except (ImportError, MemoryError):
            raise
        except Exception as err:  # handed to the caller, who decides to skip or stop
            return err

    def result(future: Any) -> R | BaseException:
        try:
            return future.result()
        except ImportError as err:
            raise MissingPackage(err) from err

    if threads <= 1:
        for item in items:
            try:
                yield item, call(item)
            except ImportError as err:
                raise MissingPackage(err) from err
        return
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        pending: deque = deque()
        for item in items:
            pending.append((item, pool.submit(call, item)))
            if len(pending) >= window:
                done_item, future = pending.popleft()
                yield done_item, result(future)
        while pending:
            done_item, future = pending.popleft()
            yield done_item, result(future)


class MissingPackage(ImportError):
    """A Python package needed to read the data is not installed (not a bad image)."""

    def __init__(self, err: ImportError) -> None:
        name = err.name or str(err)
        super().__init__(f"the Python package {name!r} is missing from this environment ({err}); install it "
                         f"(e.g. pip install -e .[test] or envs/gannorm.yaml) and rerun: no image was read",
                         name=err.name)


class Digest:
    """SHA-256 over a sequence of named byte strings (name, length, bytes), in order.

    Used as the content checksum of the images a preparation actually read (the files are read
    anyway, so it costs one hash pass and no extra I/O).
    """

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.count = 0
        self.bytes = 0

    def update(self, name: str, data: bytes) -> None:
        """Add one file: its name, length and bytes."""
        encoded = name.encode()
        self._hash.update(len(encoded).to_bytes(8, "little") + encoded + len(data).to_bytes(8, "little"))
        self._hash.update(data)
        self.count += 1
        self.bytes += len(data)

    def as_dict(self, what: str) -> dict[str, Any]:
        """The sidecar entry: ``sha256``, file count, total bytes, and ``over`` = ``what`` was hashed."""
        return {"sha256": self._hash.hexdigest(), "files": self.count, "bytes": self.bytes, "over": what}


def listing_digest(paths: Iterable[Path], root: Path) -> dict[str, Any]:
    """SHA-256 over the relative names and sizes of ``paths`` (a cheap fingerprint of a folder)."""
    digest = hashlib.sha256()
    count = total = 0
    for path in paths:
        size = path.stat().st_size
        digest.update(f"{path.relative_to(root).as_posix()}\t{size}\n".encode())
        count += 1
        total += size
    return {"sha256": digest.hexdigest(), "files": count, "bytes": total, "over": "relative name and size, sorted"}


def file_record(path: Path, root: Path | None = None) -> dict[str, Any]:
    """``{"path", "bytes", "sha256"}`` of one source file (path relative to ``root`` if given)."""
    name = path.relative_to(root).as_posix() if root is not None else path.name
    return {"path": name, "bytes": path.stat().st_size, "sha256": sha256_file(path)}


@contextlib.contextmanager
def guarded(writer: StoreWriter) -> Iterator[StoreWriter]:
    """Abort ``writer`` (remove its partial arrays) if the block raises or the process is
    terminated (SIGTERM, e.g. Snakemake killing the job), so no half-written store stays behind."""

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"terminated by signal {signum}")

    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread
        previous = None
    try:
        yield writer
    except BaseException:
        writer.abort()
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def record_skip(writer: StoreWriter, name: str, reason: str) -> None:
    """Skip a source file: list it in the sidecar (via ``writer``) and in the log."""
    writer.skip(name, reason)
    log(f"skipped {name}: {reason}")


class Progress:
    """Log a line every ``every`` images (to the rule's log)."""

    def __init__(self, label: str, total: int, every: int = 10000) -> None:
        self.label, self.total, self.every, self.done = label, total, every, 0

    def step(self) -> None:
        """Count one image; log every ``every`` images and at the end."""
        self.done += 1
        if self.done % self.every == 0 or self.done == self.total:
            log(f"{self.label}: {self.done}/{self.total}")


def spec_int(spec: dict[str, Any], key: str, default: int | None) -> int | None:
    """``spec[key]`` as int, or ``default`` when missing or null."""
    value = spec.get(key)
    return default if value is None else int(value)
