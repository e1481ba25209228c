"""GAN losses of the DCGAN study (Goodfellow et al. 2014; Xiang & Li 2017 use the standard ones).

The discriminator returns logits; ``binary_cross_entropy_with_logits`` equals BCE after a sigmoid
output layer, computed stably. Each function returns a scalar tensor (mean over the batch).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``BCE(D(x), 1) + BCE(D(G(z)), 0)``; logits of shape ``(B,)``. At the equilibrium 2 ln 2."""
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss ``BCE(D(G(z)), 1)``; logits ``(B,)``."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
