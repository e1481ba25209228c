"""Xiang & Li (2017) models beyond Table 1: the Appendix D.2 DCGAN variants, output heads, the
ResNet-21 of section 5.6 / Appendix B, and the architecture registry (build_models /
build_generator)."""

import io
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from gannorm.models import build_generator, build_models, variants
from gannorm.models.architectures import registry
from gannorm.models.variant import Variant
from gannorm.models.dcgan import DCGANSpec, build_dcgan
from gannorm.models.heads import KERAS_BN_EPS, OutputHead
from gannorm.models.layers import MeanOnlyBatchNorm2d, TPReLU, WNAddition, WNConv2d, WNConvTranspose2d, WNLinear
from gannorm.models.resnet import ResidualBlock, ResNetSpec, _Upsample2x, num_layers
from gannorm.models import resnet

WN_LAYERS = (WNConv2d, WNConvTranspose2d, WNLinear)
STATS = {"mean_pm1": [0.2, -0.2, 0.1], "std_pm1": [0.08, 0.1, 0.09]}  # >= 8 std from the clip bounds


def data(size=16, channels=3, **extra):
    return {"size": size, "channels": channels, "input_size": None, **extra}


# --- DCGAN: Appendix D.2 variants --------------------------------------------------------------

def test_weight_affine_variant_is_all_affine_wn_with_prelu():
    g, d = build_dcgan(DCGANSpec(32, 3, 16, 32, "weight_affine"))
    for net in (g, d):
        wn = [m for m in net.modules() if isinstance(m, WN_LAYERS)]
        assert len(wn) == 4 and all(m.affine for m in wn)
        assert not any(isinstance(m, (TPReLU, nn.BatchNorm2d, MeanOnlyBatchNorm2d, nn.Conv2d, nn.ConvTranspose2d))
                       for m in net.modules())
        assert sum(isinstance(m, nn.PReLU) for m in net.modules()) == 3
    assert isinstance(g.net[0], WNLinear) and g.net[0].affine
    assert g.net[0].weight.abs().max() <= 0.01 / math.sqrt(32)  # Appendix B first-layer init


def _type_names(net, mapping):
    return [mapping.get(type(m), type(m).__name__) for m in net.net]


def test_weight_meanbn_puts_mean_only_bn_where_the_bn_model_has_bn():
    spec = dict(size=32, channels=3, width=16, latent=32)
    g_bn, d_bn = build_dcgan(DCGANSpec(**spec, variant="batch"))
    g_mb, d_mb = build_dcgan(DCGANSpec(**spec, variant="weight_meanbn"))
    to_common = {nn.BatchNorm2d: "norm", MeanOnlyBatchNorm2d: "norm", nn.Conv2d: "conv", WNConv2d: "conv",
                 nn.ConvTranspose2d: "conv", WNConvTranspose2d: "conv", WNLinear: "conv", nn.PReLU: "act"}
    # D: identical layer sequences up to the kind of conv and of normalization
    assert _type_names(d_mb, to_common) == _type_names(d_bn, to_common)
    assert sum(isinstance(m, MeanOnlyBatchNorm2d) for m in d_mb.modules()) == 2  # not after D's first layer
    # G: the BN model's first layer is (Reshape, ConvT) on a 1x1 map, the WN one (WNLinear, Reshape)
    names_bn, names_mb = _type_names(g_bn, to_common), _type_names(g_mb, to_common)
    assert names_bn[:2] == ["Reshape", "conv"] and names_mb[:2] == ["conv", "Reshape"]
    assert names_mb[2:] == names_bn[2:]
    assert sum(isinstance(m, MeanOnlyBatchNorm2d) for m in g_mb.modules()) == 3  # not after G's last layer
    for net in (g_mb, d_mb):
        assert all(m.affine for m in net.modules() if isinstance(m, WN_LAYERS))
        assert not any(isinstance(m, (TPReLU, nn.BatchNorm2d)) for m in net.modules())


@pytest.mark.parametrize("variant", ["weight_affine", "weight_meanbn"])
def test_appendix_d2_variants_train_one_step(variant):
    torch.manual_seed(0)
    g, d = build_dcgan(DCGANSpec(16, 1, 8, 8, variant))
    x = g(torch.randn(4, 8))
    assert x.shape == (4, 1, 16, 16) and 0 <= float(x.detach().min()) and float(x.detach().max()) <= 1
    d(x).mean().backward()
    grads = [p.grad for p in g.parameters() if p.requires_grad]
    assert all(gr is not None and torch.isfinite(gr).all() for gr in grads)


# --- DCGAN: output heads and spec compatibility ---------------------------------------------------

@pytest.mark.parametrize("head,low,high", [("sigmoid", 0.0, 1.0), ("tanh", -1.0, 1.0), ("bn_tanh", -1.0, 1.0),
                                           ("bn_clip", -1.0, 1.0)])
def test_dcgan_head_replaces_the_sigmoid(head, low, high):
    torch.manual_seed(1)
    g, d, _ = build_models("dcgan", "weight", {"width": 8, "latent": 8, "head": head}, data(**STATS))
    assert g.output_range == (low, high) and g.latent == 8
    assert isinstance(g.net[-1], OutputHead) and g.net[-1].kind == head
    x = g(torch.randn(6, 8))
    assert low <= float(x.detach().min()) and float(x.detach().max()) <= high
    if low < 0:
        assert float(x.detach().min()) < 0, "a [-1, 1] head is used"
    assert d(x).shape == (6,)


@pytest.mark.parametrize("variant", ["vanilla", "batch", "weight", "weight_affine", "weight_meanbn"])
def test_bn_clip_head_starts_with_the_data_mean_and_std(variant):
    torch.manual_seed(2)
    g, _, _ = build_models("dcgan", variant, {"width": 8, "latent": 16, "head": "bn_clip"}, data(**STATS))
    g.train()
    z = torch.randn(16, 16)
    with torch.no_grad():
        pre = g.net[:-1](z)  # the last layer's pre-activations (the BN's input)
        x = g.net[-1](pre)
    assert float(x.abs().max()) < 1.0, "stats well inside [-1, 1]: nothing is clipped"
    # BN in train mode: per-channel output mean = beta = mean_pm1, std = gamma = std_pm1 up to BN's eps
    var = pre.var(dim=(0, 2, 3), unbiased=False).double()
    expected_std = torch.tensor(STATS["std_pm1"], dtype=torch.float64) * torch.sqrt(var / (var + KERAS_BN_EPS))
    torch.testing.assert_close(x.mean(dim=(0, 2, 3)).double(), torch.tensor(STATS["mean_pm1"], dtype=torch.float64),
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(x.std(dim=(0, 2, 3), unbiased=False).double(), expected_std, atol=0, rtol=1e-3)
    if variant != "vanilla":  # large pre-activations: the std is the data's to within 3%
        torch.testing.assert_close(x.std(dim=(0, 2, 3), unbiased=False).double(),
                                   torch.tensor(STATS["std_pm1"], dtype=torch.float64), atol=0, rtol=0.03)


def test_bn_clip_without_data_statistics_is_rejected():
    with pytest.raises(ValueError, match="mean_pm1"):
        build_models("dcgan", "vanilla", {"width": 8, "latent": 8, "head": "bn_clip"}, data())
    with pytest.raises(ValueError, match="head"):
        DCGANSpec(16, 1, head="softmax")


def test_old_dcgan_spec_dicts_still_load_and_new_ones_round_trip():
    old = {"size": 16, "channels": 1, "width": 8, "latent": 8, "variant": "weight"}
    spec = DCGANSpec(**old)
    assert spec.head == "sigmoid" and spec.mean_pm1 is None
    g = build_generator({"architecture": "dcgan", **old})
    assert g.output_range == (0.0, 1.0) and g.latent == 8
    new = DCGANSpec(16, 3, 8, 8, "batch", "bn_clip", np.array(STATS["mean_pm1"]), STATS["std_pm1"])
    assert DCGANSpec(**new.to_dict()) == new
    assert new.to_dict()["mean_pm1"] == STATS["mean_pm1"]


# --- ResNet-21 (section 5.6, Appendix B) -----------------------------------------------------------

def _blocks(net):
    return [m for m in net.modules() if isinstance(m, ResidualBlock)]


NARROW = [8, 8, 16, 16, 16]  # five levels like the paper's (64, 128, 256, 384, 512), cheap to run


def test_resnet21_paper_features_at_32_px():
    torch.manual_seed(3)
    g, d, _ = build_models("resnet", "vanilla", {}, data(32))
    assert g.latent == 128 and g.output_range == (0.0, 1.0) and g.spec.features == (64, 128, 256, 384, 512)
    assert num_layers(g) == num_layers(d) == 21 == g.spec.num_layers
    # 32 -> 16 -> 8 -> 4, then the two last levels keep the 4x4 map; final kernel 4
    assert g.spec.strides == [2, 2, 2, 1, 1] and g.spec.final_map == 4
    assert d.final.weight.shape == (1, 512, 4, 4)
    with torch.no_grad():
        x = g(torch.randn(2, 128))
        assert x.shape == (2, 3, 32, 32) and 0 <= float(x.min()) and float(x.max()) <= 1
        assert d(x).shape == (2,)


@pytest.mark.parametrize("variant", resnet.VARIANTS)
@pytest.mark.parametrize("size,final", [(32, 4), (160, 5)])
def test_resnet21_shapes_and_depth(variant, size, final):
    torch.manual_seed(3)
    g, d, _ = build_models("resnet", variant, {"features": NARROW, "latent": 16}, data(size))
    assert num_layers(g) == num_layers(d) == 21
    assert len(_blocks(d)) == len(_blocks(g)) == 10
    assert g.spec.final_map == final and d.final.weight.shape[-2:] == (final, final)
    x = g(torch.randn(2, 16))
    assert x.shape == (2, 3, size, size) and 0 <= float(x.detach().min()) and float(x.detach().max()) <= 1
    assert d(x).shape == (2,)
    if size == 160:  # the map sizes through D: 160 -> 80 -> 40 -> 20 -> 10 -> 5
        sizes, h = [], x.detach()
        with torch.no_grad():
            for block in d.blocks:
                h = block(h)
                sizes.append(h.shape[-1])
        assert sizes == [80, 80, 40, 40, 20, 20, 10, 10, 5, 5]


def test_resnet21_at_160_px_is_the_papers_network():
    g, d, _ = build_models("resnet", "weight", {}, data(160))
    assert g.spec.features == (64, 128, 256, 384, 512) and g.spec.strides == [2] * 5
    assert num_layers(d) == num_layers(g) == 21
    d_blocks = _blocks(d)
    assert [(b.convs[0].weight.shape[0], b.convs[0].stride) for b in d_blocks] == [
        (64, 2), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (384, 2), (384, 1), (512, 2), (512, 1)]
    assert [b.convs[0].weight.shape[-1] for b in d_blocks] == [4, 3] * 5  # k4 when stride 2, else 3
    assert all(b.convs[1].weight.shape[-1] == 3 for b in d_blocks)
    assert d.final.weight.shape == (1, 512, 5, 5) and d.final.affine
    assert isinstance(g.first[0], WNLinear) and g.first[0].weight.shape == (512 * 5 * 5, 128)
    g_blocks = _blocks(g)  # the mirror: 512 -> 512 -> 384 ... -> 64 -> 3 channels
    assert [b.convs[1].weight.shape[1] for b in g_blocks] == [512, 384, 384, 256, 256, 128, 128, 64, 64, 3]
    assert [b.convs[1].stride for b in g_blocks] == [1, 2] * 5


def test_resnet_batch_and_vanilla_blocks_follow_section_5_6():
    g, d, _ = build_models("resnet", "batch", {"features": [8, 16]}, data(16, 1))
    down = _blocks(d)[2]  # level 2's stride-2 block: 8 -> 16 features
    assert [type(m) for m in down.residue] == [nn.Conv2d, nn.BatchNorm2d, nn.PReLU, nn.Conv2d, nn.BatchNorm2d]
    assert [type(m) for m in down.shortcut] == [nn.AvgPool2d, nn.Conv2d]
    assert down.shortcut[1].kernel_size == (1, 1) and isinstance(down.act, nn.PReLU) and down.merge is None
    assert len(_blocks(d)[1].shortcut) == 0, "identity shortcut when stride 1 and same features"
    up = _blocks(g)[1]  # G's up block 16 -> 8: 1x1 projection, then nearest-neighbour upscaling
    assert [type(m) for m in up.shortcut] == [nn.ConvTranspose2d, _Upsample2x]
    assert all(isinstance(m, nn.ConvTranspose2d) for m in up.convs)
    assert up.convs[1].stride == (2, 2) and up.convs[1].kernel_size == (4, 4)
    out = _blocks(g)[-1]  # G's output block: no BN after its last conv, no activation
    assert out.act is None and not isinstance(out.residue[-1], nn.BatchNorm2d)
    gv, dv, _ = build_models("resnet", "vanilla", {"features": [8, 16]}, data(16, 1))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in list(gv.modules()) + list(dv.modules()))
    assert [type(m) for m in _blocks(dv)[2].residue] == [nn.Conv2d, nn.PReLU, nn.Conv2d]


def test_nearest_upscaling_repeats_pixels():
    x = torch.arange(4.0).view(1, 1, 2, 2)
    assert _Upsample2x()(x)[0, 0].tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]


def test_resnet_weight_variant_uses_strict_wn_tprelu_and_wn_addition():
    g, d, _ = build_models("resnet", "weight", {"features": [8, 16]}, data(16, 3))
    for net in (g, d):
        assert not any(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.PReLU, nn.BatchNorm2d, nn.Linear))
                       for m in net.modules())
        assert all(isinstance(b.merge, WNAddition) for b in _blocks(net))
    # affine only in the last layers: D's final conv, G's output block's last residue conv and projection
    assert [m for m in d.modules() if isinstance(m, WN_LAYERS) and m.affine] == [d.final]
    out = _blocks(g)[-1]
    assert {id(m) for m in g.modules() if isinstance(m, WN_LAYERS) and m.affine} == {id(out.convs[1]), id(out.shortcut[0])}
    assert sum(isinstance(m, TPReLU) for m in d.modules()) == 8  # one in and one after each block's residue


def _perturb_residues(net):
    with torch.no_grad():
        for block in _blocks(net):
            for conv in block.convs:
                conv.weight.mul_(-3.0).add_(0.5)


def test_resnet_wn_model_starts_as_its_shortcut_path():
    """At init (residue weight 0, shortcut weight 1) every block computes act(shortcut(x)): the
    residue convolutions do not change D's or G's output."""
    torch.manual_seed(5)
    g, d, _ = build_models("resnet", "weight", {"features": [8, 16]}, data(16, 3))
    x, z = torch.rand(4, 3, 16, 16), torch.randn(4, 128)
    with torch.no_grad():
        for block in _blocks(d) + _blocks(g):
            inp = torch.randn(2, block.convs[0].weight.shape[1 if block in _blocks(d) else 0], 8, 8)
            expected = block.shortcut(inp)
            expected = expected if block.act is None else block.act(expected)
            torch.testing.assert_close(block(inp), expected, rtol=2e-6, atol=1e-6)
        same = _blocks(d)[1]  # stride 1, 8 -> 8 features: block(x) = TPReLU(x)
        inp = torch.randn(2, 8, 8, 8)
        torch.testing.assert_close(same(inp), same.act(inp), rtol=2e-6, atol=1e-6)
        before_d, before_g = d(x), g(z)
        _perturb_residues(d)
        _perturb_residues(g)
        torch.testing.assert_close(d(x), before_d, rtol=2e-6, atol=1e-6)
        torch.testing.assert_close(g(z), before_g, rtol=2e-6, atol=1e-6)
    # ... while the vanilla model's output does depend on them
    gv, dv, _ = build_models("resnet", "vanilla", {"features": [8, 16]}, data(16, 3))
    with torch.no_grad():
        before = dv(x)
        _perturb_residues(dv)
        assert float((dv(x) - before).abs().max()) > 1e-3


def test_resnet_sizes_heads_and_tiny_features():
    torch.manual_seed(6)
    for size, strides, final in [(16, [2, 2], 4), (32, [2, 2], 8), (64, [2, 2], 16)]:
        g, d, _ = build_models("resnet", "batch", {"features": [8, 16], "latent": 8, "head": "bn_clip"},
                               data(size, 3, **STATS))
        assert g.spec.strides == strides and g.spec.final_map == final and num_layers(d) == 9
        with torch.no_grad():
            x = g(torch.randn(2, 8))
            assert x.shape == (2, 3, size, size) and g.output_range == (-1.0, 1.0)
            assert float(x.abs().max()) <= 1.0 and d(x).shape == (2,)
    spec = ResNetSpec(256, 3)
    assert spec.strides == [2] * 5 and spec.final_map == 8  # 5 levels from 256 px: an 8x8 map
    with pytest.raises(ValueError, match="features"):
        ResNetSpec(16, 3, features=())
    with pytest.raises(ValueError, match="takes no 'batching'"):
        ResNetSpec(16, 3, variant="joint")  # a batching scheme of the 2-D toy study


# --- registry ----------------------------------------------------------------------------------------

def test_registry_lists_every_architecture_and_their_variants():
    assert set(registry()) == {"dcgan", "resnet", "mlp", "iwgan", "wgan_resnet", "sr", "toy2d"}
    assert variants("dcgan") == ("vanilla", "batch", "weight", "weight_affine", "weight_meanbn")
    assert variants("resnet") == ("vanilla", "batch", "weight")
    with pytest.raises(ValueError, match="known"):
        variants("vgg")
    with pytest.raises(ValueError, match="unknown variant 'weight_gn'"):
        build_models("resnet", "weight_gn", {}, data())
    with pytest.raises(ValueError, match="architecture resnet takes no 'policy'"):
        build_models("resnet", Variant("x", policy="every_layer"), {}, data())


@pytest.mark.parametrize("architecture,variant,model_cfg", [
    ("dcgan", "weight_meanbn", {"width": 8, "latent": 8, "head": "bn_clip"}),
    ("dcgan", "batch", {"width": 8, "latent": 8}),
    ("resnet", "batch", {"features": [8, 16], "latent": 8, "head": "bn_tanh"}),
    ("resnet", "weight", {"features": [8, 16], "latent": 8, "head": "bn_clip"}),
])
def test_build_generator_from_meta_round_trips_a_state_dict(architecture, variant, model_cfg):
    torch.manual_seed(7)
    stats = {"mean_pm1": np.array(STATS["mean_pm1"], dtype=np.float32), "std_pm1": np.array(STATS["std_pm1"])}
    g, d, meta = build_models(architecture, variant, model_cfg, data(16, 3, **stats))
    assert meta == {"architecture": architecture, "variant": variant, "model": model_cfg,
                    "data": {"size": 16, "channels": 3, "input_size": None,
                             "mean_pm1": pytest.approx(STATS["mean_pm1"]), "std_pm1": STATS["std_pm1"]}}
    assert isinstance(meta["data"]["mean_pm1"], list)  # plain values, no numpy in checkpoints
    # train a little so the weights and BN statistics differ from a fresh init
    opt = torch.optim.SGD(g.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        d(g(torch.randn(4, 8))).mean().backward()
        opt.step()
    buffer = io.BytesIO()
    torch.save({"model": meta, "generator": g.state_dict()}, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    torch.manual_seed(123)  # a different init
    rebuilt = build_generator(state["model"])
    z = torch.randn(3, 8)
    g.eval()
    with torch.no_grad():
        assert float((rebuilt.eval()(z) - g(z)).abs().max()) > 1e-4, "fresh weights differ"
        rebuilt.load_state_dict(state["generator"])
        torch.testing.assert_close(rebuilt(z), g(z))
    assert rebuilt.output_range == g.output_range and rebuilt.latent == 8
