"""Reading and validating config files, as the Snakefile does before any job starts.

:func:`load_config_files` reads each file with a strict YAML loader (:func:`load_yaml`: a duplicate
key is an error, ``1e-4`` is a float, a syntax error names file:line:column) and merges them with the
``--config`` values as Snakemake does; :func:`validate_config` checks the result against the JSON
schema (``workflow/schemas/config.schema.yaml``), fills in its defaults and turns the first error into
one short message naming the key path, the value and what was expected (for an unknown key: "did you
mean"). :func:`gannorm.config.check_config` then checks what the schema cannot express.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

from gannorm.config import ConfigError, name_error

#: The environment variable that appends the schema validator's full report to a validation error.
SCHEMA_ERRORS_ENV = "GANNORM_SCHEMA_ERRORS"
#: The schema beside this checkout's package (src/gannorm -> workflow/schemas).
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


#: Numbers with an exponent that PyYAML's YAML 1.1 float resolver leaves as strings: ``1e-4``,
#: ``1E5``, ``1.0e5`` (YAML 1.1 needs a dot and a signed exponent; YAML 1.2 and JSON do not).
_EXPONENT_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")


@functools.lru_cache(maxsize=None)
def _strict_loader() -> type:
    """The strict loader class (built on first use, so importing this module needs no yaml)."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        """``yaml.SafeLoader`` that rejects duplicate keys and reads ``1e-4`` as a float."""

        source = "<config>"

        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen: dict[Any, Any] = {}
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue  # `<<: *anchor` keys may be overridden by explicit ones
                    key = self.construct_object(key_node, deep=True)
                    try:
                        first = seen.setdefault(key, key_node.start_mark)
                    except TypeError:
                        continue  # an unhashable key: SafeLoader's own error follows
                    if first is not key_node.start_mark:
                        mark = key_node.start_mark
                        raise ConfigError(f"{self.source}:{mark.line + 1}:{mark.column + 1}: duplicate key "
                                          f"{key!r} (first at line {first.line + 1}); each key may appear "
                                          f"once per mapping")
            return super().construct_mapping(node, deep=deep)

    StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789"))
    return StrictLoader


def _yaml_error(source: str, err: Exception) -> str:
    """One line for a YAML syntax error: ``file:line:column: problem``."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
    problem = getattr(err, "problem", None) or str(err)
    if "'\\t'" in problem:
        problem = "a tab character; YAML indents and separates with spaces only"
    context = getattr(err, "context", None)
    context_mark = getattr(err, "context_mark", None)
    if context and context_mark is not None and context_mark is not mark:
        problem += f" ({context} at line {context_mark.line + 1}, column {context_mark.column + 1})"
    return f"{where}: invalid YAML: {problem}"


def _reject_duplicate_json_keys(source: str):
    def hook(pairs):
        out = {}
        for key, value in pairs:
            if key in out:
                raise ConfigError(f"{source}: duplicate key {key!r}; each key may appear once per object")
            out[key] = value
        return out
    return hook


def load_yaml(path: str | os.PathLike) -> Any:
    """Parse one config file strictly: JSON for ``*.json``, else YAML with :func:`yaml.safe_load`'s
    types plus ``1e-4``-style floats (YAML 1.2), and no key twice in one mapping.

    Raises:
        ConfigError: the file is missing or unreadable; a YAML or JSON syntax error (``file:line:column``,
            e.g. a tab); a duplicate key (``file:line:column`` and the line of its first occurrence).
    """
    import yaml

    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: config file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{source}: cannot read the config file: {err}") from None
    if source.endswith(".json"):
        try:
            return json.loads(text, object_pairs_hook=_reject_duplicate_json_keys(source))
        except json.JSONDecodeError as err:
            raise ConfigError(f"{source}:{err.lineno}:{err.colno}: invalid JSON: {err.msg}") from None
    loader = _strict_loader()(text)
    loader.source = source
    try:
        return loader.get_single_data()
    except yaml.YAMLError as err:
        raise ConfigError(_yaml_error(source, err)) from None
    finally:
        loader.dispose()


def merge_config(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into ``base`` in place, mappings key by key, as Snakemake merges config
    files and ``--config`` (``snakemake.utils.update_config``); returns ``base``."""
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge_config(base[key], value)
        else:
            base[key] = copy.deepcopy(dict(value) if isinstance(value, Mapping) else value)
    return base


def load_config_files(paths: Iterable[str | os.PathLike], overrides: Mapping[str, Any] | None = None
                      ) -> dict[str, Any]:
    """The config of ``snakemake --configfile PATH...``: each file read with :func:`load_yaml` and
    merged in order (:func:`merge_config`), then ``overrides`` (the ``--config KEY=VALUE`` values).

    Raises:
        ConfigError: as :func:`load_yaml`; a file that is not a mapping of keys; a file that asks
            for a YTE template (``__use_yte__``), which this loader does not render.
    """
    config: dict[str, Any] = {}
    for path in paths:
        data = load_yaml(path)
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: a config file must be a mapping of keys (name:, datasets:, studies:, ...), "
                              f"got {'an empty file' if data is None else type(data).__name__}")
        if data.pop("__use_yte__", False):
            raise ConfigError(f"{path}: YTE templates (__use_yte__) are not supported; write plain YAML")
        merge_config(config, data)
    if overrides:
        merge_config(config, overrides)
    return config


# --- Validating against the schema ----------------------------------------------------------------

def _key_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 4] + " ..."


def _allowed_keys(schema: Mapping[str, Any]) -> list[str]:
    return sorted(schema.get("properties", {}))


def schema_error_message(error: Any) -> str:
    """The short message of one ``jsonschema.ValidationError``: the key path, the bad value and what
    was expected; for an unknown key the closest allowed key ("did you mean") and the allowed keys."""
    path = list(error.absolute_path)
    where = _key_path(path) or "the config"
    schema_path = list(error.absolute_schema_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = _allowed_keys(error.schema)
        patterns = list(error.schema.get("patternProperties", {}))
        extras = [k for k in error.instance if k not in allowed and not any(re.search(p, str(k)) for p in patterns)]
        if extras:
            key = extras[0]
            full = _key_path([*path, key])
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            more = f" (also unknown: {', '.join(map(repr, extras[1:]))})" if len(extras) > 1 else ""
            level = f"under {where}" if path else "at the top level"
            expected = f"did you mean {close[0]!r}?" if close else f"keys allowed {level}: {', '.join(allowed)}"
            return f"{full}: unknown key {key!r} (value {_short(error.instance[key])}); {expected}{more}"
    if "propertyNames" in schema_path:
        section = _key_path(path)
        what = {"studies": "study name", "datasets": "dataset name"}.get(section, "key")
        return name_error(section, error.instance, what)
    if path and path[-1] == "name" and len(path) == 1 and error.validator in ("pattern", "type"):
        return name_error("name", error.instance, "run name")
    if error.validator == "required":
        return f"{where}: {error.message} (required keys: {', '.join(error.validator_value)})"
    message = f"{where}: {error.message}"
    if error.validator == "type" and isinstance(error.instance, str) and "number" in str(error.validator_value):
        try:
            float(error.instance)
            message += " (write the number unquoted)"
        except ValueError:
            pass
    if error.validator == "enum":
        message = f"{where}: {_short(error.instance)} is not allowed; expected one of {list(error.validator_value)}"
    return message


def validate_study(study: dict[str, Any], where: str, schema: str | os.PathLike | None = None) -> None:
    """Validate one study (e.g. a study over several architectures merged with one architecture's
    keys, :func:`gannorm.config.cell_study`) against the schema's study definition.

    Raises:
        ConfigError: the first error, its key path after ``where``.
    """
    import jsonschema
    import yaml

    with open(Path(schema) if schema is not None else SCHEMA_PATH, encoding="utf-8") as handle:
        schema_doc = yaml.safe_load(handle)
    study_schema = {**schema_doc["$defs"]["study"], "$defs": schema_doc["$defs"]}
    probe = {k: v for k, v in study.items() if k not in ("architecture", "variant_records")}
    study_schema = {**study_schema, "properties": {k: v for k, v in study_schema["properties"].items()
                                                  if k != "architectures"}}
    error = jsonschema.exceptions.best_match(jsonschema.validators.validator_for(study_schema)(study_schema)
                                             .iter_errors(probe))
    if error is not None:
        path = ".".join(str(p) for p in error.absolute_path)
        raise ConfigError(f"{where}{'.' + path if path else ''}: {error.message}")


def validate_config(config: dict[str, Any], schema: str | os.PathLike | None = None) -> None:
    """Validate ``config`` against the JSON schema (default :data:`SCHEMA_PATH`) and fill in the
    schema's defaults in place, as ``snakemake.utils.validate`` does, but with a short error.

    The error names the key path, the bad value and what was expected (:func:`schema_error_message`);
    with the environment variable ``GANNORM_SCHEMA_ERRORS=full`` the validator's full report (the
    schema and the instance) follows.

    Raises:
        ConfigError: the first error the schema finds (jsonschema's ``best_match``).
    """
    import jsonschema
    import yaml
    from jsonschema import validators

    schema_path = Path(schema) if schema is not None else SCHEMA_PATH
    with open(schema_path, encoding="utf-8") as handle:
        schema_doc = yaml.safe_load(handle)
    base = validators.validator_for(schema_doc)
    properties = base.VALIDATORS["properties"]

    def set_defaults(validator, props, instance, subschema):
        if isinstance(instance, dict):
            for name, sub in props.items():
                if "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from properties(validator, props, instance, subschema)

    errors = list(validators.extend(base, {"properties": set_defaults})(schema_doc).iter_errors(config))
    if not errors:
        for name, study in (config.get("studies") or {}).items():  # each architecture's keys on top of the study's
            for arch, keys in (study.get("architectures") or {}).items():
                merged = {k: v for k, v in study.items() if k != "architectures"}
                for section, values in (keys or {}).items():
                    merged[section] = {**(study.get(section) or {}), **values} if isinstance(values, dict) else values
                validate_study(merged, f"studies.{name} (with architectures.{arch}'s keys)", schema_path)
        return
    best = jsonschema.exceptions.best_match(errors)
    message = schema_error_message(best)
    if len(errors) > 1:
        message += f"\n  ({len(errors) - 1} more schema error(s); fix this one first)"
    if os.environ.get(SCHEMA_ERRORS_ENV, "").lower() == "full":
        message += "\n\n" + "\n\n".join(str(e) for e in errors)
    else:
        message += f"\n  ({SCHEMA_ERRORS_ENV}=full shows the schema validator's full report)"
    raise ConfigError(message)
