"""Small I/O helpers shared by every stage: atomic writes and JSON.

Every result file is written to a temporary name in the same folder, flushed to disk
(``os.fsync``) and then renamed (``os.replace``), and the folder is flushed after the rename, so
neither a killed job nor a power cut leaves a half-written file under a final name
(DESIGN.md section 5).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    The temporary file keeps ``path``'s suffix (or ``suffix``) so libraries that pick a format
    from the file name (matplotlib, torchvision) still work. When the block succeeds the file gets
    mode ``0666 & ~umask``, is fsynced, renamed onto ``path`` (``os.replace``), and then the folder
    is fsynced so the rename survives a crash (a folder fsync the filesystem does not support is
    skipped). On an exception the temporary file is removed and ``path`` is left as it was.

    Raises:
        OSError: the folder cannot be created, or the temporary file cannot be written, fsynced
            or renamed (the temporary file is removed).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix if suffix is not None else path.suffix,
                               dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; results are for everyone to read
            _fsync_path(tmp)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


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
