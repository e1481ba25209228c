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


# --- weight-normalized addition (Appendix B, eq. 17) and mean-only BN (Appendix D.2) -------------

from gannorm.models.layers import MeanOnlyBatchNorm2d, WNAddition  # noqa: E402


def test_wn_addition_equals_equation_17_per_channel():
    torch.manual_seed(5)
    layer = WNAddition(3).double()
    w1, w2 = torch.tensor([0.5, -2.0, 0.0]), torch.tensor([1.5, 0.3, -1.0])
    with torch.no_grad():
        layer.weight_residue.copy_(w1)
        layer.weight_shortcut.copy_(w2)
    a, b = torch.randn(2, 3, 4, 4, dtype=torch.float64), torch.randn(2, 3, 4, 4, dtype=torch.float64)
    for c in range(3):
        expected = (w1[c] * a[:, c] + w2[c] * b[:, c]) / math.sqrt(w1[c] ** 2 + w2[c] ** 2 + 1e-6)
        torch.testing.assert_close(layer(a, b)[:, c], expected.double())


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_wn_addition_keeps_unit_variance_for_any_weights(seed):
    gen = torch.Generator().manual_seed(seed)
    channels = 4
    layer = WNAddition(channels)
    with torch.no_grad():  # random weights of either sign and very different sizes per channel
        layer.weight_residue.copy_(torch.randn(channels, generator=gen) * torch.tensor([0.1, 1.0, 3.0, 10.0]))
        layer.weight_shortcut.copy_(torch.randn(channels, generator=gen))
    x_residue = torch.randn(4096, channels, 4, 4, generator=gen)
    x_shortcut = torch.randn(4096, channels, 4, 4, generator=gen)  # independent of x_residue
    with torch.no_grad():
        y = layer(x_residue, x_shortcut)
    per_channel = y.transpose(0, 1).reshape(channels, -1)
    assert per_channel.mean(dim=1).abs().max() < 0.02
    torch.testing.assert_close(per_channel.var(dim=1), torch.ones(channels), atol=0.03, rtol=0)
    # a plain sum would not: variance w1^2 + w2^2
    with torch.no_grad():
        plain = (layer.weight_residue.view(1, -1, 1, 1) * x_residue + layer.weight_shortcut.view(1, -1, 1, 1) * x_shortcut)
    assert float(plain.transpose(0, 1).reshape(channels, -1).var(dim=1).sub(1).abs().max()) > 0.3


def test_wn_addition_starts_as_the_shortcut():
    layer = WNAddition(5)
    assert layer.weight_residue.tolist() == [0.0] * 5 and layer.weight_shortcut.tolist() == [1.0] * 5
    residue = torch.randn(3, 5, 6, 6, requires_grad=True)
    shortcut = torch.randn(3, 5, 6, 6)
    y = layer(residue, shortcut)
    torch.testing.assert_close(y, shortcut)
    y.sum().backward()
    assert float(residue.grad.abs().max()) == 0.0, "the residue branch is switched off at init"
    assert float(layer.weight_residue.grad.abs().max()) > 0, "but its weight learns"


def test_wn_addition_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="WNAddition"):
        WNAddition(4)(torch.zeros(2, 4, 3, 3), torch.zeros(2, 4, 6, 6))
    with pytest.raises(ValueError, match="WNAddition"):
        WNAddition(4)(torch.zeros(2, 3, 3, 3), torch.zeros(2, 3, 3, 3))


def test_mean_only_batch_norm_subtracts_the_batch_mean_and_adds_the_bias():
    torch.manual_seed(6)
    layer = MeanOnlyBatchNorm2d(3, momentum=0.1)
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([0.5, -1.0, 0.0]))
    x = torch.randn(8, 3, 5, 5) * torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1) + torch.tensor([4.0, -2.0, 1.0]).view(1, 3, 1, 1)
    y = layer.train()(x)
    batch_mean = x.mean(dim=(0, 2, 3))
    torch.testing.assert_close(y, x - batch_mean.view(1, 3, 1, 1) + layer.bias.view(1, 3, 1, 1))
    torch.testing.assert_close(y.var(dim=(0, 2, 3)), x.var(dim=(0, 2, 3)))  # the variance is left alone
    torch.testing.assert_close(layer.running_mean, 0.1 * batch_mean)
    x2 = torch.randn(4, 3, 5, 5)
    torch.testing.assert_close(layer.eval()(x2), x2 - 0.1 * batch_mean.view(1, 3, 1, 1) + layer.bias.view(1, 3, 1, 1))
