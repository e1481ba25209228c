"""Untrusted names and config mistakes: what a user sees before any job runs.

Study, dataset and run names become rule names, folders under results/ and words of shell commands,
so they must be identifiers; config files are read strictly (duplicate keys, ``1e-4``, tabs) and a
schema error is one short message naming the key path, the value and what was expected.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from gannorm.config import ConfigError, check_config

REPO = Path(__file__).resolve().parents[1]
IDENTIFIER = "^[A-Za-z][A-Za-z0-9_]*$"


def minimal_config(dataset: str = "digits", study: str = "mine", name: str = "t") -> dict:
    """The smallest valid config: one digits dataset and one xiang_li study on it."""
    return {"name": name, "device": "cpu",
            "datasets": {dataset: {"source": "digits", "size": 16, "test_images": 32}},
            "studies": {study: {"paper": "xiang_li", "dataset": dataset, "variants": ["vanilla"], "seeds": [0],
                                "train": {"eval_images": 8}, "evaluate": {"images": 16}}}}


# --- 1. names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.update(name="t\n"), "name: 't\\n' is not a valid run name"),  # the schema's $ allows a final \n
    (lambda c: c["studies"].update({7: c["studies"].pop("mine")}), "studies: 7 is not a valid study name"),
])
def test_check_config_rejects_names_the_schema_pattern_lets_through(edit, message):
    config = minimal_config()
    edit(config)
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_config(config)


def test_the_schema_and_check_config_use_one_name_pattern():
    from gannorm.config import NAME_PATTERN

    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())["properties"]
    assert NAME_PATTERN == IDENTIFIER
    assert schema["name"]["pattern"] == NAME_PATTERN
    assert schema["studies"]["propertyNames"]["pattern"] == NAME_PATTERN
    assert schema["datasets"]["propertyNames"]["pattern"] == NAME_PATTERN


# Placeholders of values substituted into shell commands, and the two that need no :q.
# (Shell fields index the config as {config[gpu][lock_dir]}; f-strings' {config['name']} are Python.)
PLACEHOLDER = re.compile(r"(?<![{$])\{((?:log|params|wildcards|input|output|resources|threads)\b[^{}]*|config\[\w[^{}]*)\}"
                         r"(?!\})")
UNQUOTED = {"threads": "an integer", "params.specs": "already shlex-quoted, one --spec word per dataset"}


def test_every_value_reaching_a_shell_command_is_quoted():
    found, unquoted = 0, []
    for path in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for field in PLACEHOLDER.findall(path.read_text()):
            found += 1
            if not field.endswith(":q") and field not in UNQUOTED:
                unquoted.append(f"{path.name}: {{{field}}}")
    assert found > 30, "the placeholder pattern no longer finds the rules' shell fields"
    assert unquoted == []
