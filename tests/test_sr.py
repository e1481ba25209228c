"""Super-resolution study (Mullery & Whelan, section 4; Johnson et al. 2016, supplementary table 2):
the 4x generator, the VGG16 perceptual loss, the training objective and the final evaluation.

Every loss network here is ``vgg_weights="random"`` (explicitly): tests never download."""

from __future__ import annotations

import json
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from gannorm.models.heads import to_unit
from gannorm.models.sr import VARIANTS, SRGenerator, build
from gannorm.models.vgg import LAYER_INDEX, VGGPerceptualLoss

DATA = {"size": 16, "channels": 3, "mean_pm1": [-0.2, 0.0, 0.3], "std_pm1": [0.3, 0.4, 0.5], "input_size": 4}
SPEC = {"architecture": "sr", "dataset": "photos",
        "model": {"width": 8, "vgg_weights": "random"},
        "train": {"iterations": 20, "batch_size": 8, "optimizer": "adam", "lr": 1e-3, "eval_images": 8,
                  "samples": 4, "perceptual_weights": [0.1, 0.8, 0.1]},
        "evaluate": {"images": 12, "batch_size": 5, "reconstructions": 3}}


@pytest.fixture(scope="module")
def photo_store(tmp_path_factory):
    """A real paired photo-patch store: 16 px targets, 4 px inputs, the cat as monitor image."""
    from gannorm.data import prepare

    return prepare("photos", {"source": "photo_patches", "size": 16, "patches": 64, "test_images": 16, "scale": 4,
                              "split_seed": 0, "photos": ["astronaut", "coffee"], "photo_scale": 0.25},
                   tmp_path_factory.mktemp("sr") / "photos")


def _objective(store, variant="tanh", seed=0):
    from gannorm.train.sr import SRObjective

    torch.manual_seed(seed)  # the harness seeds the model initialisation
    return SRObjective(store, SPEC, variant, seed, torch.device("cpu"), torch.Generator().manual_seed(seed))


# --- generator ----------------------------------------------------------------------------------

def test_generator_follows_johnson_table_2_and_upsamples_4x():
    generator, discriminator = build("tanh", {}, {**DATA, "size": 288, "input_size": 72})
    assert isinstance(generator, SRGenerator) and discriminator is None
    assert generator.width == 64 and generator.scale == 4 and generator.latent is None
    convs = [m for m in generator.modules() if isinstance(m, nn.Conv2d)]
    assert convs[0].kernel_size == (9, 9) and convs[0].out_channels == 64
    assert convs[-1].kernel_size == (9, 9) and convs[-1].out_channels == 3
    assert len(generator.residual) == 4 and len(convs) == 2 + 4 * 2
    ups = [m for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(u.kernel_size, u.stride) for u in ups] == [((3, 3), (2, 2))] * 2
    small, _ = build("bn_tanh", {"width": 8}, DATA)
    x = torch.rand(2, 3, 4, 4)
    y = small(x)
    assert y.shape == (2, 3, 16, 16) and small.output_range == (-1.0, 1.0)
    assert float(y.detach().abs().max()) <= 1.0
    eight, _ = build("tanh", {"width": 4}, {**DATA, "size": 32})  # 2**k in general
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in eight.modules()) == 3
    assert eight(x).shape == (2, 3, 32, 32)


def test_bn_clip_head_starts_at_the_data_statistics_and_bad_configs_fail():
    torch.manual_seed(0)
    generator, _ = build("bn_clip", {"width": 8}, DATA)
    norm = generator.head.norm
    assert torch.allclose(norm.weight, torch.tensor(DATA["std_pm1"]))
    assert torch.allclose(norm.bias, torch.tensor(DATA["mean_pm1"]))
    out = generator(torch.rand(16, 3, 4, 4)).detach()  # train mode: batch statistics, then gamma/beta
    assert float(out.min()) >= -1.0 and float(out.max()) <= 1.0
    assert torch.allclose(out.mean(dim=(0, 2, 3)), torch.tensor(DATA["mean_pm1"]), atol=0.05)
    tanh_bn, _ = build("bn_tanh", {"width": 8}, DATA)
    assert torch.equal(tanh_bn.head.norm.weight.detach(), torch.ones(3))
    assert torch.equal(tanh_bn.head.norm.bias.detach(), torch.zeros(3))
    assert build("tanh", {"width": 8}, DATA)[0].head.norm is None
    with pytest.raises(ValueError, match="contradicts the head 'tanh' of variant 'tanh'"):
        build("tanh", {"head": "bn_clip"}, DATA)
    with pytest.raises(ValueError, match="unknown variant 'sigmoid'"):
        build("sigmoid", {}, DATA)
    with pytest.raises(ValueError, match="paired store"):
        build("tanh", {}, {**DATA, "input_size": None})
    with pytest.raises(ValueError, match="power-of-two"):
        build("tanh", {}, {**DATA, "size": 12})
    assert set(VARIANTS) == {"tanh", "bn_tanh", "bn_clip"}


# --- the generator's normalization (a variant's ``generator``) ----------------------------------

def _sr(variant, head=None, width=8, seed=0):
    """The generator as training builds it (:func:`gannorm.models.build_models`: the record
    resolved, spectral normalization applied after the Keras init), seeded."""
    from gannorm.models import build_models
    from gannorm.models.variant import parse_variant

    if isinstance(variant, dict):
        variant = parse_variant({**variant, **({"head": head} if head else {})}, "variant")
    torch.manual_seed(seed)
    generator, discriminator, _ = build_models("sr", variant, {"width": width, "vgg_weights": "random"}, DATA)
    assert discriminator is None
    return generator


def _body(generator):
    """Every module of the network but the output head (which keeps its own BN for bn_* heads)."""
    return [m for name, m in generator.named_modules() if not name.startswith("head")]


def _same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


#: Normalization places at 4x: the stem, 2 per residual block, 1 per upsampling block.
BN_PLACES = 1 + 2 * 4 + 2


@pytest.mark.parametrize("head", VARIANTS)
def test_unset_generator_is_johnsons_bn_network_to_the_bit(head):
    preset = _sr(head)
    unset = _sr({"name": "johnson_" + head}, head=head)  # a record that sets nothing but the head
    batch = _sr({"name": "batch_" + head, "generator": "batch"}, head=head)  # the registry's batch, its defaults
    for other in (unset, batch):
        assert repr(other) == repr(preset) and _same_state(other, preset)
    assert sum(type(m) is nn.BatchNorm2d for m in _body(preset)) == BN_PLACES
    x = torch.rand(4, 3, 4, 4)
    torch.testing.assert_close(unset(x), preset(x), rtol=0, atol=0)
    torch.testing.assert_close(batch(x), preset(x), rtol=0, atol=0)


@pytest.mark.parametrize("norm, kind", [("instance", nn.InstanceNorm2d), ("layer", nn.GroupNorm),
                                        ({"norm": "group", "groups": 4}, nn.GroupNorm), ("pixel", None)])
def test_feature_normalization_takes_every_bn_place_and_keeps_the_head(norm, kind):
    generator = _sr({"name": "g", "generator": norm}, head="bn_tanh")
    body = _body(generator)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in body)
    placed = [m for m in body if (type(m).__name__ == "PixelNorm" if kind is None else type(m) is kind)]
    assert len(placed) == BN_PLACES
    if norm == "layer" or isinstance(norm, dict):
        assert {m.num_groups for m in placed} == {1 if norm == "layer" else 4} and {m.num_channels for m in placed} == {8}
    assert isinstance(generator.head.norm, nn.BatchNorm2d)  # the head (the variant's subject) is unchanged
    seen = []
    for m in placed:
        m.register_forward_hook(lambda module, args, out: seen.append(out.shape))
    x = torch.rand(3, 3, 4, 4)
    y = generator.train()(x)
    assert y.shape == (3, 3, 16, 16) and float(y.detach().abs().max()) <= 1 and torch.isfinite(y).all()
    assert seen[:9] == [(3, 8, 4, 4)] * 9 and seen[9:] == [(3, 8, 8, 8), (3, 8, 16, 16)]
    x2 = x.clone()
    x2[1:] = torch.rand_like(x2[1:])
    body_out = generator.out(generator.upsample(generator.residual(generator.stem(x2))))
    ref = generator.out(generator.upsample(generator.residual(generator.stem(x))))
    torch.testing.assert_close(body_out[0], ref[0])  # per-sample normalizations: sample 0 sees no other


def test_pixel_normalization_scales_each_pixels_features_to_unit_rms():
    generator = _sr({"name": "p", "generator": "pixel"})
    seen = []
    for m in _body(generator):
        if type(m).__name__ == "PixelNorm":
            m.register_forward_hook(lambda module, args, out: seen.append(out.detach()))
    generator(torch.rand(2, 3, 4, 4))
    assert len(seen) == BN_PLACES
    for out in seen:  # Karras et al. 2018, section 4.2
        torch.testing.assert_close(out.pow(2).mean(1), torch.ones_like(out[:, 0]), rtol=1e-4, atol=1e-4)


def test_spectral_generator_normalizes_every_conv_and_drops_the_bns():
    from torch.nn.utils import parametrize

    generator = _sr({"name": "s", "generator": "spectral"}, head="bn_clip")
    reference = _sr("bn_clip")
    convs = [m for m in generator.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert len(convs) == len([m for m in reference.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
    assert len(convs) == 1 + 2 * 4 + 2 + 1
    assert all(parametrize.is_parametrized(m, "weight") for m in convs)
    assert sum(k.endswith("_u") for k in generator.state_dict()) == len(convs)
    # the setting is spectral alone: no normalization at the BN places; the bn_clip head keeps its BN
    assert not any(isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.InstanceNorm2d))
                   for m in _body(generator))
    assert isinstance(generator.head.norm, nn.BatchNorm2d)
    assert [next(c for c in (nn.Conv2d, nn.ReLU) if isinstance(m, c)) for m in generator.residual[0].body] == [
        nn.Conv2d, nn.ReLU, nn.Conv2d]  # conv -> ReLU -> conv plus the identity
    x = torch.rand(2, 3, 4, 4)
    for _ in range(30):  # sigma(W / sigma) = 1 in every conv after a few power iterations
        y = generator.train()(x)
    assert y.shape == (2, 3, 16, 16) and float(y.detach().abs().max()) <= 1
    for m in convs:
        w = m.weight.detach()
        w = w.transpose(0, 1) if isinstance(m, nn.ConvTranspose2d) else w  # spectral_norm's dim=1 for transposed
        assert float(torch.linalg.svdvals(w.reshape(w.shape[0], -1))[0]) == pytest.approx(1, abs=0.05)


@pytest.mark.parametrize("norm, types", [("weight", ("WNConv2d", "WNConvTranspose2d")),
                                         (["weight_affine", "mean_only_batch"], ("WNConv2d", "WNConvTranspose2d"))])
def test_weight_normalization_replaces_every_conv(norm, types):
    generator = _sr({"name": "w", "generator": norm})
    body = _body(generator)
    assert not any(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in body)
    assert sum(type(m).__name__ in types for m in body) == 1 + 2 * 4 + 2 + 1
    assert generator(torch.rand(2, 3, 4, 4)).shape == (2, 3, 16, 16)


def test_group_count_is_checked_against_the_width_when_the_config_is_checked():
    from gannorm.models.architectures import get
    from gannorm.models.variant import parse_variant

    bad = parse_variant({"name": "gn3", "generator": {"norm": "group", "groups": 3}}, "variant")
    with pytest.raises(ValueError, match="group normalization with groups = 3 cannot split the 8 channels"):
        get("sr").check_variant(bad, {"width": 8})
    with pytest.raises(ValueError, match="cannot split the 64 channels"):  # the default width
        get("sr").check_variant(bad, {})
    get("sr").check_variant(bad, {"width": 9})  # 3 divides 9
    with pytest.raises(ValueError, match="the generator: group normalization .* 8 channels"):
        build(bad, {"width": 8}, DATA)
    with pytest.raises(ValueError, match="architecture sr takes no 'discriminator'.*can set: generator, head"):
        build(parse_variant({"name": "d", "discriminator": "spectral"}, "variant"), {"width": 8}, DATA)


def test_study_config_refuses_a_bad_group_count_naming_the_channels():
    import copy

    import yaml
    from snakemake.utils import validate

    from gannorm.config import ConfigError, check_config, resolve_studies

    root = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((root / "config.yaml").read_text())
    study = config["studies"]["mullery_sr"]
    study["variants"] = ["tanh", {"name": "gn3", "generator": {"norm": "group", "groups": 3}}]
    good = copy.deepcopy(config)
    good["studies"]["mullery_sr"]["variants"] = ["tanh", {"name": "in", "generator": "instance", "head": "bn_clip"}]
    schema = str(root / "workflow/schemas/config.schema.yaml")
    for c in (config, good):
        validate(c, schema)
    resolve_studies(good)
    check_config(good)
    with pytest.raises(ConfigError, match=r"studies.mullery_sr.variants\[1\]: variant 'gn3' .*group normalization "
                                          r"with groups = 3 cannot split the 16 channels"):
        resolve_studies(config)  # the Snakefile resolves the studies' variant records (refused here), then checks
        check_config(config)


def test_cost_counts_a_study_record_variant():
    """The FLOP count's restated SR step builds the study's record of a variant (not a preset of
    that name, which does not exist) and counts the same convolutions whatever the normalization
    (``count_flops`` counts no normalization, nor spectral normalization's matrix-vector power
    iteration)."""
    from gannorm.cost import count_flops
    from gannorm.one_step import sr_training_step

    study = {"model": {"width": 8}, "train": {"batch_size": 2},
             "variant_records": {"sn": {"name": "sn", "generator": "spectral"},
                                 "in": {"name": "in", "generator": "instance", "head": "bn_clip"}}}
    flops = {v: count_flops(sr_training_step(study, v, DATA)[0]) for v in ("tanh", "in", "sn")}
    assert flops["tanh"] > 0 and flops["in"] == flops["sn"] == flops["tanh"]


# --- perceptual loss ----------------------------------------------------------------------------

def test_perceptual_loss_is_zero_for_identical_images_and_positive_otherwise():
    loss = VGGPerceptualLoss(vgg_weights="random")
    assert loss.layers == ("conv1_1", "conv2_1", "conv3_1") and loss.weights == (0.1, 0.8, 0.1)
    x, y = torch.rand(3, 3, 16, 16), torch.rand(3, 3, 16, 16)
    assert float(loss(x, x)) == 0.0
    per_image = loss.per_image(x, y)
    assert per_image.shape == (3,) and bool((per_image > 0).all())
    out = x.clone().requires_grad_(True)
    loss(out, y).backward()
    assert out.grad is not None and float(out.grad.abs().sum()) > 0
    assert all(p.grad is None and not p.requires_grad for p in loss.parameters())
    loss.train()
    assert not loss.training  # the loss network stays in eval mode
    grey = torch.rand(2, 1, 16, 16)  # grey images are repeated to RGB
    assert float(loss(grey, grey)) == 0.0 and float(loss(grey, torch.rand(2, 1, 16, 16))) > 0


def test_layer_weights_are_respected_and_features_are_taken_after_relu():
    x, y = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    assert float(VGGPerceptualLoss(weights=(0.0, 0.0, 0.0), vgg_weights="random")(x, y)) == 0.0
    singles = [float(VGGPerceptualLoss(weights=w, vgg_weights="random")(x, y))
               for w in ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))]
    combined = float(VGGPerceptualLoss(vgg_weights="random")(x, y))
    assert combined == pytest.approx(0.1 * singles[0] + 0.8 * singles[1] + 0.1 * singles[2], rel=1e-5)
    # conv1_1 alone = mean squared difference of relu1_1 (Johnson's 1/(C H W) normalisation)
    net = VGGPerceptualLoss(layers=("conv1_1",), weights=(1.0,), vgg_weights="random")
    assert len(net.features) == LAYER_INDEX["conv1_1"] + 1 == 2  # truncated after relu1_1
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    fx, fy = (torch.relu(net.features[0]((v - mean) / std)) for v in (x, y))
    assert float(net(x, y)) == pytest.approx(float((fx - fy).pow(2).mean()), rel=1e-5)
    assert float(net(x, y)) == pytest.approx(singles[0], rel=1e-5)  # same seed, same random VGG
    assert all(float(f.min()) >= 0 for f in VGGPerceptualLoss(vgg_weights="random").extract(x))
    with pytest.raises(ValueError, match="perceptual weights"):
        VGGPerceptualLoss(weights=(1.0,), vgg_weights="random")
    with pytest.raises(ValueError, match="unknown VGG16 layer"):
        VGGPerceptualLoss(layers=("conv9_1",), weights=(1.0,), vgg_weights="random")


def test_random_vgg_is_seeded_explicit_and_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    a, b = VGGPerceptualLoss(vgg_weights="random", seed=3), VGGPerceptualLoss(vgg_weights="random", seed=3)
    c = VGGPerceptualLoss(vgg_weights="random", seed=4)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a.features[0].weight, b.features[0].weight)
    assert not torch.equal(a.features[0].weight, c.features[0].weight)
    with pytest.raises(ValueError, match="vgg_weights"):
        VGGPerceptualLoss(vgg_weights="none")


def test_missing_imagenet_weights_offline_name_the_file_url_and_random_option(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    calls = []

    def offline(url, dst, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(RuntimeError) as err:
        VGGPerceptualLoss(vgg_weights="imagenet")
    message = str(err.value)
    expected = tmp_path / "hub" / "checkpoints" / "vgg16-397923af.pth"
    assert str(expected) in message
    assert "https://download.pytorch.org/models/vgg16-397923af.pth" in message
    assert "model.vgg_weights: random" in message and "tests and the demo" in message
    assert calls == ["https://download.pytorch.org/models/vgg16-397923af.pth"] and not expected.exists()

    # A cached file is used without a download (a stand-in with torchvision's key names) ...
    reference = VGGPerceptualLoss(vgg_weights="random", seed=7)
    torch.save({f"features.{k}": v for k, v in reference.features.state_dict().items()}, expected)
    loaded = VGGPerceptualLoss(vgg_weights="imagenet")
    assert len(calls) == 1 and loaded.vgg_weights == "imagenet"
    assert all(torch.equal(a, b) for a, b in zip(loaded.parameters(), reference.parameters()))
    # ... and a corrupt one is named.
    expected.write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="vgg16-397923af.pth: unreadable"):
        VGGPerceptualLoss(vgg_weights="imagenet")


# --- training objective -------------------------------------------------------------------------

def test_sr_objective_lowers_the_perceptual_loss_and_exposes_monitor_and_snapshots(photo_store):
    from gannorm.data.monitor import load_monitor

    objective = _objective(photo_store)
    assert objective.columns == ("perceptual_loss",) and objective.running_column == "running_perceptual"
    assert objective.model_meta["architecture"] == "sr" and objective.model_meta["variant"] == "tanh"
    assert objective.model_meta["data"]["input_size"] == 4 and set(objective.modules()) == {"generator"}
    before = objective.running_eval()
    losses = [objective.step(i)["perceptual_loss"] for i in range(1, 21)]
    assert all(np.isfinite(losses)) and np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])
    assert objective.running_eval() < before
    assert objective.generator.training  # evaluations restore training mode

    samples = objective.samples()
    assert samples.shape == (4, 3, 16, 16) and 0 <= float(samples.min()) and float(samples.max()) <= 1
    monitor_input, monitor_target = load_monitor(photo_store)
    assert monitor_input.shape == (1, 3, 4, 4) and monitor_target.shape == (1, 3, 16, 16)
    objective.generator.eval()
    with torch.no_grad():
        expected = to_unit(objective.generator(torch.from_numpy(monitor_input)), (-1.0, 1.0))
    objective.generator.train()
    assert torch.allclose(samples[:1], expected, atol=1e-6)  # the monitor output comes first

    snap = objective.snapshot(20)
    assert snap["histogram"].shape == snap["data_histogram"].shape == snap["test_histogram"].shape == (3, 256)
    assert np.allclose(snap["histogram"].sum(axis=1), 1) and snap["images"].shape == (1, 3, 16, 16)
    assert np.allclose(snap["images"], expected.numpy(), atol=1e-6) and int(snap["iteration"]) == 20
    assert snap["w1"].shape == snap["test_w1"].shape == snap["monitor_w1"].shape == (3,)
    assert bool(((snap["w1"] >= 0) & (snap["w1"] <= 1)).all())


def test_paired_sampler_is_seeded_and_resumes_its_permutation(photo_store):
    from gannorm.train.sr import PairedSampler

    a = PairedSampler(photo_store, 8, "cpu", torch.Generator().manual_seed(5))
    big = PairedSampler(photo_store, 8, "cpu", torch.Generator().manual_seed(5), preload_bytes=0)  # memory map
    for _ in range(3):
        (ia, ta), (ib, tb) = a.next(), big.next()
        assert torch.equal(ia, ib) and torch.equal(ta, tb)
    # inputs and targets stay aligned: each input is its target downsampled 4x
    pooled = torch.nn.functional.avg_pool2d(ta, 4)
    assert float((pooled - ia).abs().mean()) < 0.05
    state, rng_state = a.state_dict(), a.generator.get_state()
    expected = [a.next() for _ in range(9)]  # crosses an epoch boundary (48 train pairs)
    b = PairedSampler(photo_store, 8, "cpu", torch.Generator())
    b.load_state_dict(state)
    b.generator.set_state(rng_state)
    for (ie, te), (ig, tg) in zip(expected, (b.next() for _ in range(9))):
        assert torch.equal(ie, ig) and torch.equal(te, tg)


def test_objective_needs_a_paired_store(digits_store):
    with pytest.raises(ValueError, match="inputs"):
        _objective(digits_store)


# --- final evaluation ---------------------------------------------------------------------------

def test_final_sr_evaluation_writes_json_and_reconstructions(photo_store, tmp_path):
    from gannorm.evaluate.sr import final_sr_evaluation
    from gannorm.io import write_json
    from gannorm.models.checkpoint import save_checkpoint

    objective = _objective(photo_store, variant="bn_clip")
    meta = objective.model_meta

    def state(iteration):
        return {"model": meta, "generator": {k: v.clone() for k, v in objective.generator.state_dict().items()},
                "iteration": iteration, "running": objective.running_eval()}

    save_checkpoint(tmp_path / "checkpoints" / "best.pt", state(0))
    for i in range(1, 4):
        objective.step(i)
    save_checkpoint(tmp_path / "checkpoints" / "last.pt", state(3))
    write_json(tmp_path / "run.json", {"outcome": "completed"})

    result = final_sr_evaluation(photo_store, SPEC, tmp_path, torch.device("cpu"), progress=False)
    on_disk = json.loads((tmp_path / "final_eval.json").read_text())
    assert on_disk == json.loads(json.dumps(result)) and on_disk["outcome"] == "completed"
    assert on_disk["images"] == 12 and on_disk["vgg_weights"] == "random"
    for name, iteration in (("best", 0), ("last", 3)):
        entry = on_disk["checkpoints"][name]
        assert entry["iteration"] == iteration and len(entry["w1"]) == 3 and entry["mse"] > 0
        assert len(entry["per_image"]["perceptual"]) == 12 and entry["perceptual"] > 0
        assert set(entry["monitor"]) == {"perceptual", "mse", "w1"}
    # the last checkpoint's numbers match the training objective's loss on the same test pairs
    test = photo_store.test_indices[:12]
    inputs = torch.from_numpy(photo_store.inputs[test].astype(np.float32) / 255)
    targets = torch.from_numpy(photo_store.as_float(test))
    outputs = objective._generate(inputs)
    assert on_disk["checkpoints"]["last"]["perceptual"] == pytest.approx(
        float(objective.loss.per_image(outputs, targets).mean()), rel=1e-4)
    assert on_disk["checkpoints"]["last"]["mse"] == pytest.approx(float((outputs - targets).pow(2).mean()), rel=1e-4)

    with np.load(tmp_path / "reconstructions.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    assert arrays["inputs"].shape == (3, 3, 4, 4)
    assert arrays["targets"].shape == arrays["best"].shape == arrays["last"].shape == (3, 3, 16, 16)
    assert arrays["monitor_input"].shape == (1, 3, 4, 4)
    assert arrays["monitor_best"].shape == arrays["monitor_last"].shape == (1, 3, 16, 16)
    assert np.allclose(arrays["last"], outputs[:3].numpy(), atol=1e-6)
    assert not np.allclose(arrays["best"], arrays["last"])
    assert not list(Path(tmp_path).glob(".*"))  # atomic writes leave no temporary files
