"""Normalizations, variants and studies from outside the package, as a researcher adds them: the
"Adding a normalization" example of docs/extending.md (a plug-in file and a config, taken from the page as
written) runs through Snakemake to a PDF with a verdict per architecture, and spectral
normalization runs in a DCGAN and a WGAN-GP study from the config alone."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

from gannorm.config import ConfigError, check_config
from gannorm.config_files import validate_config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_workflow import ROOT, snakemake, workflow_copy  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_registries():
    """What a test's plug-in registers is gone after it (other tests see the built-in registries)."""
    from gannorm import studies
    from gannorm.models import norms, variant

    studies.registry()  # the built-in studies are discovered on first use: before the snapshot
    saved = (dict(norms._REGISTRY._records), dict(variant._PRESETS._records), dict(studies._REGISTRY))
    yield
    for table, before in zip((norms._REGISTRY._records, variant._PRESETS._records, studies._REGISTRY), saved):
        table.clear()
        table.update(before)


def doc_block(marker: str, language: str) -> str:
    """The fenced ``language`` block right after ``<!-- marker -->`` in docs/extending.md."""
    text = (ROOT / "docs" / "extending.md").read_text()
    match = re.search(rf"<!-- {marker} -->\n```{language}\n(.*?)\n```", text, re.S)
    assert match, f"docs/extending.md has no {language} block after <!-- {marker} -->"
    return match.group(1) + "\n"


def test_the_documented_plugin_registers_and_its_config_checks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_norms.py").write_text(doc_block("normalization-example", "python"))
    config = yaml.safe_load(doc_block("normalization-config", "yaml"))
    validate_config(config)
    check_config(config)  # imports the plug-in, resolves the study over two architectures
    from gannorm.models.norms import get
    from gannorm.studies import get as get_study

    assert get("rms").kind == "feature" and get_study("rms_vs_none").architectures == ("dcgan", "wgan_resnet")
    study = config["studies"]["rms"]
    assert set(study["architectures"]) == {"dcgan", "wgan_resnet"} and study["variants"] == ["critic_none", "rms_d", "sn_d"]
    assert study["variant_records"] == {"sn_d": {"name": "sn_d", "discriminator": "spectral"}}
    bad = yaml.safe_load(doc_block("normalization-config", "yaml"))
    bad["studies"]["rms"]["variants"] = [{"name": "bn_d", "discriminator": "batch"}]
    validate_config(bad)
    with pytest.raises(ConfigError, match=r"studies.rms.variants\[0\]: variant 'bn_d' of study rms \(wgan_resnet\): "
                                          r"batch in a WGAN-GP critic couples the samples of a batch"):
        check_config(bad)
    missing = dict(yaml.safe_load(doc_block("normalization-config", "yaml")), plugins=["no_such_norms.py"])
    validate_config(missing)
    with pytest.raises(ConfigError, match=r"plugins\[0\]: file .*no_such_norms.py not found"):
        check_config(missing)


def test_the_documented_study_example_registers_from_outside_the_package(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_bn_vs_wn.py").write_text(doc_block("study-example", "python"))
    config = {"name": "mine", "datasets": {"digits": {"source": "digits", "size": 16, "test_images": 297}},
              **yaml.safe_load(doc_block("study-config", "yaml"))}
    validate_config(config)
    check_config(config)
    study = config["studies"]["mine"]
    assert study["architecture"] == "dcgan" and study["variants"] == ["batch", "weight"]


@pytest.mark.workflow
def test_a_normalization_defined_outside_the_package_runs_over_two_architectures_to_a_pdf(tmp_path):
    workdir = workflow_copy(tmp_path)
    before = {p: p.read_bytes() for p in (workdir / "src").rglob("*") if p.is_file()}
    (workdir / "my_norms.py").write_text(doc_block("normalization-example", "python"))
    (workdir / "my_rms.yaml").write_text(doc_block("normalization-config", "yaml"))
    result = snakemake(workdir, "--cores", "2", "--configfile", "my_rms.yaml")
    assert result.returncode == 0, result.stderr[-4000:]
    assert all(p.read_bytes() == data for p, data in before.items()), "no file of the package may change"
    results = workdir / "results" / "rms"
    assert (results / "report.pdf").read_bytes()[:5] == b"%PDF-"
    for arch in ("dcgan", "wgan_resnet"):
        for variant in ("critic_none", "rms_d", "sn_d"):
            for seed in (0, 1, 2):
                assert (results / "runs" / "rms" / f"{arch}-{variant}" / f"seed{seed}" / "final_eval.json").is_file()
    section = (results / "report" / "study_rms.tex").read_text()
    for arch in ("dcgan", "wgan\\\\_resnet"):  # the claim, evaluated in each architecture on its own runs
        assert re.search(rf"in \\texttt{{{arch}}}: RMS normalization in D lowers the final reconstruction loss: "
                         r"\\textbf\{(supported|contradicted|inconclusive|not measured)\}", section), arch
    assert "3 seeds" in section
    assert "\\texttt{train} in \\texttt{wgan\\_resnet} instead: \\texttt{batch\\_size} 8" in section
    table = (results / "tables" / "rms.csv").read_text()
    assert "dcgan/rms_d" in table and "wgan_resnet/sn_d" in table
    assert "rms_d (D: rms)" in section.replace("\\texttt{", "").replace("}", "").replace("\\_", "_")


SPECTRAL_CONFIG = """
name: spectral
device: cpu
datasets:
  digits: {source: digits, size: 16, test_images: 32}
  digits8: {source: digits, size: 8, test_images: 32}
studies:
  dcgan_sn:
    paper: xiang_li
    dataset: digits
    seeds: [0]
    variants: [vanilla, {name: sn_d, discriminator: spectral}]
    model: {width: 8, latent: 8}
    train: {iterations: 10, batch_size: 16, log_every: 5, eval_every: 5, eval_images: 8, eval_steps: 5,
            sample_every: 10, samples: 4}
    evaluate: {images: 16, steps: 10, batch_size: 16, reconstructions: 4}
  critic_sn:
    paper: wu_critic_norm
    dataset: digits8
    seeds: [0]
    variants: [critic_none, {name: critic_sn, discriminator: spectral}]
    model: {width: 16, latent: 8}
    train: {iterations: 4, batch_size: 8, critic_warmup_generator_iterations: 0, critic_extra_at: [],
            log_every: 1, eval_every: 2, eval_images: 8, eval_steps: 5, sample_every: 4, samples: 4}
    evaluate: {images: 16, steps: 10, batch_size: 16, reconstructions: 4}
"""


@pytest.mark.workflow
def test_spectral_normalization_runs_in_a_dcgan_and_a_wgan_gp_study_from_the_config_alone(tmp_path):
    import torch

    workdir = workflow_copy(tmp_path)
    (workdir / "spectral.yaml").write_text(SPECTRAL_CONFIG)
    result = snakemake(workdir, "--cores", "2", "--configfile", "spectral.yaml")
    assert result.returncode == 0, result.stderr[-4000:]
    runs = workdir / "results" / "spectral" / "runs"
    for study, cell in (("dcgan_sn", "dcgan-sn_d"), ("critic_sn", "wgan_resnet-critic_sn")):
        run = runs / study / cell / "seed0"
        assert (run / "final_eval.json").is_file()
        state = torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
        critic = state.get("discriminator") or state.get("critic")
        assert any(k.endswith("parametrizations.weight.original") for k in critic), study
        assert any(k.endswith("_u") for k in critic), "the power-iteration vectors are kept"
        assert state["model"]["variant_record"]["discriminator"] == "spectral"
    assert (workdir / "results" / "spectral" / "report.pdf").read_bytes()[:5] == b"%PDF-"
