"""The MLP GAN of the batch-normalization tutorial ("Batch Normalization in GANs: A Mathematical
Guide for Stable Training", section "Implementing Batch Normalization in PyTorch"), on flattened
images: the "conventional wisdom" baseline (docs/design.md, The studies).

With ``h = model.hidden`` and ``P = C * size * size``:

* Generator: ``Linear(latent, h), [BN], ReLU, Linear(h, 2h), [BN], ReLU, Linear(2h, P)``, reshape
  to ``(B, C, size, size)``, then the output head (``model.head``, default ``tanh`` as in the
  tutorial).
* Discriminator: flatten, ``Linear(P, 2h), [BN], LeakyReLU(0.2), Linear(2h, h), [BN],
  LeakyReLU(0.2), Linear(h, 1)``. The tutorial ends in a sigmoid; here the discriminator returns
  the logit ``(B,)`` and the sigmoid lives inside the (numerically stable) BCE-with-logits loss,
  the same function.

``[BN]`` is ``nn.BatchNorm1d`` after each hidden linear layer of both networks (including the
discriminator's first layer, as the tutorial does), present in variant ``batch`` and absent in
``vanilla`` (the same networks without BN). Layers keep PyTorch's default initialisation and
biases, as in the tutorial.

Config keys (``model`` section): ``latent``, ``hidden``, ``head``; their defaults (100, 128,
``"tanh"``, from the tutorial) and sources are the fields of
:class:`~gannorm.models.mlp_config.MLPConfig` (re-exported here with :data:`VARIANTS`).
``model.width`` is not used.

Optimizer: the tutorial gives none. It builds the two networks and prints them; it states no
optimizer, learning rate, betas, batch size, loss or number of iterations (its MNIST example
only fixes ``input_dim = 100``, ``hidden_dim = 128``, ``output_dim = 784``). The study must set
``train.optimizer``, ``train.lr`` and ``train.adam_betas`` in its config; whatever it uses is a
choice of this project, not the tutorial's (a common one for such GANs is DCGAN's Adam, lr 2e-4,
betas (0.5, 0.999)).
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn as nn

from gannorm.models.heads import OutputHead
from gannorm.models.mlp_config import VARIANTS, MLPConfig  # noqa: F401 (re-exported)
from gannorm.models.norms import NetworkNorm
from gannorm.models.normalize import LayerSpec, feature_norm, layer
from gannorm.models.architectures import get as get_architecture
from gannorm.models.variant import Variant


def _hidden(n_in: int, n_out: int, net: NetworkNorm, activation: nn.Module) -> list[nn.Module]:
    """``Linear(n_in, n_out)`` under the network's weight normalization, its feature normalization
    on ``(B, n_out)``, the activation."""
    return [layer(net, LayerSpec("linear", n_in, n_out)), *feature_norm(net, n_out, dims=1), activation]


class Generator(nn.Module):
    """MLP generator: z ``(B, latent)`` -> images ``(B, C, size, size)`` in ``output_range``.

    Attributes: ``latent``, ``output_range``, ``net`` (the MLP), ``head``.
    """

    def __init__(self, latent: int, hidden: int, channels: int, size: int, net: NetworkNorm, head: OutputHead) -> None:
        super().__init__()
        self.latent, self.image_shape = latent, (channels, size, size)
        self.net = nn.Sequential(*_hidden(latent, hidden, net, nn.ReLU()),
                                 *_hidden(hidden, 2 * hidden, net, nn.ReLU()),
                                 layer(net, LayerSpec("linear", 2 * hidden, channels * size * size), output=True))
        self.head = head
        self.output_range = head.output_range

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.net(z).view(z.shape[0], *self.image_shape))


class Discriminator(nn.Module):
    """MLP discriminator: images ``(B, C, size, size)`` (any shape ``(B, ...)`` with P values) ->
    logits ``(B,)``."""

    def __init__(self, pixels: int, hidden: int, net: NetworkNorm) -> None:
        super().__init__()
        self.net = nn.Sequential(*_hidden(pixels, 2 * hidden, net, nn.LeakyReLU(0.2)),
                                 *_hidden(2 * hidden, hidden, net, nn.LeakyReLU(0.2)),
                                 layer(net, LayerSpec("linear", hidden, 1), output=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).flatten()


def build(variant: str | Variant, model_cfg: Mapping[str, Any] | None,
          data: Mapping[str, Any]) -> tuple[Generator, Discriminator]:
    """The tutorial's MLP generator and discriminator, without (``vanilla``) or with (``batch``) BN,
    or under any normalizations of ``(B, C)`` features a variant record gives.

    Args:
        variant: a preset's name or a record, resolved here (:meth:`gannorm.models.architectures.Architecture.resolve_variant`).
        model_cfg: the study's ``model`` section (``latent``, ``hidden``, ``head``; missing or null:
            the :class:`MLPConfig` defaults; other keys are ignored).
        data: ``{"size", "channels", "mean_pm1", "std_pm1", ...}``.

    Returns:
        ``(generator, discriminator)``.

    Raises:
        ValueError: non-positive latent/hidden, or an invalid head.
    """
    variant = get_architecture("mlp").resolve_variant(variant, model_cfg)
    cfg = MLPConfig.from_config(model=model_cfg)
    latent, hidden = int(cfg.latent), int(cfg.hidden)
    if latent < 1 or hidden < 1:
        raise ValueError(f"mlp: model.latent ({latent}) and model.hidden ({hidden}) must be positive")
    size, channels = int(data["size"]), int(data["channels"])
    head = OutputHead(variant.head or cfg.head, channels, data.get("mean_pm1"), data.get("std_pm1"))
    return (Generator(latent, hidden, channels, size, variant.generator, head),
            Discriminator(channels * size * size, hidden, variant.discriminator))
