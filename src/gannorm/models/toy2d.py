"""The 2-D toy GAN of Johannsmeier (2022), "Batch Normalization in GANs: Blind Spots and
Unintuitive Behavior", and every discriminator batching variant the post tries.

Networks (section "Setting The Stage"; Keras defaults reproduced in PyTorch):

* generator G: z (B, 2) ~ N(0, I2) -> Dense(64) - LeakyReLU(0.01) - Dense(64) - LeakyReLU(0.01)
  - Dense(2) -> points (B, 2). No BN in G (footnote 1: "Whether or not G includes BN is not
  relevant here"). Variants with moment matching append :class:`MomentMatch` (section "A Bonus
  Experiment"), which makes the *batch* of generated points have the data's per-axis mean and
  variance, so G's output then depends on the whole batch.
* discriminator D: points (B, 2) -> Dense(64) [- BN] - LeakyReLU(0.01) - Dense(64) [- BN] -
  LeakyReLU(0.01) - Dense(1) -> logits (B,). BN sits after each hidden dense layer, before the
  nonlinearity, as in the post's listing ("Introducing Batch Normalization").

Keras defaults followed: dense kernels Glorot-uniform, biases zero; BatchNormalization
``momentum=0.99`` (PyTorch ``momentum=0.01``), ``epsilon=1e-3``, gamma 1, beta 0, moving mean 0
and variance 1 at the start. (PyTorch keeps the unbiased batch variance in the running variance,
Keras the biased one; with the 2,048-point batches the factor is 2048/2047.)

``model`` config keys (all optional): ``hidden`` (64), ``latent`` (2, the noise dimension),
``leaky_slope`` (0.01), ``bn_momentum`` (0.01, PyTorch convention), ``bn_eps`` (1e-3); the last
three are not keys of a study's config. Defaults and sources: the fields of
:class:`~gannorm.models.toy2d_config.Toy2DConfig`, which also holds the training loop's
defaults; the variants (:class:`~gannorm.models.toy2d_config.Variant`) are defined there too
and re-exported here.

``data`` for :func:`build`: ``{"dims": 2, "mean": [2 floats], "std": [2 floats]}``, the
training population's per-axis mean and (biased) std (:meth:`gannorm.data.toy2d.Toy2D.data_info`);
only the moment-matching variants need it.

Variants (:data:`VARIANTS`, :data:`VARIANT_SPECS`), with the post's wording:

=====================  =========  ========  =======  ====  =====  ===================================
name                   BN in D    D step    G step   D in  shift  post
                                  batches   batch    G     / mm
                                                     step
=====================  =========  ========  =======  ====  =====  ===================================
``no_bn``              none       split     fake     train -      "the generated samples match the
                                                                  data quite well"
``no_bn_shift``        none       split     fake     train shift  "if we remove BN but keep the
                                                                  additional loss term ... No shift
                                                                  has occurred!" (the control)
``split``              all        split     fake     train -      "Almost seems like the entire
                                                                  distribution is slightly shifted"
``split_shift``        all        split     fake     train shift  "This time, the shift is very
                                                                  obvious. Still, D still incurs a
                                                                  loss of ln(2)"
``joint``              all        joint     fake     train -      "Use joint batches to train D":
                                                                  "losses are 6.62 for G and 0.17
                                                                  for D"
``eval_g``             all        split     fake     eval  -      "What if we just set
                                                                  training=False?": "Losses are
                                                                  4.23 (G) and 0.007 (D)"
``joint_eval_g``       all        joint     fake     eval  -      "combine the two approaches that
                                                                  did not work" (the fix)
``joint_eval_g_shift`` all        joint     fake     eval  shift  the fix is "even 'immune' to
                                                                  affine-linear shifts"
``joint_both``         all        joint     joint    train -      "Also pass a joint batch to D
                                                                  when training G, and using
                                                                  training=True again"
``first_layer_mm``     first      split     fake     train mm     "This actually works, if D has BN
                                                                  only in the first layer"
``all_layers_mm``      all        split     fake     train mm     "BN in later layers will still
                                                                  normalize these away" (extra: the
                                                                  bonus experiment's failing case)
``later_bn_shift``     later      split     fake     train shift  "Don't use BN in the first layer
                                                                  of D" (extra: DCGAN's practice,
                                                                  under the shift incentive)
=====================  =========  ========  =======  ====  =====  ===================================

"split": D sees the fake batch and the real batch in two calls (BN normalises each with its own
statistics); "joint": one call on the concatenated batch [fake; real]. In a joint G step only the
fake half's logits enter G's loss. "eval": D uses its running statistics during the G step. The
shift incentive adds ``-w * mean(fake[:, 0])`` (``w = train.shift_incentive``, 0.005) to G's
loss. The last two variants are not in the post's experiments; they test its suggestions.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from gannorm.models.variant import Variant as Preset
from gannorm.models.toy2d_config import (VARIANT_SPECS, VARIANTS, Toy2DConfig, Variant,  # noqa: F401 (re-exported)
                                         variant_spec)


def _dense(fan_in: int, fan_out: int) -> nn.Linear:
    layer = nn.Linear(fan_in, fan_out)
    nn.init.xavier_uniform_(layer.weight)  # Keras glorot_uniform
    nn.init.zeros_(layer.bias)
    return layer


class MomentMatch(nn.Module):
    """Give a batch the data's per-axis mean and variance (post, "A Bonus Experiment").

    ``out = (x - mean_B(x)) / sqrt(var_B(x)) * sqrt(target_var) + target_mean`` with the batch's
    mean and biased variance (``tf.nn.moments``) and no epsilon, as in the post. Like a BN layer
    with beta and gamma fixed to the data's statistics, in training and evaluation alike.

    Shapes: ``(B, D) -> (B, D)``, B >= 2.
    """

    def __init__(self, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.register_buffer("target_mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("target_var", torch.tensor(std, dtype=torch.float32) ** 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=0)
        var = x.var(dim=0, unbiased=False)
        return (x - mean) / torch.sqrt(var) * torch.sqrt(self.target_var) + self.target_mean


class Generator(nn.Module):
    """G: noise ``z (B, latent)`` -> points ``(B, 2)`` (unbounded). Attribute ``latent``."""

    def __init__(self, hidden: int = 64, latent: int = 2, slope: float = 0.01,
                 moment_match: MomentMatch | None = None) -> None:
        super().__init__()
        self.latent = latent
        self.net = nn.Sequential(_dense(latent, hidden), nn.LeakyReLU(slope), _dense(hidden, hidden),
                                 nn.LeakyReLU(slope), _dense(hidden, 2))
        self.moment_match = moment_match

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.net(z)
        return self.moment_match(out) if self.moment_match is not None else out


class Discriminator(nn.Module):
    """D: points ``(B, 2)`` -> logits ``(B,)``; BN after the hidden dense layers named by ``bn``
    (``"none"``, ``"all"``, ``"first"``, ``"later"``), before the LeakyReLU."""

    def __init__(self, hidden: int = 64, slope: float = 0.01, bn: str = "none", bn_momentum: float = 0.01,
                 bn_eps: float = 1e-3) -> None:
        super().__init__()
        if bn not in ("none", "all", "first", "later"):
            raise ValueError(f"bn must be none, all, first or later, got {bn!r}")
        use = {"none": (False, False), "all": (True, True), "first": (True, False), "later": (False, True)}[bn]

        def norm(on: bool) -> nn.Module:
            return nn.BatchNorm1d(hidden, eps=bn_eps, momentum=bn_momentum) if on else nn.Identity()

        self.net = nn.Sequential(_dense(2, hidden), norm(use[0]), nn.LeakyReLU(slope),
                                 _dense(hidden, hidden), norm(use[1]), nn.LeakyReLU(slope), _dense(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def build(variant: str | Preset, model_cfg: dict[str, Any] | None = None,
          data: dict[str, Any] | None = None) -> tuple[Generator, Discriminator]:
    """Build (G, D) for ``variant`` (module docstring), initialised from torch's global RNG:
    a scheme's name, or a variant record whose ``batching`` names the scheme.

    ``model_cfg`` keys missing or null take the :class:`Toy2DConfig` defaults.

    Raises:
        ValueError: unknown variant; a moment-matching variant without ``data["mean"]``/``["std"]``.
    """
    spec = variant_spec(variant.batching if isinstance(variant, Preset) else variant)
    cfg = Toy2DConfig.from_config(model=model_cfg)
    mm = None
    if spec.moment_match:
        if not data or "mean" not in data or "std" not in data:
            raise ValueError(f"variant {variant!r} moment-matches to the data: build() needs data['mean'] and "
                             "data['std'] (Toy2D.data_info())")
        mm = MomentMatch(list(data["mean"]), list(data["std"]))
    generator = Generator(int(cfg.hidden), int(cfg.latent), float(cfg.leaky_slope), mm)
    discriminator = Discriminator(int(cfg.hidden), float(cfg.leaky_slope), spec.d_bn, float(cfg.bn_momentum),
                                  float(cfg.bn_eps))
    return generator, discriminator


def discriminate(discriminator: nn.Module, fake: torch.Tensor, real: torch.Tensor,
                 batching: str) -> tuple[torch.Tensor, torch.Tensor]:
    """D's logits on a fake and a real batch, batched as the post's D step does.

    ``"split"``: ``D(fake)`` then ``D(real)``, two calls (so a BN D normalises each batch with its
    own statistics, and in train mode updates its running statistics with fake first, then real).
    ``"joint"``: one call on ``cat([fake, real])``. D's train/eval mode is left as it is.

    Returns:
        ``(logits_fake (B_fake,), logits_real (B_real,))``.
    """
    if batching == "split":
        return discriminator(fake), discriminator(real)
    if batching == "joint":
        out = discriminator(torch.cat([fake, real]))
        return out[:len(fake)], out[len(fake):]
    raise ValueError(f"batching must be 'split' or 'joint', got {batching!r}")


def generator_view(discriminator: nn.Module, fake: torch.Tensor, real: torch.Tensor, spec: Variant) -> torch.Tensor:
    """D's logits on ``fake`` ``(B,)`` as the variant's G step sees them: D in ``spec.g_d_mode``,
    the fake batch alone (``g_batch == "fake"``) or inside ``[fake; real]`` (``"joint"``).
    D's previous train/eval mode is restored afterwards."""
    was_training = discriminator.training
    discriminator.train(spec.g_d_mode == "train")
    try:
        if spec.g_batch == "joint":
            return discriminator(torch.cat([fake, real]))[:len(fake)]
        return discriminator(fake)
    finally:
        discriminator.train(was_training)
