"""The reconstruction loss of Xiang & Li (2017), section 4, equation 13.

For each test image x, find ``z* = argmin_z ||G(z) - x||^2`` by RMSProp from ``z = 0`` and
report ``||G(z*) - x||^2 / (C H W)``, the per-pixel, per-channel squared error (images in [0, 1]).
The running evaluation uses 50 steps on a fixed subset; the final evaluation 2,000 steps on the
whole test set, with BN in inference mode (section 5.1). RMSProp: lr 0.01, alpha 0.9,
eps 1e-6 (reference code).

The RMSProp update is written out here (:func:`rmsprop_step`), the same operations in the same
order as ``torch.optim.RMSprop`` without momentum, centering or weight decay (so the same bits):
every ``torch.optim`` step imports ``torch._dynamo`` (about 1.2 s of CPU per process), which would
otherwise be most of a small final-evaluation job's time.

Each image's latent code is optimised independently: the objective is the *sum* of per-image
losses, the generator is in eval mode (no batch statistics) and RMSProp acts element-wise, so an
image's result does not depend on the batch it is in. Batching is therefore only a speed-up.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn


def rmsprop_step(z: torch.Tensor, grad: torch.Tensor, square_avg: torch.Tensor, lr: float, alpha: float,
                 eps: float) -> None:
    """One in-place RMSProp update of ``z`` (``torch.optim.RMSprop``'s single-tensor update with
    momentum 0, not centered, no weight decay): ``v = alpha v + (1 - alpha) g^2``,
    ``z -= lr g / (sqrt(v) + eps)``. ``z``, ``grad`` and ``square_avg`` have one shape."""
    with torch.no_grad():
        square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
        z.addcdiv_(grad, square_avg.sqrt().add_(eps), value=-lr)


@dataclass
class Reconstruction:
    """Result of :func:`reconstruct`.

    ``losses``: ``(N,)`` float32, per-image loss after the last step (squared error per pixel
    and channel, images in [0, 1], so in [0, 1]). ``images``: ``(N, C, H, W)`` the generator's
    reconstructions G(z*) in [0, 1] (only when ``keep_images``), ``latents``: ``(N, latent)``.
    """

    losses: torch.Tensor
    latents: torch.Tensor
    images: torch.Tensor | None = None

    @property
    def mean(self) -> float:
        return float(self.losses.double().mean())


def reconstruct(generator: nn.Module, targets: torch.Tensor, latent: int, steps: int, lr: float = 0.01,
                alpha: float = 0.9, eps: float = 1e-6, batch_size: int | None = None,
                keep_images: bool = False, progress: bool = False) -> Reconstruction:
    """Optimise one latent code per target image and return per-image losses.

    Args:
        generator: maps ``(B, latent)`` to ``(B, C, H, W)`` in [0, 1]. It is put in eval mode for
            the call (BN uses its running statistics) and restored afterwards; its parameters
            receive no gradient.
        targets: ``(N, C, H, W)`` float in [0, 1], on the generator's device.
        latent: length of z.
        steps: RMSProp steps per image (50 running, 2,000 final in the paper).
        batch_size: images optimised together (default: all); does not change any result.
        keep_images: also return the reconstructions.
        progress: show a tqdm bar over batches x steps.

    Raises:
        ValueError: ``targets`` is not 4-D or ``steps`` < 1.
    """
    if targets.dim() != 4:
        raise ValueError(f"targets must be (N, C, H, W), got shape {tuple(targets.shape)}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    n = targets.shape[0]
    batch_size = n if batch_size is None else max(1, int(batch_size))
    was_training = generator.training
    requires = [p.requires_grad for p in generator.parameters()]
    generator.eval()
    for p in generator.parameters():
        p.requires_grad_(False)
    losses, latents, images = [], [], []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n * steps, unit="img-step", unit_scale=True, mininterval=5, desc="reconstruction")
    try:
        for start in range(0, n, batch_size):
            target = targets[start:start + batch_size]
            z = torch.zeros(target.shape[0], latent, device=target.device, requires_grad=True)
            square_avg = torch.zeros_like(z)
            for _ in range(steps):
                per_image = (generator(z) - target).pow(2).flatten(1).mean(1)
                (grad,) = torch.autograd.grad(per_image.sum(), z)  # sum, never mean: images stay independent
                rmsprop_step(z, grad, square_avg, lr, alpha, eps)
                if bar is not None:
                    bar.update(target.shape[0])
            with torch.no_grad():
                out = generator(z)
                losses.append((out - target).pow(2).flatten(1).mean(1).float().cpu())
                latents.append(z.detach().cpu())
                if keep_images:
                    images.append(out.float().cpu())
    finally:
        if bar is not None:
            bar.close()
        for p, r in zip(generator.parameters(), requires):
            p.requires_grad_(r)
        generator.train(was_training)
    return Reconstruction(losses=torch.cat(losses), latents=torch.cat(latents),
                          images=torch.cat(images) if keep_images else None)
