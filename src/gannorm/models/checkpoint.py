"""Model checkpoints: atomic ``torch.save`` of a run's ``best.pt`` / ``last.pt``, and the generator
rebuilt from one.

Written by training (:mod:`gannorm.train`) and read by evaluation (:mod:`gannorm.evaluate`), so it
lives below both. The resume checkpoints of a training run are :mod:`gannorm.train.checkpoint`.

Checkpoints are data, never code: every checkpoint is read with ``torch.load(weights_only=True)``,
which rebuilds tensors and plain Python values only and refuses any other global of the pickle
(:class:`UnsafeCheckpoint`, naming the refused object), so a crafted ``.pt`` file cannot run
anything; a damaged file is :class:`UnreadableCheckpoint`. What gannorm writes is
checked to be made of those types (:func:`check_plain`), so it always loads that way.
"""

from __future__ import annotations

import os
import pickle
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any, BinaryIO

import torch

from gannorm.io import write_bytes

#: Non-container types a checkpoint may hold: what ``torch.load(weights_only=True)`` reads back.
PLAIN_TYPES = (str, bytes, int, float, bool, type(None), torch.Tensor, torch.nn.Parameter, torch.Size,
               torch.dtype, torch.device)
_CONTAINERS = (dict, OrderedDict, list, tuple, set)


class UnsafeCheckpoint(RuntimeError):
    """A checkpoint holds code or objects other than tensors and plain values; it was not loaded
    (and nothing in it was run). One line: ``refused <path>: it holds code (posix.system), which
    gannorm never runs; only tensors and plain data are loaded``. ``refused`` is the object named
    (``None`` when torch's refusal names none), ``reason`` the text after ``<path>: ``."""

    def __init__(self, path: str | os.PathLike, refused: str | None) -> None:
        what = f"code ({refused})" if refused else "code or objects that are not plain data"
        self.path, self.refused = Path(path), refused
        self.reason = f"it holds {what}, which gannorm never runs; only tensors and plain data are loaded"
        super().__init__(f"refused {path}: {self.reason}")


class UnreadableCheckpoint(RuntimeError):
    """A checkpoint file is not a readable ``torch.save`` archive (truncated, corrupt); the message
    names the file: ``<path>: unreadable checkpoint, corrupt or truncated (<reason>)``."""


# What torch's weights-only unpickler (torch 2.x) says when it refuses something, and the group that
# names the refused object; torch wraps these in advice to load with weights_only=False, which is
# never relayed.
_REFUSALS = (
    re.compile(r"GLOBAL (\S+) was not an allowed global"),
    re.compile(r"unsupported GLOBAL (\S+) whose module \S+ is blocked"),
    re.compile(r"Trying to call reduce for unrecognized function (.+?)(?: which belongs to .*)?$", re.M),
    re.compile(r"Can only create new object for .* but got (.+)$", re.M),
    re.compile(r"Can only build .* but got (.+)$", re.M),
    re.compile(r"Can only append to lists, but got (.+)$", re.M),
    re.compile(r"Can only SETITEMS? for .* but got (.+)$", re.M),
    re.compile(r"(``torch\.\S+``(?: and ``torch\.\S+``)?) must be imported"),
)
_GENERIC_REFUSALS = ("Unsupported operand", "persistent_load", "unsupported persistent id")


def _refused_object(text: str) -> str | None:
    """The object named in a weights-only refusal: ``posix.system``, ``builtins.eval``,
    ``tests.Evil`` (``<class 'x.Y'>`` and ``<built-in function eval>`` reduced to a name); ``None``
    when the refusal names none."""
    for pattern in _REFUSALS:
        found = pattern.search(text)
        if found:
            name = found.group(1).strip().rstrip(".")
            cls = re.fullmatch(r"<class '([^']+)'>", name)
            func = re.fullmatch(r"<(?:built-in )?(?:function|method) ([^ >]+)(?: at 0x[0-9a-f]+)?>", name)
            if cls:
                name = cls.group(1)
            elif func:
                name = func.group(1)
            if re.fullmatch(r"[A-Za-z_][\w]*", name):  # torch drops the "builtins." of a builtin
                name = f"builtins.{name}"
            return _python3_name(name)[:120]
    return None


def _python3_name(name: str) -> str:
    """``commands.Popen`` -> ``subprocess.Popen``: a protocol-2 pickle spells some globals by their
    Python 2 names, which unpickling maps back (``fix_imports``); name what would have run."""
    import _compat_pickle

    module, _, attr = name.rpartition(".")
    if not module:
        return name
    module, attr = _compat_pickle.NAME_MAPPING.get((module, attr), (module, attr))
    return f"{_compat_pickle.IMPORT_MAPPING.get(module, module)}.{attr}"


def _first_unsafe_global(source: str | os.PathLike | BinaryIO) -> str | None:
    """Best effort, for a refusal that names nothing (an opcode the weights-only unpickler does not
    know, e.g. protocol 4's ``STACK_GLOBAL``): the first global of the archive's ``data.pkl`` that
    torch does not allow, read with :mod:`pickletools` (which parses, never runs); ``None`` when
    none is found or the file cannot be read that way."""
    import pickletools
    import zipfile

    try:
        from torch._weights_only_unpickler import _get_allowed_globals

        allowed = set(_get_allowed_globals())
        position = source.tell() if hasattr(source, "tell") else None
        try:
            with zipfile.ZipFile(source) as archive:
                name = next(n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl")
                data = archive.read(name)
        finally:
            if position is not None:
                source.seek(position)
        strings: list[str] = []
        memo: dict[int, str] = {}
        for opcode, arg, _ in pickletools.genops(data):
            if opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"):
                strings.append(arg)
            elif opcode.name in ("BINPUT", "LONG_BINPUT", "PUT") and strings:
                memo[int(arg)] = strings[-1]
            elif opcode.name == "MEMOIZE" and strings:
                memo[len(memo)] = strings[-1]
            elif opcode.name in ("BINGET", "LONG_BINGET", "GET") and int(arg) in memo:
                strings.append(memo[int(arg)])
            elif opcode.name in ("GLOBAL", "STACK_GLOBAL"):
                if opcode.name == "GLOBAL":
                    found = _python3_name(arg.replace(" ", ".").replace("__builtin__.", "builtins."))
                elif len(strings) >= 2:
                    found = f"{strings[-2]}.{strings[-1]}"
                else:
                    return None
                if found not in allowed:
                    return found
    except Exception:  # noqa: BLE001 - only a better message; the refusal stands either way
        return None
    return None


def _weights_only_refusal(text: str) -> bool:
    """Whether torch's UnpicklingError text is a refusal of the weights-only unpickler (not a
    damaged pickle)."""
    return any(p.search(text) for p in _REFUSALS) or any(m in text for m in _GENERIC_REFUSALS)


def check_plain(value: Any, where: str = "state") -> None:
    """Check that ``value`` is made of types ``torch.load(weights_only=True)`` reads back: dicts
    (and ``OrderedDict``), lists, tuples, sets, str, bytes, int, float, bool, None, tensors,
    ``torch.Size``, dtypes and devices.

    Raises:
        TypeError: naming the first other value by its key path (e.g. ``state['rows'][0]['loss']``)
            and its type.
    """
    kind = type(value)
    if kind in PLAIN_TYPES:
        return
    if kind in (dict, OrderedDict):
        for key, item in value.items():
            check_plain(key, f"{where} key {key!r}")
            check_plain(item, f"{where}[{key!r}]")
        return
    if kind in (list, tuple, set):
        for index, item in enumerate(value):
            check_plain(item, f"{where}[{index}]")
        return
    raise TypeError(f"{where}: a {kind.__module__}.{kind.__qualname__} cannot go into a checkpoint "
                    "(only tensors and plain Python values load with torch.load(weights_only=True))")


def safe_load(source: str | os.PathLike | BinaryIO, path: str | os.PathLike,
              map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(source, map_location=..., weights_only=True)``; ``path`` names the file in errors.

    Raises:
        UnsafeCheckpoint: the pickle holds code or objects other than tensors and plain values (a
            crafted file, or an older format): every refusal torch's weights-only unpickler makes
            (an unsupported or blocked global, a call or class it does not allow, an unsupported
            pickle opcode), with the refused object named where torch names one; nothing was run,
            and torch's advice to load with ``weights_only=False`` is not relayed.
        UnreadableCheckpoint: (a ``RuntimeError``) the file is not a readable ``torch.save``
            archive (truncated, corrupt); the message names the file.
    """
    try:
        return torch.load(source, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err)
        if _weights_only_refusal(text):
            refused = _refused_object(text) or _first_unsafe_global(source)
            # an opcode it does not know, in a file that is no zip archive (all gannorm writes):
            # more likely damage than a crafted file; the pickle was not run either way
            if refused is not None or _is_zip(source):
                raise UnsafeCheckpoint(path, refused) from None
            text = "not a torch.save archive: " + _without_torch_advice(text)
        else:
            text = _without_torch_advice(text)
        raise UnreadableCheckpoint(f"{path}: unreadable checkpoint, corrupt or truncated "
                                   f"(UnpicklingError: {_one_line(text)})") from None
    except Exception as err:  # torch raises several types for a corrupt file
        raise UnreadableCheckpoint(f"{path}: unreadable checkpoint, corrupt or truncated "
                                   f"({type(err).__name__}: {_one_line(str(err))})") from err


def _without_torch_advice(text: str) -> str:
    """torch's UnpicklingError text without its wrapper (the advice to load with
    ``weights_only=False``, the link to its documentation): the unpickler's own reason."""
    text = text.rsplit("WeightsUnpickler error:", 1)[-1]
    kept = [part.strip() for part in text.split("\n\n") if part.strip() and "weights_only" not in part.lower()
            and "weights only" not in part.lower() and "Check the documentation" not in part]
    return " ".join(kept) or "refused by the weights-only unpickler"


def _is_zip(source: str | os.PathLike | BinaryIO) -> bool:
    """Whether ``source`` is a zip archive (what ``torch.save`` writes since torch 1.6)."""
    import zipfile

    try:
        position = source.tell() if hasattr(source, "tell") else None
        try:
            return zipfile.is_zipfile(source)
        finally:
            if position is not None:
                source.seek(position)
    except Exception:  # noqa: BLE001
        return False


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Save ``state`` to ``path`` atomically (temporary name, then rename).

    The archive is built in memory and written with a plain ``write`` (:func:`gannorm.io.write_bytes`):
    ``torch.save`` to a file reports a full disk as ``basic_ios::clear: iostream error``, with no
    file name or reason, and names the archive's records after the (random) temporary file; in
    memory they are ``archive/...``, so the same state always gives the same bytes.

    Raises:
        TypeError: ``state`` holds a value :func:`load_checkpoint` could not read back
            (:func:`check_plain`); nothing is written.
        gannorm.io.WriteError: (an ``OSError``) the file cannot be written, e.g. ``cannot write
            <path>: No space left on device (errno 28)``; the file at ``path`` is left as it was.
    """
    import io

    check_plain(state)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`, with ``torch.load(weights_only=True)``
    (tensors and plain values only; no code in the file is run).

    Raises:
        FileNotFoundError: no file at ``path``.
        UnsafeCheckpoint: (a ``RuntimeError``) the file holds code or other objects (a crafted
            file, or one not written by gannorm): ``refused <path>: it holds code (posix.system),
            which gannorm never runs; only tensors and plain data are loaded``; nothing was run.
        UnreadableCheckpoint: (a ``RuntimeError``) the file is not a readable checkpoint
            (truncated, corrupt); the message names it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    return safe_load(path, path, map_location)


def generator_from_checkpoint(state: dict[str, Any], device: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuild the checkpoint's generator in eval mode.

    ``state["model"]`` is the meta of :func:`gannorm.models.build_models` (``architecture``,
    ``variant``, ``model``, ``data``); checkpoints of the first DCGAN-only format (the
    :class:`~gannorm.models.dcgan.DCGANSpec` fields) still load.

    Raises:
        ValueError: unknown architecture.
    """
    from gannorm.models import build_generator

    generator = build_generator(dict(state["model"]))
    generator.load_state_dict(state["generator"])
    return generator.to(device).eval()


def evaluate_at_iterations(t_cfg: dict[str, Any], iterations: int) -> list[int]:
    """The sorted ``train.evaluate_at`` iterations a run of ``iterations`` reaches (others are skipped)."""
    return sorted({int(i) for i in t_cfg.get("evaluate_at") or [] if 1 <= int(i) <= iterations})


def evaluate_at_name(iteration: int) -> str:
    """Checkpoint stem of a ``train.evaluate_at`` iteration: ``iter0700000`` (``checkpoints/iter0700000.pt``)."""
    return f"iter{int(iteration):07d}"
