"""Small I/O helpers shared by every stage: atomic writes and JSON.

Every result file is written to a temporary name in the same folder, flushed to disk
(``os.fsync``) and then renamed (``os.replace``), and the folder is flushed after the rename, so
neither a killed job nor a power cut leaves a half-written file under a final name
(docs/design.md, Engineering rules). A write that fails (disk full, quota, read-only folder) raises
:class:`WriteError` naming the file and the OS reason, and leaves the file as it was before.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


class WriteError(OSError):
    """A result file could not be written. ``str()`` is one line naming the file (the final name,
    not the temporary one) and the OS reason, e.g. ``cannot write results/x/checkpoints/best.pt: No
    space left on device (errno 28)``; ``errno``, ``strerror`` and ``filename`` are set as on the
    ``OSError`` it replaces (its ``__cause__``)."""

    def __init__(self, path: str | os.PathLike, code: int | None, reason: str, detail: str = "") -> None:
        super().__init__(code, reason, str(path))
        self.path = Path(path)
        self.detail = detail

    def __str__(self) -> str:
        code = f" (errno {self.errno})" if self.errno else ""
        return f"cannot write {self.path}: {self.strerror}{code}{self.detail}"


def write_error(path: str | os.PathLike, err: BaseException, temporary: str | os.PathLike | None = None) -> WriteError:
    """The :class:`WriteError` for ``err`` raised while writing ``path`` (through ``temporary``).

    An ``OSError`` keeps its errno and reason; a file it names other than ``path`` and
    ``temporary`` (the source of a copy) is added to the message. A ``RuntimeError`` of torch's file
    writer (``basic_ios::clear: iostream error``, ``[enforce fail at inline_container.cc ...]``,
    which carry no errno) is told apart by the free space of the folder: none left is
    ``ENOSPC``, else ``EIO`` with torch's text.
    """
    path = Path(path)
    if isinstance(err, WriteError):
        return err
    if isinstance(err, OSError):
        code = err.errno
        reason = err.strerror or (os.strerror(code) if code else str(err) or type(err).__name__)
        other = err.filename
        names = {str(path), str(temporary) if temporary is not None else None}
        detail = f" ({other})" if other is not None and str(other) not in names else ""
        return WriteError(path, code, reason, detail)
    if _out_of_space(path.parent):
        return WriteError(path, errno.ENOSPC, os.strerror(errno.ENOSPC))
    return WriteError(path, errno.EIO, os.strerror(errno.EIO), f" ({type(err).__name__}: {err})")


def _out_of_space(folder: Path) -> bool:
    """Whether ``folder``'s filesystem has no free block (or no free inode) left for this user."""
    try:
        stat = os.statvfs(folder)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < 64 * 1024 or (stat.f_files > 0 and stat.f_favail == 0)


def _is_write_failure(err: BaseException) -> bool:
    """An ``OSError``, or one of torch's file-writer ``RuntimeError`` (no errno in it)."""
    if isinstance(err, OSError):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and any(
        mark in text for mark in ("iostream error", "inline_container.cc", "PytorchStreamWriter", "file write failed"))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    The temporary file keeps ``path``'s suffix (or ``suffix``) so libraries that pick a format
    from the file name (matplotlib, torchvision) still work. When the block succeeds the file gets
    mode ``0666 & ~umask``, is fsynced, renamed onto ``path`` (``os.replace``), and then the folder
    is fsynced so the rename survives a crash (a folder fsync the filesystem does not support is
    skipped). On an exception the temporary file is removed and ``path`` is left as it was.

    Raises:
        WriteError: (an ``OSError``) the folder cannot be created, or the temporary file cannot be
            written (an ``OSError`` of the block about it, or a file-writer ``RuntimeError`` of
            torch), fsynced or renamed: the message names ``path`` and the OS reason (``No space
            left on device (errno 28)``); the temporary file is removed, ``path`` is as it was.
            Other exceptions of the block pass unchanged (an ``OSError`` naming another file, e.g.
            the source of a copy, too).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix if suffix is not None else path.suffix,
                                   dir=path.parent)
    except OSError as err:
        raise write_error(path, err) from err
    os.close(fd)
    tmp = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    try:
        try:
            yield tmp
        except Exception as err:
            if isinstance(err, OSError) and err.filename is not None and str(err.filename) not in (str(tmp), str(path)):
                raise  # about another file (the source of a copy): it names that one
            if _is_write_failure(err):
                raise write_error(path, err, tmp) from err
            raise
        try:
            if tmp.exists():
                os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; results are for everyone to read
                _fsync_path(tmp)
            os.replace(tmp, path)
        except OSError as err:
            raise write_error(path, err, tmp) from err
        fsync_dir(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`atomic_path`) with a plain ``write``, so a
    failure carries its errno.

    Raises:
        WriteError: naming ``path`` and the OS reason; ``path`` is left as it was.
    """
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)


def _fsync_path(path: Path) -> None:
    """Flush a file's data to disk (whoever wrote it, through whatever handle)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: str | os.PathLike) -> None:
    """Flush a folder's entries (a rename in it) to disk; skipped where the filesystem cannot."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json(path: str | os.PathLike, obj: Any, *, allow_nan: bool = True) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically.

    With ``allow_nan=False`` the file is strict JSON: a NaN or infinite float is refused instead of
    being written as the non-standard ``NaN``/``Infinity`` (finite values are written the same).

    Raises:
        ValueError: ``allow_nan`` is false and ``obj`` holds a non-finite float (the message names
            ``path``); nothing is written.
        WriteError: the file cannot be written (names it and the OS reason); ``path`` is as it was.
    """
    try:
        text = json.dumps(obj, indent=2, sort_keys=False, default=_json_default, allow_nan=allow_nan)
    except ValueError as err:
        raise ValueError(f"{path}: not written, {err} (NaN or Infinity is not strict JSON)") from err
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; raise ``FileNotFoundError``/``ValueError`` naming the file."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def save_image_grid(images: Any, path: str | os.PathLike, nrow: int, padding: int = 1) -> None:
    """Write a batch of images as one PNG grid, the same file as ``torchvision.utils.save_image(images,
    path, nrow=nrow, padding=padding)`` (black padding; single-channel images repeated to RGB; one
    image alone without padding), without importing torchvision (about 1.2 s per training process:
    it imports ``torch._dynamo``). ``tests/test_startup.py`` checks the bytes against torchvision's.

    Args:
        images: ``(B, C, H, W)`` floats in [0, 1] (values outside are clipped), C = 1 or 3; a
            NumPy array or a CPU tensor.
        path: the PNG to write (not atomically; wrap in :func:`atomic_path`).
        nrow: images per row.

    Raises:
        ValueError: not 4-D, or C not 1 or 3.
    """
    import numpy as np
    from PIL import Image

    array = np.asarray(images, dtype=np.float32)
    if array.ndim != 4 or array.shape[1] not in (1, 3):
        raise ValueError(f"images must be (B, 1 or 3, H, W), got shape {array.shape}")
    if array.shape[1] == 1:
        array = np.repeat(array, 3, axis=1)
    count, channels, height, width = array.shape
    if count == 1:
        grid = array[0]
    else:
        columns = min(nrow, count)
        rows = -(-count // columns)
        cell_h, cell_w = height + padding, width + padding
        grid = np.zeros((channels, cell_h * rows + padding, cell_w * columns + padding), dtype=np.float32)
        for k in range(count):
            y, x = divmod(k, columns)
            grid[:, y * cell_h + padding:y * cell_h + padding + height,
                 x * cell_w + padding:x * cell_w + padding + width] = array[k]
    pixels = np.clip(np.nan_to_num(grid * np.float32(255) + np.float32(0.5), nan=0.0), 0, 255).astype(np.uint8)
    Image.fromarray(np.ascontiguousarray(pixels.transpose(1, 2, 0))).save(path, format="png")


def grid_layout(grid_hw: tuple[int, int], tile_hw: tuple[int, int] | None = None,
                count: int | None = None) -> tuple[int, int, int, int] | None:
    """``(rows, columns, H, W)`` of a sample grid of :func:`gannorm.io.save_image_grid` (padding 1;
    ``nrow = ceil(sqrt(count))``; one image alone has no padding) of ``grid_hw`` pixels.

    From the tile size ``tile_hw`` when given, else from the number of images ``count``; None
    when neither is given or the grid's size does not fit them.
    """
    height, width = grid_hw
    if tile_hw is not None:
        h, w = tile_hw
        if (height, width) == (h, w):
            return 1, 1, h, w
        if h < 1 or w < 1 or (height - 1) % (h + 1) or (width - 1) % (w + 1):
            return None
        rows, columns = (height - 1) // (h + 1), (width - 1) // (w + 1)
        return (rows, columns, h, w) if rows and columns else None
    if not count or count < 1:
        return None
    if count == 1:
        return 1, 1, height, width
    columns = min(int(math.ceil(math.sqrt(count))), count)
    rows = -(-count // columns)
    if (height - 1) % rows or (width - 1) % columns:
        return None
    h, w = (height - 1) // rows - 1, (width - 1) // columns - 1
    return (rows, columns, h, w) if h > 0 and w > 0 else None


def crop_tiles(grid: Any, layout: tuple[int, int, int, int], count: int | None = None) -> Any:
    """The images of a sample grid ``(H', W'[, C])`` as ``(n, H, W[, C])``, in the order
    :func:`gannorm.io.save_image_grid` placed them (row by row); ``n`` = ``count`` (default every
    cell of ``layout`` = ``(rows, columns, H, W)``, :func:`grid_layout`)."""
    rows, columns, h, w = layout
    if rows == columns == 1 and grid.shape[:2] == (h, w):
        return grid[None]
    n = rows * columns if count is None else min(int(count), rows * columns)
    import numpy as np

    return np.stack([grid[1 + (k // columns) * (h + 1):1 + (k // columns) * (h + 1) + h,
                          1 + (k % columns) * (w + 1):1 + (k % columns) * (w + 1) + w] for k in range(n)])
