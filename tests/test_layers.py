"""Weight-normalized layers and TPReLU against Xiang & Li (2017), equations 4, 10-12, Appendix B."""

import math

import pytest
import torch
import torch.nn.functional as F

from gannorm.models.layers import TPReLU, WNConv2d, WNConvTranspose2d, WNLinear, clip_slopes


def appendix_b_weight(w: torch.Tensor, out_dim: int, factor: float) -> torch.Tensor:
    """w / sqrt(sum(w^2 over the whole kernel of one output channel) * factor + 1e-6), written out."""
    w64 = w.double()
    out = torch.empty_like(w64)
    for c in range(w.shape[out_dim]):
        kernel = w64.select(out_dim, c)
        norm = math.sqrt(float((kernel ** 2).sum()) * factor + 1e-6)
        out.select(out_dim, c).copy_(kernel / norm)
    return out


def test_strict_wn_conv_equals_appendix_b_formula():
    torch.manual_seed(0)
    layer = WNConv2d(5, 7, 4, stride=2, padding=1).double()
    x = torch.randn(3, 5, 12, 12, dtype=torch.float64)
    expected = F.conv2d(x, appendix_b_weight(layer.weight.detach(), 0, 1.0), stride=2, padding=1)
    torch.testing.assert_close(layer(x), expected)
    assert not hasattr(layer, "gamma"), "a strict layer has no scale"


@pytest.mark.parametrize("stride", [1, 2])
def test_strict_wn_transposed_conv_divides_the_norm_by_the_stride(stride):
    torch.manual_seed(1)
    layer = WNConvTranspose2d(6, 4, 4, stride=stride, padding=1).double()
    x = torch.randn(2, 6, 5, 5, dtype=torch.float64)
    w = appendix_b_weight(layer.weight.detach(), 1, 1.0 / stride ** 2)
    torch.testing.assert_close(layer(x), F.conv_transpose2d(x, w, stride=stride, padding=1))


def test_affine_wn_conv_applies_gamma_and_beta_after_normalizing():
    torch.manual_seed(2)
    layer = WNConv2d(3, 4, 3, padding=1, affine=True).double()
    with torch.no_grad():
        layer.gamma.copy_(torch.tensor([0.5, 2.0, -1.0, 3.0]))
        layer.beta.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    strict = F.conv2d(x, appendix_b_weight(layer.weight.detach(), 0, 1.0), padding=1)
    torch.testing.assert_close(layer(x), strict * layer.gamma.view(1, -1, 1, 1) + layer.beta.view(1, -1, 1, 1))


def test_wn_linear_equals_formula_and_first_layer_init():
    torch.manual_seed(3)
    layer = WNLinear(256, 50, init_scale=0.01).double()
    bound = 0.01 / math.sqrt(256)
    assert layer.weight.abs().max() <= bound
    assert layer.weight.abs().max() > 0.9 * bound
    x = torch.randn(4, 256, dtype=torch.float64)
    torch.testing.assert_close(layer(x), x @ appendix_b_weight(layer.weight.detach(), 0, 1.0).T)


@pytest.mark.parametrize("make", [
    lambda: WNConv2d(64, 32, 4, stride=2, padding=1),
    lambda: WNConv2d(64, 32, 3, stride=1, padding=1),
    lambda: WNConvTranspose2d(64, 32, 4, stride=2, padding=1),
    lambda: WNLinear(512, 64),
])
def test_strict_wn_layer_keeps_unit_variance(make):
    torch.manual_seed(4)
    layer = make()
    x = torch.randn(64, 512) if isinstance(layer, WNLinear) else torch.randn(32, 64, 16, 16)
    with torch.no_grad():
        y = layer(x)
    if y.dim() == 4:
        y = y[:, :, 2:-2, 2:-2]  # away from the zero padding
    per_channel = y.transpose(0, 1).reshape(y.shape[1], -1)
    assert abs(float(per_channel.mean())) < 0.05
    assert float(per_channel.var(dim=1).mean()) == pytest.approx(1.0, abs=0.08)


def test_tprelu_formula():
    layer = TPReLU(2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([0.25, 0.5]))
        layer.bias.copy_(torch.tensor([1.0, -2.0]))
    x = torch.tensor([[3.0, -1.0], [0.0, -4.0]]).view(2, 2, 1, 1)
    # channel 0: b=1, a=0.25: 3 -> 3, 0 -> 0.25*(0-1)+1 = 0.75; channel 1: b=-2, a=0.5: -1 -> -1, -4 -> -3
    expected = torch.tensor([[3.0, -1.0], [0.75, -3.0]]).view(2, 2, 1, 1)
    torch.testing.assert_close(layer(x), expected)


def test_tprelu_initial_state_is_prelu_with_slope_quarter():
    layer = TPReLU(3)
    x = torch.randn(5, 3, 4, 4)
    torch.testing.assert_close(layer(x), F.prelu(x, torch.full((3,), 0.25)))


def test_clip_slopes_clamps_prelu_and_tprelu_to_unit_interval():
    net = torch.nn.Sequential(torch.nn.PReLU(3), TPReLU(3))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([-0.5, 0.3, 1.7]))
        net[1].weight.copy_(torch.tensor([2.0, -1.0, 0.9]))
        net[1].bias.copy_(torch.tensor([-5.0, 5.0, 0.0]))
    clip_slopes(net)
    assert net[0].weight.tolist() == pytest.approx([0.0, 0.3, 1.0])
    assert net[1].weight.tolist() == pytest.approx([1.0, 0.0, 0.9])
    assert net[1].bias.tolist() == [-5.0, 5.0, 0.0], "thresholds are not clipped"
