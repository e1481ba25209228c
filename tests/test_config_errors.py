"""Untrusted names and config mistakes: what a user sees before any job runs.

Study, dataset and run names become rule names, folders under results/ and words of shell commands,
so they must be identifiers; config files are read strictly (duplicate keys, ``1e-4``, tabs) and a
schema error is one short message naming the key path, the value and what was expected.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml

from gannorm.config import ConfigError, check_config
from test_workflow import snakemake, workflow_copy

REPO = Path(__file__).resolve().parents[1]
IDENTIFIER = "^[A-Za-z][A-Za-z0-9_]*$"


def minimal_config(dataset: str = "digits", study: str = "mine", name: str = "t") -> dict:
    """The smallest valid config: one digits dataset and one xiang_li study on it."""
    return {"name": name, "device": "cpu",
            "datasets": {dataset: {"source": "digits", "size": 16, "test_images": 32}},
            "studies": {study: {"paper": "xiang_li", "dataset": dataset, "variants": ["vanilla"], "seeds": [0],
                                "train": {"eval_images": 8}, "evaluate": {"images": 16}}}}


def demo() -> dict:
    return copy.deepcopy(yaml.safe_load((REPO / "config.yaml").read_text()))


def repo_copy(folder: Path) -> Path:
    """A workflow copy in ``folder`` (created), so that a marker file can sit beside it."""
    folder.mkdir()
    return workflow_copy(folder)


def output(result) -> str:
    return result.stdout + result.stderr


def checked(config: dict) -> dict:
    """Validate ``config`` as the Snakefile does (schema, then gannorm.config.check_config)."""
    from gannorm.config_files import validate_config

    validate_config(config)
    check_config(config)
    return config


# --- 1. names ---------------------------------------------------------------------------------------


def test_an_injected_study_name_is_rejected_before_any_job(tmp_path):
    marker = tmp_path / "PWNED"
    workdir = repo_copy(tmp_path / "repo")
    config = demo()
    config["studies"][f"x; touch {marker}; echo"] = config["studies"].pop("tutorial_mlp")
    (workdir / "inj.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "-n", "--configfile", "inj.yaml")
    assert result.returncode != 0, "the dry run accepted a study name holding a shell command"
    assert f"studies: 'x; touch {marker}; echo' is not a valid study name" in output(result)
    assert IDENTIFIER in output(result)
    assert not marker.exists() and not (workdir / "results").exists()


def test_an_injected_dataset_name_runs_no_command(tmp_path):
    """A real (not dry) run of the first job that would receive the name: it must not start. (The
    rules' shell runs with ``set -e``: ``prepare --help`` exits 0, so the injected ``touch`` would run.)"""
    marker = tmp_path / "PWNED"
    name = f"d --help; touch {marker}; echo"
    workdir = repo_copy(tmp_path / "repo")
    (workdir / "inj.yaml").write_text(yaml.safe_dump(minimal_config(dataset=name)))
    result = snakemake(workdir, f"results/t/data/{name}/store.json", "--cores", "1", "--configfile", "inj.yaml",
                       timeout=300)
    assert not marker.exists(), "the dataset name ran as a shell command"
    assert result.returncode != 0
    assert "is not a valid dataset name" in output(result)


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["studies"].update({"../x": c["studies"].pop("mine")}), "studies: '../x' is not a valid study name"),
    (lambda c: c.update(datasets={"..": c["datasets"]["digits"]}) or c["studies"]["mine"].update(dataset=".."),
     "datasets: '..' is not a valid dataset name"),
    (lambda c: c.update(name=".."), "name: '..' is not a valid run name"),
    (lambda c: c.update(name="../x"), "name: '../x' is not a valid run name"),
    (lambda c: c["studies"].update({"a(b": c["studies"].pop("mine")}), "studies: 'a(b' is not a valid study name"),
    (lambda c: c["studies"].update({"a b": c["studies"].pop("mine")}), "studies: 'a b' is not a valid study name"),
])
def test_path_and_regex_names_are_rejected_by_validation(edit, message):
    config = minimal_config()
    edit(config)
    with pytest.raises(ConfigError, match=re.escape(message) + r".*" + re.escape(IDENTIFIER)):
        checked(config)


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.update(name="t\n"), "name: 't\\n' is not a valid run name"),  # the schema's $ allows a final \n
    (lambda c: c["studies"].update({7: c["studies"].pop("mine")}), "studies: 7 is not a valid study name"),
])
def test_check_config_rejects_names_the_schema_pattern_lets_through(edit, message):
    config = minimal_config()
    edit(config)
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_config(config)


@pytest.mark.parametrize("config", [
    minimal_config(name=".."),
    {**minimal_config(), "studies": {"a(b": minimal_config()["studies"]["mine"]}},
])
def test_a_bad_name_stops_the_dry_run_with_the_message_not_a_crash(tmp_path, config):
    workdir = workflow_copy(tmp_path)
    (workdir / "bad.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "-n", "--configfile", "bad.yaml")
    assert result.returncode != 0
    assert "is not a valid" in output(result) and IDENTIFIER in output(result)
    assert "unterminated subpattern" not in output(result)


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


# --- 2. config errors a user can act on -----------------------------------------------------------


def test_an_unknown_key_is_one_short_message_with_did_you_mean(tmp_path):
    workdir = workflow_copy(tmp_path)
    config = demo()
    config["studies"]["xiang_li"]["train"]["iteratons"] = 5
    (workdir / "bad.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "-n", "--configfile", "bad.yaml")
    assert result.returncode != 0
    text = output(result)
    assert "studies.xiang_li.train.iteratons: unknown key 'iteratons' (value 5); did you mean 'iterations'?" in text
    assert "Failed validating" not in text and "additionalProperties" not in text, "no schema dump by default"
    assert len(text.splitlines()) < 15, text


def test_the_full_schema_report_is_there_when_asked(monkeypatch):
    from gannorm.config_files import validate_config

    config = minimal_config()
    config["studies"]["mine"]["train"]["iteratons"] = 5
    with pytest.raises(ConfigError) as short:
        validate_config(copy.deepcopy(config))
    monkeypatch.setenv("GANNORM_SCHEMA_ERRORS", "full")
    with pytest.raises(ConfigError) as full:
        validate_config(copy.deepcopy(config))
    assert "Failed validating 'additionalProperties'" not in str(short.value)
    assert str(full.value).startswith(str(short.value).splitlines()[0])
    assert "Failed validating 'additionalProperties'" in str(full.value)


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.update(studes=c.pop("studies")), "studes: unknown key 'studes' (value {'mine': "),
    (lambda c: c.update(studes=c.pop("studies")), "did you mean 'studies'?"),
    (lambda c: c.update(zzz=1), "zzz: unknown key 'zzz' (value 1); keys allowed at the top level: data_root, datasets"),
    (lambda c: c["studies"]["mine"]["train"].update(iterations=-5),
     "studies.mine.train.iterations: -5 is less than the minimum of 1"),
    (lambda c: c.update(device="gpu"), "device: 'gpu' is not allowed; expected one of ['auto', 'cpu', 'cuda']"),
    (lambda c: c["studies"]["mine"].pop("paper"), "studies.mine: 'paper' is a required property"),
    (lambda c: c["studies"]["mine"]["train"].update(lr="1e-4"),
     "studies.mine.train.lr: '1e-4' is not of type 'number' (write the number unquoted)"),
])
def test_schema_errors_name_the_key_path_the_value_and_what_was_expected(edit, message):
    from gannorm.config_files import validate_config

    config = minimal_config()
    edit(config)
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    assert message in str(err.value).splitlines()[0]


TAB_CONFIG = "name: t\ndevice: cpu\ndatasets:\n  digits:\n\tsource: digits\n"


def test_a_tab_in_the_default_config_names_line_and_column(tmp_path):
    workdir = workflow_copy(tmp_path)
    (workdir / "config.yaml").write_text(TAB_CONFIG)
    result = snakemake(workdir, "-n")
    assert result.returncode != 0
    assert "config.yaml:5:1: invalid YAML: a tab character" in output(result)


def test_the_strict_loader_reports_syntax_errors_as_file_line_column(tmp_path):
    from gannorm.config_files import load_yaml

    for text, where in ((TAB_CONFIG, "5:1"), ("name: t\nstudies: {a: 1\n", "3:1"), ("a: b: c\n", "1:5")):
        path = tmp_path / "mine.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:{where}: invalid YAML: ") as err:
            load_yaml(path)
        assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="missing.yaml: config file not found"):
        load_yaml(tmp_path / "missing.yaml")


DUPLICATE_STUDY = """\
name: t
device: cpu
datasets:
  digits: {source: digits, size: 16, test_images: 32}
studies:
  mine:
    paper: xiang_li
    dataset: digits
    seeds: [0]
  mine:
    paper: xiang_li
    dataset: digits
    seeds: [1]
    train: {eval_images: 8}
    evaluate: {images: 16}
"""


def test_a_duplicate_study_is_an_error_naming_its_line(tmp_path):
    workdir = workflow_copy(tmp_path)
    (workdir / "dup.yaml").write_text(DUPLICATE_STUDY)
    result = snakemake(workdir, "-n", "--configfile", "dup.yaml")
    assert result.returncode != 0
    assert "dup.yaml:10:3: duplicate key 'mine' (first at line 6)" in output(result)


def test_duplicate_keys_are_errors_at_any_depth_but_merge_keys_may_be_overridden(tmp_path):
    from gannorm.config_files import load_yaml

    path = tmp_path / "c.yaml"
    path.write_text("a:\n  b: 1\n  c: 2\n  b: 3\n")
    with pytest.raises(ConfigError, match=r"c.yaml:4:3: duplicate key 'b' \(first at line 2\)"):
        load_yaml(path)
    path.write_text('{"a": 1, "a": 2}')
    json_path = path.with_suffix(".json")
    path.rename(json_path)
    with pytest.raises(ConfigError, match=r"c.json: duplicate key 'a'"):
        load_yaml(json_path)
    path.write_text("base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  y: 3\n")
    assert load_yaml(path) == {"base": {"x": 1, "y": 2}, "derived": {"x": 1, "y": 3}}


def test_an_unquoted_1e_minus_4_is_the_number(tmp_path):
    workdir = workflow_copy(tmp_path)
    text = yaml.safe_dump(minimal_config()).replace("eval_images: 8", "eval_images: 8\n      lr: 1e-4")
    assert "lr: 1e-4" in text
    (workdir / "mine.yaml").write_text(text)
    result = snakemake(workdir, "-n", "-p", "--configfile", "mine.yaml")
    assert result.returncode == 0, output(result)[-3000:]
    spec = re.search(r"-m gannorm train .*--spec '(\{.*?\})'", output(result)).group(1)
    assert json.loads(spec)["train"]["lr"] == 0.0001


@pytest.mark.parametrize("text, value", [
    ("1e-4", 0.0001), ("1E5", 100000.0), ("-2.5e+3", -2500.0), ("1.0e5", 100000.0), ("1.0e-4", 0.0001),
    ("3", 3), ("1_000", 1000), ("0.5", 0.5), ("e5", "e5"), ("1.2.3", "1.2.3"), ("'1e-4'", "1e-4"), ("true", True),
])
def test_the_strict_loader_reads_exponent_numbers_as_floats(tmp_path, text, value):
    from gannorm.config_files import load_yaml

    path = tmp_path / "c.yaml"
    path.write_text(f"x: {text}\n")
    assert load_yaml(path) == {"x": value}
    assert type(load_yaml(path)["x"]) is type(value)


def test_command_line_config_values_still_apply(tmp_path):
    workdir = workflow_copy(tmp_path)
    result = snakemake(workdir, "-n", "--configfile", "configs/smoke.yaml", "--config", "name=other")
    assert result.returncode == 0, output(result)[-3000:]
    assert "results/other/runs/xiang_li/" in output(result) and "results/smoke/" not in output(result)


def test_the_report_only_command_takes_the_target_before_the_config_file(tmp_path):
    """docs/running.md: ``snakemake --cores 1 report --configfile mine.yaml`` (after --configfile, `report` would
    be read as a second config file)."""
    workdir = workflow_copy(tmp_path)
    result = snakemake(workdir, "-n", "--cores", "1", "report", "--configfile", "configs/smoke.yaml")
    assert result.returncode == 0, output(result)[-3000:]
    assert "results/smoke/report.pdf" in output(result) and "rule all:" not in output(result)


def test_check_config_command_reports_the_error_or_a_summary(tmp_path, capsys):
    from gannorm.cli import main

    main(["check-config", str(REPO / "configs" / "smoke.yaml")])
    assert "smoke.yaml: valid; 7 studies" in capsys.readouterr().out
    (tmp_path / "tab.yaml").write_text(TAB_CONFIG)
    with pytest.raises(SystemExit) as exit_:
        main(["check-config", str(tmp_path / "tab.yaml")])
    assert exit_.value.code == 1
    assert f"config error: {tmp_path / 'tab.yaml'}:5:1: invalid YAML: a tab character" in capsys.readouterr().err
