"""Each architecture's defaults live in one frozen dataclass (``gannorm.models.<arch>_config``); the
config schema, the defaults table of docs/configuration.md and the code cannot disagree with it."""

from __future__ import annotations

import dataclasses
import importlib
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from gannorm.models.config_fields import SAME
from gannorm.models.configs import (ARCHITECTURE_CONFIGS, defaults_markdown, entries, format_value, defaults_section,
                                    write_defaults, DEFAULTS_PAGE)

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
STUDY = SCHEMA["$defs"]["study"]["properties"]
MISSING = object()


def plain(value):
    """Tuples as lists (the schema's YAML defaults are lists)."""
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    return value


def test_one_frozen_config_dataclass_per_architecture():
    from gannorm.models.architectures import registry

    assert set(ARCHITECTURE_CONFIGS) == set(registry())
    for name, record in registry().items():
        cls = record.config
        assert ARCHITECTURE_CONFIGS[name] is cls
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, name
        assert cls.architecture == name and cls.__module__ == f"gannorm.models.{name}_config"
        module = importlib.import_module(record.module)  # the networks re-export both
        assert module.VARIANTS is cls.variants and getattr(module, cls.__name__) is cls, name
        assert record.paper_variants == cls.variants


@pytest.mark.parametrize("entry", entries(), ids=lambda e: f"{e.architecture}-{e.path}")
def test_every_default_agrees_with_the_schema(entry):
    properties = STUDY[entry.section]["properties"]
    if not entry.settable:
        assert entry.key not in properties, f"{entry.path} is a schema key: drop settable=False"
        return
    assert entry.key in properties, f"{entry.path} is not a key of the schema"
    key_schema = properties[entry.key]
    schema_default = key_schema.get("default", MISSING)
    if entry.study_default is SAME:
        assert schema_default is MISSING or plain(schema_default) == plain(entry.default), (
            f"{entry.architecture} {entry.path}: schema default {schema_default!r} != {entry.default!r}; if a study "
            f"must get the schema's value, declare study_default={schema_default!r}")
    else:
        assert schema_default is not MISSING, f"{entry.path}: study_default given but the schema has no default"
        assert plain(schema_default) == plain(entry.study_default) != plain(entry.default)
    jsonschema.validate(plain(entry.default), key_schema)  # a valid value of that key


PER_ARCHITECTURE = re.compile(r"(\[[^\]]*\]|[^\s,(\[]+) \(([a-z0-9_, ]+)\)")


@pytest.mark.parametrize("section", ["model", "train", "evaluate"])
def test_schema_descriptions_state_each_architectures_default(section):
    # "default per architecture: 64 (dcgan, sr), 128 (iwgan, wgan_resnet); ..." must list the dataclasses' values.
    checked = 0
    for key, spec in STUDY[section]["properties"].items():
        text = " ".join(spec.get("description", "").split())
        if "default per architecture:" not in text:
            continue
        stated = {}
        for value, names in PER_ARCHITECTURE.findall(text.split("default per architecture:", 1)[1].split(";")[0]):
            stated.update({name.strip(): value for name in names.split(",")})
        having = {e.architecture: format_value(e.default) for e in entries() if e.section == section and e.key == key}
        assert stated == having, f"{section}.{key}: the schema's description says {stated}, the dataclasses {having}"
        checked += 1
    assert checked or section == "evaluate"


def test_schema_defaults_of_model_keys_suit_every_architecture():
    # A model key's default in the schema would reach every architecture; only sr's vgg_weights has one.
    with_default = {key for key, spec in STUDY["model"]["properties"].items() if "default" in spec}
    assert with_default == {"vgg_weights"}


def test_the_defaults_page_holds_exactly_the_generated_table(tmp_path):
    page = (REPO / DEFAULTS_PAGE).read_text()
    assert defaults_section(page) == defaults_markdown(), f"run: python -m gannorm defaults --write {DEFAULTS_PAGE}"
    assert page.count("<!-- defaults:begin -->") == page.count("<!-- defaults:end -->") == 1
    copy = tmp_path / "configuration.md"
    copy.write_text(page.replace("| `model.width` | `64` |", "| `model.width` | `65` |", 1))
    assert write_defaults(copy) and copy.read_text() == page and not write_defaults(copy)


def test_defaults_cli_prints_the_table():
    out = subprocess.run([sys.executable, "-m", "gannorm", "defaults"], capture_output=True, text=True, check=True,
                         cwd=REPO, env={"PYTHONPATH": str(REPO / "src"), "PATH": ""}).stdout
    assert out == defaults_markdown()


def test_config_checking_imports_no_torch():
    code = ("import sys, gannorm.config, gannorm.models, gannorm.models.configs; "
            "gannorm.models.variants('toy2d'); assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(REPO / "src"), "PATH": ""})


def test_missing_or_null_keys_take_the_dataclass_defaults():
    from gannorm.models.dcgan import spec_from_config
    from gannorm.models.dcgan_config import DCGANConfig
    from gannorm.models.wgan_resnet_config import WGANResNetConfig

    spec = spec_from_config("batch", {"width": None}, {"size": 16, "channels": 1})
    assert (spec.width, spec.latent, spec.head) == (DCGANConfig.width, DCGANConfig.latent, DCGANConfig.head)
    cfg = WGANResNetConfig.from_config(model={"width": 8, "other_key": 1}, train={"gp_weight": None})
    assert cfg.width == 8 and cfg.gp_weight == 10.0 and cfg.latent == 128
    assert WGANResNetConfig.lookup("train", {"lr": 2e-4}, "lr") == 2e-4
    with pytest.raises(KeyError, match="no default for train.shift_incentive"):
        WGANResNetConfig.default("train", "shift_incentive")


def test_toy2d_train_dict_keeps_its_keys_values_and_order():
    # run.json's "train" dict: the defaults in this order (lists, not tuples), then the study's other keys.
    from gannorm.train.toy2d import train_config

    resolved = train_config({"train": {"lr": 5e-4, "iterations": None, "eval_every": 7}})
    assert list(resolved.items()) == [
        ("iterations", 2000), ("lr", 5e-4), ("adam_betas", [0.9, 0.999]), ("adam_eps", 1e-7), ("optimizer", "adam"),
        ("shift_incentive", 0.005), ("log_every", 10), ("eval_images", 1024), ("sample_every", 500),
        ("samples", 1024), ("eval_every", 7)]


def test_harness_constants_agree_with_the_schema():
    from gannorm.metrics.histograms import DEFAULT_BINS
    from gannorm.train.loop import RESUME_EVERY

    train = STUDY["train"]["properties"]
    assert RESUME_EVERY == train["resume_every"]["default"]
    assert DEFAULT_BINS == train["histogram_bins"]["default"]
