"""The tutorial's MLP GAN with and without batch normalization (the web tutorial "Batch
Normalization in GANs: A Mathematical Guide for Stable Training"): the conventional wisdom that BN
"is essential for the effective training of GANs", asserted there without a measurement; tested here by the reconstruction loss.
"""

from __future__ import annotations

from gannorm.studies import Claim, Published, Setting, Study

TUTORIAL_MLP = Study(
    paper="tutorial_mlp",
    title="The textbook MLP GAN with and without batch normalization (tutorial)",
    citation="the tutorial",
    architecture="mlp",
    variants=("vanilla", "batch"),
    claims=(
        Claim("BN helps: batch has a lower final reconstruction loss than vanilla", "final_recon", ("batch",),
              ("vanilla",), "the tutorial", paper_effect="asserted, not measured"),
    ),
    published=(Published("the tutorial", Setting("mnist", "flattened 28 px MNIST-sized images (no training run "
                                                          "reported)", 28, None), {}),),
    figures=("running_loss", "samples", "reconstructions"),
)
