"""The WGAN-GP architectures (iWGAN of Mullery & Whelan / Gulrajani's gan_cifar.py, Gulrajani's
CIFAR ResNet with Wu et al.'s critic norms) and the tutorial's MLP GAN."""

import math

import pytest
import torch
import torch.nn as nn

from gannorm.models.variant import Variant, preset
from gannorm.models import iwgan, mlp, wgan_resnet
from gannorm.models.heads import OutputHead

GREY16 = {"size": 16, "channels": 1, "mean_pm1": [-0.6], "std_pm1": [0.7], "input_size": None}
COLOUR32 = {"size": 32, "channels": 3, "mean_pm1": [-0.06, -0.12, -0.31], "std_pm1": [0.46, 0.44, 0.44],
            "input_size": None}
SMALL = {"width": 16, "latent": 8, "hidden": 16}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These networks are tiny: one thread is faster than several competing for two cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _resnet_width(variant):
    """The smallest width (>= 16) that the variant's number of groups divides."""
    feature = preset(variant).discriminator.feature
    return max(16, feature.kwargs().get("groups", 1) if feature is not None else 1)


def _all_builds():
    for data in (GREY16, COLOUR32):
        for style in iwgan.STYLES:
            for v in iwgan.VARIANTS:
                yield "iwgan", v, {**SMALL, "width": 8, "style": style}, data
        for v in wgan_resnet.VARIANTS:
            yield "wgan_resnet", v, {**SMALL, "width": _resnet_width(v)}, data
        for v in mlp.VARIANTS:
            yield "mlp", v, SMALL, data


MODULES = {"iwgan": iwgan, "wgan_resnet": wgan_resnet, "mlp": mlp}


@pytest.mark.parametrize("arch,variant,cfg,data", [pytest.param(*b, id=f"{b[0]}-{b[2].get('style', '')}-{b[1]}-"
                                                                   f"{b[3]['size']}px") for b in _all_builds()])
def test_output_shapes_and_ranges(arch, variant, cfg, data):
    g, d = MODULES[arch].build(variant, cfg, data)
    c, s = data["channels"], data["size"]
    z = torch.randn(4, g.latent)
    with torch.no_grad():
        x = g(z)
        scores = d(x)
    assert g.latent == cfg["latent"]
    assert x.shape == (4, c, s, s)
    low, high = g.output_range
    assert (low, high) == (-1.0, 1.0)
    assert float(x.min()) >= low and float(x.max()) <= high
    assert scores.shape == (4,)


def test_groupnorm_with_one_group_is_layer_norm_over_chw():
    c, h, w = 8, 5, 6
    gn = wgan_resnet.norm_layer(preset("critic_ln").discriminator, c)
    assert isinstance(gn, nn.GroupNorm) and gn.num_groups == 1
    ln = nn.LayerNorm([c, h, w], eps=gn.eps)
    gamma, beta = torch.randn(c), torch.randn(c)
    with torch.no_grad():
        gn.weight.copy_(gamma)
        gn.bias.copy_(beta)
        ln.weight.copy_(gamma.view(c, 1, 1).expand(c, h, w))
        ln.bias.copy_(beta.view(c, 1, 1).expand(c, h, w))
    x = torch.randn(3, c, h, w) * 3 + 1
    # Gulrajani's tflib Layernorm: moments over (C, H, W), per-channel scale/offset, eps 1e-5
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    var = x.var(dim=(1, 2, 3), unbiased=False, keepdim=True)
    tflib = (x - mean) / torch.sqrt(var + 1e-5) * gamma.view(1, c, 1, 1) + beta.view(1, c, 1, 1)
    torch.testing.assert_close(gn(x), ln(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gn(x), tflib, rtol=1e-5, atol=1e-5)
    # and eight groups is not the same thing
    gn8 = wgan_resnet.norm_layer(preset("critic_gn8").discriminator, c)
    assert not torch.allclose(gn8(x), nn.GroupNorm(1, c, eps=gn.eps)(x), atol=1e-3)


def _critics():
    for data in (GREY16, COLOUR32):
        for style in iwgan.STYLES:
            yield f"iwgan-{style}-{data['size']}px", "iwgan", "tanh", {**SMALL, "width": 8, "style": style}, data
        for v in wgan_resnet.VARIANTS:
            yield f"resnet-{v}-{data['size']}px", "wgan_resnet", v, {**SMALL, "width": _resnet_width(v)}, data


@pytest.mark.parametrize("arch,variant,cfg,data", [pytest.param(*c[1:], id=c[0]) for c in _critics()])
def test_critics_have_no_batch_norm_and_score_each_image_alone(arch, variant, cfg, data):
    critic = MODULES[arch].build(variant, cfg, data)[1]
    name = f"{arch}-{variant}"
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in critic.modules()), name
    critic.train()
    x = torch.rand(3, data["channels"], data["size"], data["size"]) * 2 - 1
    together = critic(x)
    alone = torch.cat([critic(x[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)
    # the gradient penalty needs a per-example input gradient and its derivative
    xi = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(xi).sum(), xi, create_graph=True)
    penalty = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
    penalty.backward()
    # (the last bias does not change the input gradient, so it alone gets none)
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0
               for n, p in critic.named_parameters() if n.endswith("weight")), name


@pytest.mark.parametrize("variant,groups", [("critic_none", None), ("critic_ln", 1), ("critic_gn4", 4),
                                            ("critic_gn8", 8), ("critic_gn16", 16), ("critic_gn32", 32),
                                            ("critic_gn64", 64)])
def test_resnet_critic_norms_sit_where_gulrajani_put_layer_norm(variant, groups):
    _, d = wgan_resnet.build(variant, {"width": 64, "latent": 8}, COLOUR32)
    norms = [m for m in d.modules() if isinstance(m, nn.GroupNorm)]
    if groups is None:
        assert norms == []
    else:  # N1 and N2 of the down block and the two plain blocks; none in the optimized block
        assert len(norms) == 6 and {m.num_groups for m in norms} == {groups}
        assert not any(isinstance(m, nn.GroupNorm) for m in d.blocks[0].modules())


def test_group_count_must_divide_width():
    with pytest.raises(ValueError, match=r"the critic: group normalization with groups = 32 cannot split the 16 channels"):
        wgan_resnet.build("critic_gn32", {"width": 16, "latent": 8}, GREY16)
    with pytest.raises(ValueError, match=r"groups = 64 cannot split the 96 channels"):
        wgan_resnet.build("critic_gn64", {"width": 96}, COLOUR32)
    wgan_resnet.build("critic_gn16", {"width": 16, "latent": 8}, GREY16)  # divides: fine
    with pytest.raises(ValueError, match="unknown variant 'critic_gn12'"):
        wgan_resnet.build("critic_gn12", {"width": 48}, COLOUR32)


def test_resnet_follows_gulrajani_cifar_layout():
    g, d = wgan_resnet.build("critic_ln", {}, COLOUR32)
    assert g.latent == 128 and g.input.out_features == 128 * 4 * 4
    assert len(g.blocks) == 3 and isinstance(g.head, OutputHead) and g.head.kind == "tanh"
    assert g.output.kernel_size == (3, 3) and g.output.out_channels == 3
    assert [type(b).__name__ for b in d.blocks] == ["OptimizedBlock", "CriticBlock", "CriticBlock", "CriticBlock"]
    assert [b.down for b in d.blocks[1:]] == [True, False, False]
    assert d.output.in_features == 128
    with torch.no_grad():
        assert d.blocks(torch.zeros(1, 3, 32, 32)).shape == (1, 128, 8, 8)
    # tflib init: 3x3 convs U(+-sqrt(3) sqrt(4 / (fan_in + fan_out))), biases 0
    conv = d.blocks[2].conv1
    bound = math.sqrt(3) * math.sqrt(4 / (2 * 128 * 9))
    largest = float(conv.weight.detach().abs().max())
    assert 0.95 * bound < largest <= bound
    assert float(conv.bias.detach().abs().max()) == 0
    g16, _ = wgan_resnet.build("critic_none", {"width": 16, "latent": 8, "head": "bn_tanh"}, GREY16)
    assert len(g16.blocks) == 2 and g16.head.kind == "bn_tanh"


def test_iwgan_gulrajani_layout_matches_gan_cifar():
    g, d = iwgan.build("tanh", {}, COLOUR32)
    assert g.latent == 64 and g.style == "gulrajani"  # Mullery & Whelan: latent 64; DIM 128
    assert g.body[0].out_features == 4 * 4 * 4 * 128 and isinstance(g.body[1], nn.BatchNorm1d)
    deconvs = [m for m in g.body if isinstance(m, nn.ConvTranspose2d)]
    assert [m.out_channels for m in deconvs] == [256, 128, 3]
    assert all(m.kernel_size == (5, 5) and m.stride == (2, 2) for m in deconvs)
    convs = [m for m in d.features if isinstance(m, nn.Conv2d)]
    assert [m.out_channels for m in convs] == [128, 256, 512]
    assert all(isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.2
               for m in d.features if not isinstance(m, nn.Conv2d))
    assert d.output.in_features == 4 * 4 * 4 * 128
    g16, d16 = iwgan.build("tanh", {"width": 8}, GREY16)
    assert [m.out_channels for m in g16.body if isinstance(m, nn.ConvTranspose2d)] == [8, 1]
    assert [m.out_channels for m in d16.features if isinstance(m, nn.Conv2d)] == [8, 16]


def test_iwgan_mullery_layout_matches_the_notebook():
    g, d = iwgan.build("tanh", {"style": "mullery", "width": 8}, COLOUR32)
    convs = [m for m in g.body if isinstance(m, nn.Conv2d)]
    assert [(m.out_channels, m.kernel_size[0]) for m in convs] == [(64, 5), (32, 3), (16, 5), (8, 5), (3, 7)]
    assert isinstance(g.body[1], nn.ReLU) and isinstance(g.body[2], nn.BatchNorm1d)  # ReLU before BN
    dconvs = [m for m in d.features if isinstance(m, nn.Conv2d)]
    assert [(m.out_channels, m.kernel_size[0], m.stride[0]) for m in dconvs] == [(8, 3, 1), (16, 4, 2), (32, 4, 2),
                                                                                 (64, 4, 2)]
    assert sum(isinstance(m, iwgan.ChannelLayerNorm) for m in d.features) == 4
    assert d.output.in_features == 64 * 2 * 2


def _iwgan_pair(variant, style, data=GREY16, seed=0):
    from gannorm.models import build_models
    from gannorm.models.variant import parse_variant

    torch.manual_seed(seed)
    record = parse_variant(variant, "test") if isinstance(variant, dict) else variant
    g, d, _ = build_models("iwgan", record, {**SMALL, "width": 8, "style": style}, data)
    return g, d


def _same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("style", iwgan.STYLES)
def test_iwgan_spectral_critic_replaces_the_critic_setting_and_keeps_the_generator(style):
    from torch.nn.utils import parametrize

    g, d = _iwgan_pair({"name": "x", "discriminator": "spectral"}, style)
    g_ref, d_ref = _iwgan_pair("tanh", style)
    assert _same_state(g, g_ref)  # the unset generator is the style's own, to the bit
    weighted = [m for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(weighted) == len([m for m in d_ref.modules() if isinstance(m, (nn.Conv2d, nn.Linear))])
    assert all(parametrize.is_parametrized(m, "weight") for m in weighted)
    assert sum(k.endswith("_u") for k in d.state_dict()) == len(weighted)
    # the critic's setting is spectral alone: the notebook's channel layer norms are gone
    assert not any(isinstance(m, (iwgan.ChannelLayerNorm, nn.GroupNorm, nn.BatchNorm2d)) for m in d.modules())
    z = torch.randn(5, SMALL["latent"])
    x = g.eval()(z)
    assert x.shape == (5, 1, 16, 16) and float(x.detach().abs().max()) <= 1
    scores = d(x)
    assert scores.shape == (5,) and torch.isfinite(scores).all()
    for m in weighted:  # sigma(W / sigma) = 1 in every layer, after a few power iterations
        m.train()
    for _ in range(30):
        d.train()(x)
    for m in weighted:
        w = m.weight.detach()
        assert float(torch.linalg.svdvals(w.reshape(w.shape[0], -1))[0]) == pytest.approx(1, abs=0.05)


@pytest.mark.parametrize("style", iwgan.STYLES)
def test_iwgan_pixel_generator_replaces_every_bn_and_keeps_the_critic(style):
    g, d = _iwgan_pair({"name": "y", "generator": "pixel"}, style)
    g_ref, d_ref = _iwgan_pair("tanh", style)
    assert _same_state(d, d_ref)  # the unset critic is the style's own, to the bit
    n = 2  # 16 px
    bn_places = sum(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in g_ref.body)
    assert bn_places == {"gulrajani": n, "mullery": n + 2}[style]
    pixel = [m for m in g.body if type(m).__name__ == "PixelNorm"]
    assert len(pixel) == bn_places and not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in g.body)
    seen = []
    for m in pixel:
        m.register_forward_hook(lambda module, args, out: seen.append((args[0].detach(), out.detach())))
    z = torch.randn(5, SMALL["latent"])
    x = g.train()(z)
    assert x.shape == (5, 1, 16, 16) and float(x.detach().abs().max()) <= 1 and d(x).shape == (5,)
    assert len(seen) == len(pixel) and all(out.dim() == 4 for _, out in seen)  # per pixel of (B, C, H, W) maps
    for inp, out in seen:  # each pixel's feature vector at unit root mean square (Karras et al., section 4.2),
        alive = inp.pow(2).mean(1) > 1e-4  # where it is not (nearly) all zero after the notebook's ReLU
        assert alive.float().mean() > 0.5
        torch.testing.assert_close(out.pow(2).mean(1)[alive], torch.ones_like(out[:, 0][alive]), rtol=1e-4, atol=1e-4)
    z2 = z.clone()
    z2[1:] = torch.randn_like(z2[1:])
    assert torch.equal(g(z2)[0], x[0])  # no batch coupling: sample 0 does not see the others


@pytest.mark.parametrize("style", iwgan.STYLES)
def test_iwgan_takes_weight_and_group_normalizations_and_refuses_batch_coupling_in_the_critic(style):
    from gannorm.models.architectures import get

    record = {"name": "z", "generator": ["weight_affine", "batch"],
              "discriminator": ["weight_affine", {"norm": "group", "groups": 4}]}
    for data in (GREY16, COLOUR32):  # weight-normalized transposed convs keep output_padding (gulrajani)
        g, d = _iwgan_pair(record, style, data)
        x = g(torch.randn(3, SMALL["latent"]))
        assert x.shape == (3, data["channels"], data["size"], data["size"]) and d(x).shape == (3,)
        assert any(isinstance(m, nn.GroupNorm) and m.num_groups == 4 for m in d.modules())
    for name in ("batch", "mean_only_batch"):
        with pytest.raises(ValueError) as refused:
            _iwgan_pair({"name": "b", "discriminator": name}, style)
        with pytest.raises(ValueError) as resnet:
            wgan_resnet.build(Variant("b", discriminator=name), SMALL, GREY16)
        assert "breaks the per-sample gradient penalty" in str(refused.value)
        assert str(refused.value) == str(resnet.value)  # the registry's one error for every WGAN-GP critic
    _iwgan_pair({"name": "g", "generator": "batch"}, style)  # G has no penalty
    first = {"gulrajani": 16, "mullery": 8}[style]  # the first normalized critic layer (none after gulrajani's first conv)
    with pytest.raises(ValueError, match=f"groups = 3 cannot split the {first} channels"):
        get("iwgan").check_variant(Variant("g3", discriminator={"norm": "group", "groups": 3}),
                                   {"width": 8, "style": style})


def test_iwgan_gulrajani_critic_convention_is_the_none_setting():
    g, d = _iwgan_pair({"name": "n", "discriminator": "none"}, "gulrajani")
    g_ref, d_ref = _iwgan_pair("bn_tanh", "gulrajani")
    assert _same_state(d, d_ref) and repr(d) == repr(d_ref)
    _, d_mullery = _iwgan_pair({"name": "n", "discriminator": "none"}, "mullery")
    assert not any(isinstance(m, iwgan.ChannelLayerNorm) for m in d_mullery.modules())


@pytest.mark.parametrize("style", iwgan.STYLES)
@pytest.mark.parametrize("data", [GREY16, COLOUR32], ids=["16px", "32px"])
def test_iwgan_bn_clip_starts_at_the_data_statistics(style, data):
    c = data["channels"]
    mean, std = [0.1, -0.2, 0.05][:c], [0.15, 0.1, 0.12][:c]  # well inside [-1, 1]: no clipping
    g, _ = iwgan.build("bn_clip", {**SMALL, "width": 8, "style": style}, {**data, "mean_pm1": mean, "std_pm1": std})
    assert g.head.kind == "bn_clip"
    g.train()
    with torch.no_grad():
        x = g(torch.randn(16, g.latent))
    per_channel = x.transpose(0, 1).reshape(c, -1)
    torch.testing.assert_close(per_channel.mean(dim=1), torch.tensor(mean), atol=1e-4, rtol=0)
    torch.testing.assert_close(per_channel.std(dim=1, unbiased=False), torch.tensor(std), atol=1e-3, rtol=0)
    # a tanh head has no such statistics
    g_tanh, _ = iwgan.build("tanh", {**SMALL, "width": 8, "style": style}, data)
    with torch.no_grad():
        y = g_tanh(torch.randn(16, g.latent)).transpose(0, 1).reshape(c, -1)
    assert not torch.allclose(y.std(dim=1, unbiased=False), torch.tensor(std), atol=1e-3)


def test_iwgan_rejects_bad_configs():
    with pytest.raises(ValueError, match="variant"):
        iwgan.build("sigmoid", {}, GREY16)
    with pytest.raises(ValueError, match="model.head"):
        iwgan.build("bn_tanh", {"head": "tanh"}, GREY16)
    with pytest.raises(ValueError, match="style"):
        iwgan.build("tanh", {"style": "keras"}, GREY16)
    with pytest.raises(ValueError, match="24"):
        iwgan.build("tanh", {"width": 4}, {**GREY16, "size": 24})
    with pytest.raises(ValueError, match="bn_clip"):
        iwgan.build("bn_clip", {"width": 4}, {**COLOUR32, "mean_pm1": None})
    assert [iwgan.upsampling_stages(s) for s in (8, 16, 32, 64)] == [1, 2, 3, 4]


def test_mlp_batch_variant_has_bn_after_every_hidden_layer_and_vanilla_none():
    g, d = mlp.build("batch", {}, GREY16)
    assert g.latent == 100
    linears = [m.out_features for m in g.net if isinstance(m, nn.Linear)]
    assert linears == [128, 256, 16 * 16]
    assert [type(m).__name__ for m in g.net] == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU",
                                                 "Linear"]
    assert [type(m).__name__ for m in d.net] == ["Linear", "BatchNorm1d", "LeakyReLU", "Linear", "BatchNorm1d",
                                                 "LeakyReLU", "Linear"]
    assert [m.out_features for m in d.net if isinstance(m, nn.Linear)] == [256, 128, 1]
    assert g.head.kind == "tanh" and g.head.norm is None
    gv, dv = mlp.build("vanilla", {}, GREY16)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in list(gv.modules()) + list(dv.modules()))
    assert [m.out_features for m in dv.net if isinstance(m, nn.Linear)] == [256, 128, 1]
    with pytest.raises(ValueError, match="architecture mlp takes no 'batching'"):
        mlp.build("joint", {}, GREY16)
    gw, _ = mlp.build("weight", {}, GREY16)  # any normalization of (B, C) features, e.g. Xiang & Li's WN
    assert [type(m).__name__ for m in gw.net] == ["WNLinear", "ReLU", "WNLinear", "ReLU", "WNLinear"]
    assert not gw.net[0].affine and gw.net[-1].affine  # strict WN, affine output layer (Xiang & Li, App. A)


@pytest.mark.parametrize("kind", ["bn_tanh", "bn_clip"])
def test_bn_heads_use_keras_batchnorm_settings(kind):
    """Mullery & Whelan's networks are Keras: BatchNormalization epsilon 1e-3, momentum 0.99 (issue 12)."""
    head = OutputHead(kind, 3, [0.1, -0.2, 0.0], [0.5, 0.4, 0.6])
    assert head.norm.eps == 1e-3 and head.norm.momentum == pytest.approx(0.01)
    x = torch.randn(8, 3, 4, 4) * 2 + 1
    head.train()(x)
    # one Keras update: moving_mean = 0.99 * 0 + 0.01 * batch mean
    assert torch.allclose(head.norm.running_mean, 0.01 * x.mean(dim=(0, 2, 3)), atol=1e-6)
