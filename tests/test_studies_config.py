"""Every study as configuration: the studies' variants against the architectures', config checks per
study, and the paper config's dry run (every cell listed, one GPU per training job)."""

from __future__ import annotations

import copy
import importlib
import re
from pathlib import Path

import pytest
import yaml

from gannorm.config import ConfigError, check_config, resolve_studies
from gannorm.models.architectures import registry as architectures
from gannorm.studies import registry

REPO = Path(__file__).resolve().parents[1]


def validated(config):
    """The config as the Snakefile sees it: schema defaults filled in, each study's paper resolved."""
    from snakemake.utils import validate

    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"))
    resolve_studies(config)
    return config


def test_the_model_modules_reexport_their_records_variants():
    for name, record in architectures().items():
        assert tuple(importlib.import_module(record.module).VARIANTS) == record.paper_variants, name


def test_every_built_in_study_compares_variants_its_architecture_takes():
    from gannorm.models.variant import preset

    studies = registry()
    assert {a for s in studies.values() for a in s.architectures} >= set(architectures())
    for paper, study in studies.items():
        for architecture in study.architectures:
            for variant in study.variants_in.get(architecture, study.variants):
                architectures()[architecture].check_variant(preset(variant))  # raises if it cannot


@pytest.mark.parametrize("path", ["config.yaml", "configs/smoke.yaml", "configs/paper.yaml"])
def test_every_architecture_is_configured(path):
    config = validated(yaml.safe_load((REPO / path).read_text()))
    check_config(config)
    from gannorm.config import study_architectures

    assert {a for s in config["studies"].values() for a in study_architectures(s)} == set(architectures())


def demo():
    return copy.deepcopy(yaml.safe_load((REPO / "config.yaml").read_text()))


@pytest.mark.parametrize("edit, match", [
    (lambda c: c["studies"]["xiang_li"].update(variants=["joint"]),
     r"studies.xiang_li.variants\[0\]: variant 'joint' of study xiang_li \(dcgan\): architecture dcgan takes no 'batching'"),
    (lambda c: c["studies"]["xiang_li"].update(paper="xiang_lee"),
     r"studies.xiang_li.paper: unknown paper 'xiang_lee'; known: \['cross_architecture', 'johannsmeier'"),
    (lambda c: c["studies"]["johannsmeier"].update(dataset="digits"),
     r"studies.johannsmeier.dataset: architecture toy2d needs 2-D points \(a dataset with source toy2d\)"),
    (lambda c: c["studies"]["tutorial_mlp"].update(dataset="toy2d"),
     r"studies.tutorial_mlp.dataset: architecture mlp needs images; 'toy2d' has source 'toy2d'"),
    (lambda c: c["studies"]["mullery_sr"].update(dataset="digits"),
     r"studies.mullery_sr.dataset: architecture sr needs low-resolution inputs"),
    (lambda c: c["studies"]["wu_critic_norm"]["model"].update(width=48),
     r"studies.wu_critic_norm.variants\[5\]: variant 'critic_gn32' of study wu_critic_norm \(wgan_resnet\): the critic: group "
     r"normalization with groups = 32 cannot split the 48 channels"),
    (lambda c: c["datasets"]["toy2d"].update(test_images=5000),
     r"datasets.toy2d.test_images: 5000 held-out points, must be below points"),
])
def test_config_checks_name_the_key_per_architecture(edit, match):
    config = demo()
    edit(config)
    with pytest.raises(ConfigError, match=match):
        check_config(validated(config))


def test_a_study_over_several_architectures_runs_each_architectures_variants():
    from gannorm.config import cell_study, study_cells

    config = validated(demo())
    check_config(config)
    study = config["studies"]["cross_architecture"]
    cells = study_cells(study)
    by_arch = {a: [v for b, v, s in cells if b == a and s == 0] for a in ("dcgan", "resnet", "wgan_resnet")}
    assert by_arch["dcgan"] == by_arch["resnet"] == list(registry()["cross_architecture"].variants)
    assert by_arch["wgan_resnet"] == [v for v in by_arch["dcgan"] if v != "batch"]  # Study.variants_in
    assert len(cells) == 3 * 23
    assert cell_study(study, "wgan_resnet")["variants"] == by_arch["wgan_resnet"]
    assert cell_study(study, "wgan_resnet")["train"]["optimizer"] == "adam"
    assert cell_study(study, "dcgan")["model"]["width"] == 16
    # the config may narrow an architecture's list
    config = demo()
    config["studies"]["cross_architecture"]["architectures"]["resnet"]["variants"] = ["weight", "d_spectral"]
    config = validated(config)
    assert cell_study(config["studies"]["cross_architecture"], "resnet")["variants"] == ["weight", "d_spectral"]


@pytest.mark.parametrize("edit, match", [
    (lambda s: s["architectures"]["dcgan"].update(variants=["weight", "sn"]),
     r"studies.cross_architecture.architectures.dcgan.variants\[1\]: 'sn' is not one of the study's variants"),
    (lambda s: s["architectures"]["wgan_resnet"].update(variants=["weight", "batch"]),
     r"studies.cross_architecture.variants\[1\]: variant 'batch' of study cross_architecture \(wgan_resnet\): .*couples "
     r"the samples"),
])
def test_a_per_architecture_variant_list_is_checked(edit, match):
    config = demo()
    edit(config["studies"]["cross_architecture"])
    with pytest.raises(ConfigError, match=match):
        check_config(validated(config))


def test_paper_dry_run_lists_every_cell_and_one_gpu_per_training_job(tmp_path):
    from test_workflow import snakemake, workflow_copy

    from gannorm.config import study_cells

    config = validated(yaml.safe_load((REPO / "configs/paper.yaml").read_text()))
    result = snakemake(workflow_copy(tmp_path), "-n", "--configfile", "configs/paper.yaml", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout + result.stderr
    jobs = re.findall(r"rule (\w+):\n((?:    .*\n)+)", out)
    train = [body for name, body in jobs if name == "train"]
    expected = {(study, f"{arch}-{variant}", f"seed{seed}")
                for study, spec in config["studies"].items() for arch, variant, seed in study_cells(spec)}
    listed = set(re.findall(r"runs/(\w+)/([\w-]+)/(seed\d+)/metrics.csv", "".join(train)))
    assert listed == expected
    assert len(train) == len(expected)
    # Xiang & Li's Appendix D.2 variants train in the study of weight and vanilla (Tables 5 and 6)
    celeba = {cell for study, cell, _ in listed if study == "xiang_li_celeba"}
    assert {"dcgan-vanilla", "dcgan-weight", "dcgan-weight_affine", "dcgan-weight_meanbn"} <= celeba
    # the cross-architecture study: three architectures, no batch normalization in the WGAN-GP critic
    cross = {cell for study, cell, _ in listed if study == "cross_architecture"}
    assert len(cross) == 23 and "dcgan-batch" in cross and "resnet-batch" in cross and "wgan_resnet-batch" not in cross
    assert {"dcgan-d_spectral", "resnet-d_spectral", "wgan_resnet-d_spectral"} <= cross
    for body in train:
        assert re.search(r"resources: .*\bgpu=1\b", body), body
