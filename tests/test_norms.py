"""Normalizations, variant records and the architecture registry, checked against their
definitions: spectral normalization's sigma against ``torch.linalg.svdvals``, the feature
normalizations against their formulas in float64, every weight reparametrization's initialisation
statistics (pixel normalization against Karras et al.'s formula), and the config errors for records
an architecture cannot take."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from gannorm.models import build_generator, build_models
from gannorm.models.architectures import get as architecture
from gannorm.models.norms import NetworkNorm, norm_spec, registry
from gannorm.models.normalize import LayerSpec, feature_norm, layer, reparametrize
from gannorm.models.variant import Variant, parse_variant, preset

DATA = {"size": 16, "channels": 1, "mean_pm1": [0.0], "std_pm1": [0.5], "input_size": 4}


def net(*names) -> NetworkNorm:
    return NetworkNorm.parse(list(names), "test")


@pytest.mark.parametrize("kind, c_in, c_out, kernel, stride", [("conv", 3, 8, 4, 2), ("conv_transpose", 8, 4, 4, 2),
                                                                ("linear", 20, 6, 1, 1)])
def test_spectral_sigma_is_the_largest_singular_value(kind, c_in, c_out, kernel, stride):
    torch.manual_seed(0)
    module = reparametrize(layer(net("spectral"), LayerSpec(kind, c_in, c_out, kernel, stride, 1)))
    original = module.parametrizations.weight.original.detach().double()
    x = torch.randn(2, c_in) if kind == "linear" else torch.randn(2, c_in, 8, 8)
    module.train()
    for _ in range(200):  # one power iteration per forward pass in training mode (Miyato et al., Algorithm 1)
        module(x)
    module.eval()
    matrix = original.transpose(0, 1) if kind == "conv_transpose" else original  # dim 1 holds the outputs
    sigma = torch.linalg.svdvals(matrix.reshape(matrix.shape[0], -1))[0]
    estimate = (original / module.weight.detach().double()).flatten()[0]
    assert float(abs(estimate - sigma) / sigma) < 1e-3
    assert float(torch.linalg.svdvals(module.weight.detach().double().transpose(0, 1).reshape(c_out, -1)
                                      if kind == "conv_transpose" else
                                      module.weight.detach().double().reshape(c_out, -1))[0]) == pytest.approx(1, rel=1e-3)


def _formula(x: torch.Tensor, groups: int, eps: float) -> torch.Tensor:
    b, c = x.shape[:2]
    g = x.reshape(b, groups, -1)
    mean, var = g.mean(-1, keepdim=True), g.var(-1, unbiased=False, keepdim=True)
    return ((g - mean) / torch.sqrt(var + eps)).reshape(x.shape)


@pytest.mark.parametrize("spec, groups", [("layer", 1), ({"norm": "group", "groups": 4}, 4)])
def test_layer_and_group_normalization_follow_their_formula(spec, groups):
    torch.manual_seed(1)
    module = feature_norm(net(spec), 8)[0].double()
    x = torch.randn(5, 8, 6, 6, dtype=torch.float64) * 3 + 2
    torch.testing.assert_close(module(x), _formula(x, groups, 1e-5), rtol=1e-12, atol=1e-12)


def test_instance_and_batch_normalization_follow_their_formula():
    torch.manual_seed(2)
    x = torch.randn(5, 8, 6, 6, dtype=torch.float64) * 3 + 2
    instance = feature_norm(net("instance"), 8)[0].double()
    torch.testing.assert_close(instance(x), _formula(x.reshape(5 * 8, 1, 6, 6), 1, 1e-5).reshape(x.shape))
    batch = feature_norm(net("batch"), 8)[0].double().train()
    per_channel = x.transpose(0, 1).reshape(8, -1)
    mean, var = per_channel.mean(1), per_channel.var(1, unbiased=False)
    expected = (x - mean.view(1, -1, 1, 1)) / torch.sqrt(var.view(1, -1, 1, 1) + 1e-5)
    torch.testing.assert_close(batch(x), expected)
    with pytest.raises(ValueError, match="does not apply to \\(B, C\\) features"):
        feature_norm(net("instance"), 8, dims=1)


@pytest.mark.parametrize("shape", [(5, 8, 6, 6), (5, 8)])
def test_pixel_normalization_follows_karras_et_al(shape):
    """Karras et al. 2018, section 4.2: b = a / sqrt(mean over the channels of a**2 + 1e-8) at each
    pixel, written out here per sample and pixel in float64; no parameters, no batch coupling."""
    torch.manual_seed(6)
    module = feature_norm(net("pixel"), 8, dims=len(shape) - 2 or 1)[0].double()
    assert list(module.parameters()) == [] and list(module.buffers()) == []
    x = torch.randn(*shape, dtype=torch.float64) * 3 + 1
    x[0] *= 1e-5  # a sample whose mean square is not large against eps
    flat = x.reshape(shape[0], shape[1], -1)
    expected = torch.empty_like(flat)
    for b in range(flat.shape[0]):
        for p in range(flat.shape[2]):
            a = flat[b, :, p]
            expected[b, :, p] = a / math.sqrt(sum(float(v) ** 2 for v in a) / len(a) + 1e-8)
    out = module(x)
    torch.testing.assert_close(out, expected.reshape(shape), rtol=1e-12, atol=1e-15)
    rms = out.pow(2).mean(1).sqrt()
    torch.testing.assert_close(rms[1:], torch.ones_like(rms[1:]), rtol=1e-7, atol=0)  # unit RMS per pixel
    assert float(rms[0].max()) < 0.9  # eps keeps tiny vectors small
    other = x.clone()
    other[1:] = torch.randn_like(other[1:]) * 10  # the other samples change; sample 0's output does not
    assert torch.equal(module(other)[0], out[0])
    assert torch.equal(module.train()(x), module.eval()(x))  # no training-mode statistics


def test_pixel_normalization_builds_in_g_and_d_and_keeps_the_layer_bias():
    norm = registry()["pixel"]
    assert norm.kind == "feature" and not norm.batch_coupling and norm.defaults() == {"eps": 1e-8}
    record = Variant("x", generator=net("pixel"), discriminator=net("pixel"))
    architecture("wgan_resnet").check_variant(record, {"width": 64})  # allowed in a WGAN-GP critic
    torch.manual_seed(7)
    g, d, _ = build_models("dcgan", record, {"width": 8, "latent": 8}, DATA)
    for network in (g, d):
        pixel = [i for i, m in enumerate(network.net) if type(m).__name__ == "PixelNorm"]
        assert pixel
        # pixel normalization has no offset: the conv before it keeps its bias (a batch norm's drops it)
        assert all(network.net[i - 1].bias is not None for i in pixel)
    x = g(torch.randn(4, 8))
    assert x.shape == (4, 1, 16, 16) and d(x).shape == (4,)
    _, batch_d, _ = build_models("dcgan", "batch", {"width": 8, "latent": 8}, DATA)
    bn = [i for i, m in enumerate(batch_d.net) if isinstance(m, nn.BatchNorm2d)]
    assert bn and all(batch_d.net[i - 1].bias is None for i in bn)


def _uniform_ok(tensor: torch.Tensor, bound: float) -> None:
    """``tensor`` looks like ``U(-bound, bound)``: inside the bounds, std within 15% of bound / sqrt(3)."""
    assert float(tensor.abs().max()) <= bound * (1 + 1e-6)
    assert float(tensor.std()) == pytest.approx(bound / math.sqrt(3), rel=0.15)


@pytest.mark.parametrize("name", [n for n, norm in registry().items() if norm.kind == "weight"])
def test_every_weight_reparametrization_keeps_the_architectures_init(name):
    """DCGAN (Xiang & Li, Appendix B: U(+-1/sqrt(fan_in))) and the WGAN-GP ResNet (tflib He/Glorot
    uniform): the real weights (``parametrizations.weight.original`` for spectral normalization, ``v``
    of weight normalization) have the init's distribution, so the init is applied before the
    reparametrization and not to a temporary."""
    torch.manual_seed(3)
    record = Variant("x", generator=net(name), discriminator=net(name))
    _, d, _ = build_models("dcgan", record, {"width": 32, "latent": 16}, DATA)
    convs = [m for m in d.modules() if isinstance(getattr(m, "weight", None), torch.Tensor) and m.weight.dim() == 4]
    assert convs
    for conv in convs:
        weight = conv.parametrizations.weight.original if hasattr(conv, "parametrizations") else conv.weight
        c_in, k = weight.shape[1], weight.shape[-1]
        if weight.numel() >= 512:
            _uniform_ok(weight.detach(), 1 / math.sqrt(c_in * k * k))
        for key in ("gamma",):
            if hasattr(conv, key):
                assert torch.equal(getattr(conv, key).detach(), torch.ones_like(getattr(conv, key)))
    torch.manual_seed(4)
    _, critic, _ = build_models("wgan_resnet", Variant("y", discriminator=net(name)), {"width": 32, "latent": 8},
                                {**DATA, "size": 8})
    conv = critic.blocks[1].conv1  # a 3x3 conv, 32 -> 32: tflib "He" std sqrt(4 / (fan_in + fan_out))
    weight = conv.parametrizations.weight.original if hasattr(conv, "parametrizations") else conv.weight
    if not registry()[name].replaces_layer:
        _uniform_ok(weight.detach(), math.sqrt(3) * math.sqrt(4 / (32 * 9 + 32 * 9)))


def test_spectral_checkpoint_rebuilds_the_same_generator():
    torch.manual_seed(5)
    record = parse_variant({"name": "sn_both", "generator": "spectral", "discriminator": "spectral"}, "test")
    g, _, meta = build_models("dcgan", record, {"width": 8, "latent": 8}, DATA)
    assert meta["variant_record"] == record.to_config()  # an inline record travels with the checkpoint
    state = g.state_dict()
    assert any(k.endswith("_u") for k in state)  # the power-iteration vectors are kept
    rebuilt = build_generator(meta)
    rebuilt.load_state_dict(state)
    z = torch.randn(3, 8)
    torch.testing.assert_close(rebuilt.eval()(z), g.eval()(z))
    _, _, preset_meta = build_models("dcgan", "batch", {"width": 8, "latent": 8}, DATA)
    assert "variant_record" not in preset_meta  # a preset is known by name


def test_the_critic_refuses_batch_coupling_normalizations_and_takes_the_others():
    critic = architecture("wgan_resnet")
    for name in ("batch", "mean_only_batch"):
        with pytest.raises(ValueError, match="breaks the per-sample gradient penalty"):
            critic.check_variant(Variant("x", discriminator=net(name)), {"width": 64})
    for spec in ("spectral", "layer", {"norm": "group", "groups": 8}, "instance", "pixel", "weight_affine"):
        critic.check_variant(Variant("x", discriminator=net(spec)), {"width": 64})
    critic.check_variant(Variant("x", generator=net("batch")), {"width": 64})  # G has no penalty
    with pytest.raises(ValueError, match="groups = 5 cannot split the 64 channels"):
        critic.check_variant(Variant("x", discriminator=net({"norm": "group", "groups": 5})), {"width": 64})


def test_records_parse_with_one_line_errors():
    record = parse_variant({"name": "gn8", "generator": {"norm": "group", "groups": 8},
                            "discriminator": ["spectral", "layer"]}, "v")
    assert str(record.generator) == "group(groups=8)" and str(record.discriminator) == "spectral + layer"
    assert parse_variant(record.to_config(), "again") == record
    assert preset("critic_gn16").discriminator == net({"norm": "group", "groups": 16})
    for value, match in [({"name": "x", "discriminator": "spectrl"}, "v.discriminator: unknown normalization 'spectrl'"),
                         ({"name": "x", "discriminator": {"norm": "group", "grops": 2}}, "has no parameter 'grops'"),
                         ({"name": "x", "discriminator": {"norm": "group", "groups": 0}}, "groups must be at least 1"),
                         ({"name": "x", "discriminator": ["weight", "spectral"]}, "two weight normalizations"),
                         ({"name": "X"}, "v.name: 'X'"), ({"name": "x", "colour": 1}, "unknown field 'colour'"),
                         ({"name": "x", "activation": "gelu"}, "v.activation: 'gelu'"),
                         ("spectral", "'spectral' is a normalization, not a variant")]:
        with pytest.raises(ValueError, match=match):
            parse_variant(value, "v")
    assert norm_spec("none", "n").kind == "none" and net("none") == NetworkNorm()


def test_a_normalization_dcgan_cannot_take_in_a_layer_shape():
    with pytest.raises(ValueError, match="does not apply to \\(B, C\\) features"):
        architecture("mlp").check_variant(Variant("x", discriminator=net("instance")))
    record = Variant("x", generator=net("layer"), discriminator=net("spectral", "layer"), activation="leaky_relu")
    g, d, _ = build_models("dcgan", record, {"width": 8, "latent": 8}, DATA)
    assert isinstance(d.net[1], nn.LeakyReLU) and any(isinstance(m, nn.GroupNorm) for m in g.modules())
    x = g(torch.randn(4, 8))
    assert x.shape == (4, 1, 16, 16) and d(x).shape == (4,)


def test_the_docs_list_every_built_in_normalization():
    from pathlib import Path

    from gannorm.models.norms import markdown_table

    text = (Path(__file__).resolve().parents[1] / "docs" / "extending.md").read_text()
    start, end = text.index("<!-- norms:begin -->\n"), text.index("<!-- norms:end -->")
    assert text[start + len("<!-- norms:begin -->\n"):end] == markdown_table()
