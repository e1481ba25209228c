"""Plug-ins: modules outside the package that register normalizations, variant presets and studies.

A config's ``plugins:`` list names modules on the Python path (``my_lab.norms``) or ``.py`` files
(relative to the working directory, e.g. beside the config). :func:`load` imports them when the
Snakefile is parsed (before the config is checked) and again in every job (the study JSON carries
the list), so what they register is known wherever a variant is built. A plug-in calls
:func:`gannorm.models.norms.register`, :func:`gannorm.models.variant.register` or
:func:`gannorm.studies.register` at import (docs/extending.md, "Adding a normalization").

A plug-in is code the user chose to run, like the Snakefile itself; the list is checked against a
conservative pattern (the schema's) and only the named modules and files are imported.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterable

_ENTRY = re.compile(r"[A-Za-z0-9_./-]+")


class PluginError(ValueError):
    """A plug-in could not be found or failed to import; the message names it."""


def load(entries: Iterable[str] | None, base: str | Path = ".") -> list[ModuleType]:
    """Import every plug-in of a config's ``plugins`` list (each once per process).

    Args:
        entries: dotted module names or ``.py`` paths (relative to ``base``).
        base: the folder relative paths start from (the working directory).

    Returns:
        The imported modules, in order.

    Raises:
        PluginError: naming ``plugins[i]``: a bad entry, a missing module or file, or an error the
            plug-in raised while importing (chained, so its traceback is kept).
    """
    modules = []
    for i, entry in enumerate(entries or ()):
        key = f"plugins[{i}]"
        if not isinstance(entry, str) or not _ENTRY.fullmatch(entry):
            raise PluginError(f"{key}: {entry!r} is not a module name or a .py path (letters, digits, _ . / -)")
        try:
            modules.append(_load_file(Path(base, entry)) if entry.endswith(".py") else _load_module(entry))
        except PluginError as err:
            raise PluginError(f"{key}: {err}") from err.__cause__
        except Exception as err:  # noqa: BLE001 - any error of the plug-in's own code, named with the plug-in
            raise PluginError(f"{key}: importing {entry!r} failed: {type(err).__name__}: {err}") from err
    return modules


def _load_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name is not None and name.startswith(err.name):
            raise PluginError(f"no module {name!r} on the Python path (sys.path starts {sys.path[:3]}); "
                              "install it, add its folder to PYTHONPATH, or name a .py file") from err
        raise


def _load_file(path: Path) -> ModuleType:
    path = path.resolve()
    if not path.is_file():
        raise PluginError(f"file {path} not found")
    name = "gannorm_plugin_" + re.sub(r"\W", "_", str(path))
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
