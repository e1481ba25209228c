"""The DCGAN builder follows Table 1 of Xiang & Li (2017)."""

import pytest
import torch
import torch.nn as nn

from gannorm.config import ConfigError, dcgan_map_sizes
from gannorm.models.dcgan import DCGANSpec, build_dcgan
from gannorm.models.layers import TPReLU, WNConv2d, WNConvTranspose2d, WNLinear


def test_map_sizes_match_the_papers_datasets():
    assert dcgan_map_sizes(160) == [160, 80, 40, 20, 10, 5]  # CelebA: 5 stride-2 convs, then k=5
    assert dcgan_map_sizes(32) == [32, 16, 8, 4]               # CIFAR-10
    assert dcgan_map_sizes(256)[-1] == 4                       # LSUN
    with pytest.raises(ConfigError, match="24"):
        dcgan_map_sizes(24)


def test_celeba_discriminator_and_generator_layers_follow_table_1():
    g, d = build_dcgan(DCGANSpec(160, 3, 64, 256, "batch"))
    d_convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in d_convs] == [64, 128, 256, 512, 1024, 1]
    assert d_convs[-1].kernel_size == (5, 5) and d_convs[-1].stride == (1, 1)
    g_convs = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [c.out_channels for c in g_convs] == [1024, 512, 256, 128, 64, 3]
    # BN: not after D's first layer, nor after the last layers of G and D
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.modules()) == 4
    assert sum(isinstance(m, nn.BatchNorm2d) for m in g.modules()) == 5
    assert isinstance(d.net[1], nn.PReLU)
    z = torch.randn(2, 256)
    with torch.no_grad():
        x = g(z)
    assert x.shape == (2, 3, 160, 160) and 0 <= float(x.min()) and float(x.max()) <= 1
    assert d(x).shape == (2,)


def test_weight_variant_uses_strict_layers_tprelu_and_affine_last_layers():
    g, d = build_dcgan(DCGANSpec(32, 3, 96, 256, "weight"))
    assert isinstance(g.net[0], WNLinear) and not g.net[0].affine
    wn_g = [m for m in g.modules() if isinstance(m, WNConvTranspose2d)]
    wn_d = [m for m in d.modules() if isinstance(m, WNConv2d)]
    assert [m.affine for m in wn_g] == [False] * (len(wn_g) - 1) + [True]
    assert [m.affine for m in wn_d] == [False] * (len(wn_d) - 1) + [True]
    assert wn_d[0].weight.shape[0] == 96  # CIFAR-10 preset: 96 first-layer features
    assert not any(isinstance(m, (nn.PReLU, nn.BatchNorm2d)) for m in list(g.modules()) + list(d.modules()))
    assert sum(isinstance(m, TPReLU) for m in d.modules()) == 3


def test_unknown_variant_is_rejected():
    with pytest.raises(ValueError, match="spectral"):
        DCGANSpec(16, 1, variant="spectral")
