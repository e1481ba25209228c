"""The reconstruction loss (Xiang & Li, section 4) is per image and independent of batching."""

import pytest
import torch

from gannorm.metrics.reconstruction import reconstruct
from gannorm.models.dcgan import DCGANSpec, Generator


@pytest.mark.parametrize("variant", ["vanilla", "batch", "weight"])
def test_per_image_losses_do_not_depend_on_the_batch_size(variant):
    torch.manual_seed(0)
    generator = Generator(DCGANSpec(16, 1, 8, 8, variant))
    if variant == "batch":  # non-trivial running statistics, so eval mode matters
        generator.train()
        with torch.no_grad():
            generator(torch.randn(64, 8) * 3)
    targets = torch.rand(11, 1, 16, 16)
    whole = reconstruct(generator, targets, 8, steps=25, batch_size=11)
    split = reconstruct(generator, targets, 8, steps=25, batch_size=4)
    torch.testing.assert_close(whole.losses, split.losses, rtol=1e-5, atol=1e-8)
    one_by_one = torch.cat([reconstruct(generator, targets[i:i + 1], 8, steps=25).losses for i in range(3)])
    torch.testing.assert_close(whole.losses[:3], one_by_one, rtol=1e-5, atol=1e-8)


def test_reconstruction_improves_on_z_zero_and_matches_its_definition():
    torch.manual_seed(1)
    generator = Generator(DCGANSpec(16, 1, 8, 8, "vanilla"))
    targets = torch.rand(6, 1, 16, 16)
    with torch.no_grad():
        at_zero = (generator(torch.zeros(6, 8)) - targets).pow(2).mean(dim=(1, 2, 3))
    result = reconstruct(generator, targets, 8, steps=100, keep_images=True)
    assert (result.losses < at_zero).all()
    with torch.no_grad():
        recomputed = (generator(result.latents) - targets).pow(2).flatten(1).mean(1)
    torch.testing.assert_close(result.losses, recomputed)
    torch.testing.assert_close(result.images, generator(result.latents).detach())


def test_generator_mode_and_gradients_are_restored():
    generator = Generator(DCGANSpec(16, 1, 8, 8, "batch"))
    generator.train()
    reconstruct(generator, torch.rand(2, 1, 16, 16), 8, steps=2)
    assert generator.training
    assert all(p.requires_grad and p.grad is None for p in generator.parameters())
