"""IS, FID and KID via torch-fidelity (gannorm.metrics.fidelity; issue 12, item 4): the plumbing, on a
randomly initialised InceptionV3 weights file made here. Nothing is ever downloaded: every download
function torch-fidelity could reach raises.

Inception runs at 299 px (about 6 GFLOP an image on a CPU), so the tests score about 150 images in all.
"""

from __future__ import annotations

import io
import json
import math
import os
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from gannorm.config import ConfigError
from gannorm.metrics import fidelity
from data_fixtures import Payload

TEST_IMAGES = 32


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    """Any download attempt is a test failure."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"a download was attempted: {args[:1]}")

    import torch.hub
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(fe, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def _random_inception_state() -> dict[str, torch.Tensor]:
    """torch-fidelity's InceptionV3 architecture with random weights: its own class, built with its
    ``load_state_dict`` skipped (fed an empty dict written here), convolutions re-initialised with He
    initialisation so the features neither vanish nor explode through the ~100 layers."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class Bare(FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):  # keep the random init
            return None

    empty = io.BytesIO()
    torch.save({}, empty)
    empty.seek(0)
    torch.manual_seed(0)
    model = Bare("bare", ["2048"], feature_extractor_weights_path=empty)
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    return model.state_dict()


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("inception") / fidelity.WEIGHTS_FILE
    torch.save(_random_inception_state(), path)
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from gannorm.data import prepare

    return prepare("digits", {"source": "digits", "size": 8, "test_images": TEST_IMAGES, "split_seed": 0},
                   tmp_path_factory.mktemp("fidstore") / "digits")


def _evaluate(weights: Path, **extra) -> dict:
    return {"inception_weights": str(weights), "fidelity_samples": 16, "fidelity_batch_size": 16,
            "kid_subset_size": 10, "kid_subsets": 20, **extra}


@pytest.fixture(scope="module")
def scorer(store, weights):
    return fidelity.FidelityScorer(store, _evaluate(weights), torch.device("cpu"), log=lambda _: None)


class Replay(torch.nn.Module):
    """A 'generator' that ignores z and returns given images in turn, in [0, 1]."""

    latent = 4

    def __init__(self, images: torch.Tensor):
        super().__init__()
        self.images, self.at = images, 0

    def forward(self, z):
        index = (torch.arange(len(z)) + self.at) % len(self.images)
        self.at += len(z)
        return self.images[index]


# --- weights: name, URL, errors ---------------------------------------------------------------------

def test_the_url_and_file_are_torch_fidelitys():
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    assert fidelity.WEIGHTS_URL == URL_INCEPTION_V3 and URL_INCEPTION_V3.endswith("/" + fidelity.WEIGHTS_FILE)


def test_a_missing_weights_file_names_the_path_the_file_the_url_and_where_to_put_it(store, tmp_path):
    missing = tmp_path / "nowhere.pth"
    with pytest.raises(FileNotFoundError) as err:
        fidelity.FidelityScorer.from_config(store, {"inception_weights": str(missing)}, torch.device("cpu"))
    message = str(err.value)
    assert str(missing) in message and fidelity.WEIGHTS_URL in message and fidelity.SUGGESTED_PATH in message
    assert "\n" not in message
    assert fidelity.FidelityScorer.from_config(store, {"inception_weights": ""}, torch.device("cpu")) is None


def test_the_evaluate_cli_stops_on_a_missing_weights_file_before_opening_the_store(tmp_path, capsys):
    from gannorm.cli import main

    spec = {"architecture": "dcgan", "evaluate": {"inception_weights": str(tmp_path / "w.pth")}}
    with pytest.raises(SystemExit) as err:
        main(["evaluate", "--store", str(tmp_path / "no_store"), "--spec", json.dumps(spec), "--device", "cpu",
              "--run", str(tmp_path / "run")])
    assert fidelity.WEIGHTS_URL in str(err.value) and str(tmp_path / "w.pth") in str(err.value)


def test_a_pickled_payload_is_refused_and_runs_nothing(tmp_path):
    marker, path = tmp_path / "ran", tmp_path / "evil.pth"
    torch.save({"Conv2d_1a_3x3.conv.weight": Payload(marker)}, path)
    with pytest.raises(ValueError, match="tensors-only state dict"):
        fidelity.load_extractor(path, torch.device("cpu"))
    assert not marker.exists()


def test_a_state_dict_of_another_network_is_a_clear_error(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="not torch-fidelity's InceptionV3 weights") as err:
        fidelity.load_extractor(path, torch.device("cpu"))
    assert fidelity.WEIGHTS_URL in str(err.value)


# --- features, cache, metrics -------------------------------------------------------------------------

def test_images_become_uint8_rgb_and_features_have_inception_shapes(scorer):
    grey = torch.tensor([0.0, 0.5, 1.0, 1.2]).view(4, 1, 1, 1).expand(4, 1, 8, 8)
    rgb = fidelity.to_uint8_rgb(grey)
    assert rgb.dtype == torch.uint8 and rgb.shape == (4, 3, 8, 8)
    assert rgb[:, 0, 0, 0].tolist() == [0, 128, 255, 255] and torch.equal(rgb[:, 0], rgb[:, 2])
    with pytest.raises(ValueError, match="1 or 3"):
        fidelity.to_uint8_rgb(torch.zeros(1, 2, 8, 8))
    real = scorer.real
    assert real["2048"].shape == (TEST_IMAGES, 2048) and real["logits_unbiased"].shape == (TEST_IMAGES, 1008)
    assert real["2048"].dtype == np.float32 and real["mu"].shape == (2048,) and real["sigma"].shape == (2048, 2048)
    assert np.isfinite(real["2048"]).all() and real["2048"].std(0).mean() > 0


def test_the_real_statistics_are_computed_once_per_store_and_weights(store, scorer):
    path = Path(store.directory) / "fidelity" / f"{scorer.weights_sha256[:16]}-{TEST_IMAGES}.npz"
    assert path.is_file() and not list(path.parent.glob(".*"))  # no temporary file left behind
    stamp = path.stat().st_mtime_ns
    calls = []

    def counting(x):  # stands for the extractor: counts images, gives features of the right shapes
        calls.append(len(x))
        return torch.rand(len(x), 2048), torch.rand(len(x), 1008)

    again = fidelity.real_features(store, counting, scorer.weights_sha256, 16, torch.device("cpu"),
                                   log=lambda _: None)
    assert not again["computed"] and calls == [] and path.stat().st_mtime_ns == stamp
    assert np.array_equal(again["2048"], scorer.real["2048"]) and np.array_equal(again["sigma"], scorer.real["sigma"])
    other = fidelity.real_features(store, counting, "f" * 64, 16, torch.device("cpu"), log=lambda _: None)
    assert other["computed"] and sum(calls) == TEST_IMAGES  # other weights: computed, in another file
    assert (path.parent / f"{'f' * 16}-{TEST_IMAGES}.npz").is_file() and path.stat().st_mtime_ns == stamp
    assert not fidelity.real_features(store, counting, "f" * 64, 16, torch.device("cpu"), log=lambda _: None)["computed"]
    # a file of the same name made for other contents (another store, an older cache) is replaced
    with np.load(path.parent / f"{'f' * 16}-{TEST_IMAGES}.npz") as cached:
        arrays = {k: cached[k] for k in cached.files}
    arrays["meta"] = np.array(str(arrays["meta"]).replace('"version": 1', '"version": 0'))
    np.savez(path.parent / f"{'f' * 16}-{TEST_IMAGES}.npz", **arrays)
    assert fidelity.real_features(store, counting, "f" * 64, 16, torch.device("cpu"), log=lambda _: None)["computed"]
    assert sum(calls) == 2 * TEST_IMAGES


def test_a_worse_generator_scores_a_worse_fid_and_kid(store, scorer):
    real = torch.from_numpy(store.as_float(store.test_indices))
    good = scorer.score(Replay(real))
    grey = scorer.score(Replay(torch.full((1, 1, 8, 8), 0.5)))
    assert good["fid"] < grey["fid"] and good["kid_mean"] < grey["kid_mean"]
    assert good["fid"] >= 0 and good["samples"] == 16 and good["real_images"] == TEST_IMAGES
    assert set(good) >= {"inception_score_mean", "inception_score_std", "fid", "kid_mean", "kid_std", "samples",
                         "real_images", "weights_sha256", "real_inception_score_mean"}
    assert 1 <= good["inception_score_mean"] <= 1008 and grey["inception_score_mean"] == pytest.approx(1, abs=1e-6)


def test_kid_subsets_larger_than_the_samples_are_refused(store, weights):
    with pytest.raises(ValueError, match="evaluate.kid_subset_size"):
        fidelity.FidelityScorer(store, _evaluate(weights, kid_subset_size=TEST_IMAGES + 1, fidelity_samples=100),
                                torch.device("cpu"))


# --- config -------------------------------------------------------------------------------------------

def _config(**evaluate):
    from test_config_errors import minimal_config

    config = minimal_config()
    config["studies"]["mine"]["evaluate"].update(evaluate)
    return config


def test_the_config_check_names_the_key_for_each_inconsistency(weights, tmp_path):
    from test_config_errors import checked

    config = checked(_config())  # off by default: the schema's defaults fill the keys
    assert config["studies"]["mine"]["evaluate"]["inception_weights"] == ""
    assert config["studies"]["mine"]["evaluate"]["fidelity_samples"] == 50_000
    checked(_config(inception_weights=str(weights), kid_subset_size=16))
    with pytest.raises(ConfigError) as err:
        checked(_config(inception_weights=str(tmp_path / "w.pth"), kid_subset_size=16))
    assert str(err.value).startswith("studies.mine.evaluate.inception_weights: ") and fidelity.WEIGHTS_URL in str(err.value)
    with pytest.raises(ConfigError, match=r"studies\.mine\.evaluate\.kid_subset_size: 1000 exceeds the 32 test images"):
        checked(_config(inception_weights=str(weights)))
    with pytest.raises(ConfigError, match=r"studies\.mine\.evaluate\.kid_subset_size: 20 exceeds evaluate\.fidelity_samples"):
        checked(_config(inception_weights=str(weights), kid_subset_size=20, fidelity_samples=10))
    from test_config_errors import demo

    config = demo()
    config["studies"]["mullery_sr"]["evaluate"].update(inception_weights=str(weights), kid_subset_size=16)
    with pytest.raises(ConfigError, match=r"studies\.mullery_sr\.evaluate\.inception_weights: architecture 'sr'"):
        checked(config)


def test_without_the_key_the_jobs_get_the_json_they_got_before(weights):
    from test_config_errors import checked

    study = checked(_config())["studies"]["mine"]
    off = fidelity.without_fidelity(study, keep_when_enabled=True)
    assert not set(off["evaluate"]) & set(fidelity.FIDELITY_KEYS)
    assert set(off["evaluate"]) == {"images", "steps", "lr", "batch_size", "reconstructions"}
    on = checked(_config(inception_weights=str(weights), kid_subset_size=16))["studies"]["mine"]
    assert fidelity.without_fidelity(on, keep_when_enabled=True)["evaluate"]["kid_subset_size"] == 16
    assert fidelity.without_fidelity(on) == fidelity.without_fidelity(study)  # training: the same JSON either way


# --- final evaluation and report ----------------------------------------------------------------------

def test_final_evaluation_with_the_key_writes_fidelity_per_checkpoint_and_the_report_reads_it(
        store, weights, scorer, small_study, tmp_path):
    from gannorm.evaluate.final import final_evaluation
    from gannorm.report.runs import ReportOptions, load_run, measure
    from gannorm.report.tables import measured_columns
    from gannorm.studies import FIDELITY
    from gannorm.train.loop import train_dcgan

    spec = {**small_study, "train": {**small_study["train"], "iterations": 20}}
    spec["evaluate"] = {**spec["evaluate"], "images": 4, "steps": 3,
                        **_evaluate(weights, fidelity_samples=10, fidelity_batch_size=10, kid_subset_size=8)}
    train_dcgan(store, spec, study="s", variant="batch", seed=0, out_dir=tmp_path, device=torch.device("cpu"),
                progress=False)
    final = final_evaluation(store, spec, tmp_path, torch.device("cpu"), progress=False)
    assert json.loads((tmp_path / "final_eval.json").read_text())["checkpoints"] == json.loads(
        json.dumps(final["checkpoints"]))
    for name in ("best", "last"):
        entry = final["checkpoints"][name]["fidelity"]
        assert entry["samples"] == 10 and entry["real_images"] == TEST_IMAGES and entry["kid_subset_size"] == 8
        assert math.isfinite(entry["fid"]) and entry["weights_sha256"] == scorer.weights_sha256
    assert final["timings"]["fidelity"] > 0
    run = load_run(tmp_path)
    options = ReportOptions()
    value = measure(run, "final_is", options)
    # the converged model's (no evaluate_at: the last checkpoint), as Wu et al. score the trained model
    assert value.value == pytest.approx(final["checkpoints"]["last"]["fidelity"]["inception_score_mean"])
    assert measured_columns([run], FIDELITY, options) == list(FIDELITY)

    del spec["evaluate"]["inception_weights"]  # off: no fidelity entry, no timing, "not measured" with the reason
    plain = final_evaluation(store, spec, tmp_path, torch.device("cpu"), progress=False)
    assert "fidelity" not in plain["checkpoints"]["best"] and "fidelity" not in plain["timings"]
    run = load_run(tmp_path)
    missing = measure(run, "final_fid", options)
    assert math.isnan(missing.value) and "evaluate.inception_weights not set" in missing.why
    assert measured_columns([run], FIDELITY, options) == []


def test_an_evaluation_without_the_key_imports_no_torch_fidelity(tmp_path):
    import subprocess
    import sys

    code = ("import sys\nimport gannorm.evaluate.final, gannorm.cli, gannorm.config\n"
            "print('torch_fidelity' in sys.modules)")
    src = Path(__file__).resolve().parents[1] / "src"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(src)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"


# --- claims and tables by IS (fake run folders) -------------------------------------------------------

def _is_runs(root: Path, scores: dict) -> list[dict]:
    """Runs of ``{(variant, seed): IS or None}``; None = evaluated without evaluate.inception_weights."""
    from test_report import GAN_CONFIG, recon_final, write_run

    from gannorm.report.runs import load_runs

    dirs = []
    for (variant, seed), score in scores.items():
        final = recon_final([0.01, 0.02])
        if score is not None:
            for entry in final["checkpoints"].values():
                entry["fidelity"] = {"inception_score_mean": score, "inception_score_std": 0.1, "fid": 50 / score,
                                     "kid_mean": 0.01, "kid_std": 0.001, "samples": 100, "real_images": 50}
        dirs.append(write_run(root, "s", variant, seed, config=GAN_CONFIG, final=final))
    return load_runs(dirs)


def test_best_of_higher_compares_each_candidate_and_reports_the_best_with_bonferroni(tmp_path):
    from scipy import stats

    from gannorm.report import claims
    from gannorm.studies import Claim

    claim = Claim("GN at its best group count has a higher IS than LN", "final_is", ("ln",), ("g4", "g8", "g16"),
                  "T", best_of_higher=True)
    scores = {("ln", 0): 3.0, ("ln", 1): 3.0, ("ln", 2): 3.0, ("g4", 0): 4.0, ("g8", 0): 3.5, ("g4", 1): 4.0,
              ("g8", 1): 5.0, ("g4", 2): 4.2, ("g8", 2): 2.0}
    verdict = claims.evaluate(claim, _is_runs(tmp_path, scores))  # g16 was not run
    (pair,) = verdict.pairs
    g4 = [25.0, 25.0, 100 * 1.2 / 4.2]  # 1 - ln / g4 per seed
    assert pair.lower == "ln" and pair.higher == "g4" and pair.effects == pytest.approx(g4)
    assert pair.interval() == pytest.approx(stats.t.interval(0.975, 2, loc=np.mean(g4), scale=stats.sem(g4)))
    assert verdict.verdict == "supported" and verdict.absent == ["g16"]
    with pytest.raises(ValueError, match="best_of_lower and best_of_higher"):
        Claim("x", "final_is", ("ln",), ("g4",), "T", best_of_lower=True, best_of_higher=True)


def test_wu_is_claim_is_not_measured_without_the_key_and_the_table_leaves_the_columns_out(tmp_path):
    from gannorm.report import claims
    from gannorm.report.runs import ReportOptions
    from gannorm.report.tables import write_study_table
    from gannorm.studies import RECONSTRUCTION
    from gannorm.studies.wu import WU_CRITIC_NORM

    claim = next(c for c in WU_CRITIC_NORM.claims if c.quantity == "final_is")
    variants = ("critic_ln", "critic_gn4", "critic_gn8")
    runs = _is_runs(tmp_path / "off", {(v, s): None for v in variants for s in range(3)})
    verdict = claims.evaluate(claim, runs)
    assert verdict.verdict == "not measured" and "evaluate.inception_weights not set" in verdict.reason
    assert verdict.reason.count("inception_weights") == 1  # one reason for all runs, said once
    published = WU_CRITIC_NORM.published[0]
    table = write_study_table(RECONSTRUCTION, "wu", runs, ReportOptions(), published, tmp_path / "off.csv",
                              tmp_path / "off.tex", "tab:wu")
    assert "final_is" not in table and "IS (converged/last)" not in (tmp_path / "off.tex").read_text()

    runs = _is_runs(tmp_path / "on", {(v, s): 3.0 + 0.1 * i + 0.01 * s for i, v in enumerate(variants)
                                      for s in range(3)})
    assert claims.evaluate(claim, runs).verdict == "supported"
    table = write_study_table(RECONSTRUCTION, "wu", runs, ReportOptions(), published, tmp_path / "on.csv",
                              tmp_path / "on.tex", "tab:wu")
    assert {"final_is", "final_fid", "final_kid"} <= set(table)
    assert table.loc[table["kind"] == "published", "final_is"].tolist() == [3.632]  # LN, Wu et al. Figure 2
    tex = (tmp_path / "on.tex").read_text()
    assert "IS (converged/last)" in tex and "FID (converged/last)" in tex and "Heusel" in tex
