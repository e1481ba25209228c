"""Does each source's finding hold beyond the network it was measured in? The sources' normalizations
and spectral normalization, in D / the critic of three image GANs, on the same data and seeds.

Each source tests its normalization in one network: Xiang & Li 2017 ("On the effects of batch and
weight normalization in generative adversarial networks") weight vs batch normalization in their
DCGAN (and ResNet); Wu, Cheng & Guo ("Improve Wasserstein GAN with Group Normalization") group vs layer
normalization in Gulrajani et al. 2017's ResNet critic; Miyato et al. 2018 ("Spectral
normalization for generative adversarial networks") spectral normalization in D, which Kurach et
al. 2019 ("A large-scale study on regularization and normalization in GANs") found to transfer
across architectures, while Lucic et al. 2018 ("Are GANs created equal?") saw conclusions shift
with architecture and budget. This study runs every finding's variants in ``dcgan``, ``resnet``
(Xiang & Li's) and ``wgan_resnet`` (Gulrajani et al.'s WGAN-GP) and judges each claim in each
architecture by the final reconstruction loss (Xiang & Li's yardstick, defined for every image GAN
here), beside the source's own effect where the source measured it.

G is as each finding's source sets it: Xiang & Li normalize G and D alike (``vanilla``, ``batch``,
``weight``); Gulrajani et al.'s and Miyato et al.'s G has batch normalization (the ``d_*`` presets:
batch normalization in G, the named one in D). The WGAN-GP critic runs no ``batch`` (batch
normalization couples the samples, which breaks the per-sample gradient penalty). The 2-D MLP
(Johannsmeier's ``toy2d``) is left out: it has no images, so no reconstruction loss.
"""

from __future__ import annotations

from gannorm.studies import RECONSTRUCTION, Claim, Study

_VARIANTS = ("vanilla", "batch", "weight", "d_none", "d_layer", "d_group4", "d_group8", "d_spectral")
_GROUPS = ("d_group4", "d_group8")

CROSS_ARCHITECTURE = Study(
    paper="cross_architecture",
    title="Do the normalization findings transfer across architectures?",
    citation="Xiang & Li 2017; Wu, Cheng & Guo; Miyato et al. 2018",
    architectures=("dcgan", "resnet", "wgan_resnet"),
    variants=_VARIANTS,
    variants_in={"wgan_resnet": tuple(v for v in _VARIANTS if v != "batch")},
    claims=(
        Claim("WN (weight) has a lower final reconstruction loss than BN (batch) and vanilla", "final_recon",
              ("weight",), ("batch", "vanilla"), "Xiang & Li 2017, Tables 2 and 7",
              paper_effects={
                  "dcgan": "Xiang & Li 2017, Table 7 (CIFAR-10 DCGAN): WN 28.4% lower than BN, 2.8% higher than "
                           "vanilla; Table 2 (CelebA): 13.1% lower than BN, 10.5% lower than vanilla",
                  "resnet": "Xiang & Li 2017, section 5.7 (CelebA ResNet): only the WN ResNet trained; vanilla and "
                            "BN collapsed (no losses given)"}),
        Claim("GroupNorm in D (best group count) gives a lower final reconstruction loss than LayerNorm",
              "final_recon", _GROUPS, ("d_layer",), "Wu, Cheng & Guo, Figure 2", best_of_lower=True,
              paper_effects={"wgan_resnet": "Wu, Cheng & Guo, Figure 2 (CIFAR-10 WGAN-GP critic): Inception score "
                                            "GN 3.841 vs LN 3.632 (5.8% higher, best group count)"}),
        Claim("spectral normalization in D (d_spectral) gives a lower final reconstruction loss than none (d_none)",
              "final_recon", ("d_spectral",), ("d_none",), "Miyato et al. 2018; Kurach et al. 2019",
              paper_effects={"dcgan": "Kurach et al. 2019 (CIFAR-10 SNDCGAN): best FID 25.27 with spectral "
                                      "normalization vs 28.66 without (11.8% lower)",
                             "resnet": "Kurach et al. 2019 (LSUN bedroom ResNet19): best FID 41.6 vs 102.74 "
                                       "(59.5% lower)"}),
    ),
    tables=(RECONSTRUCTION,),
    figures=("running_loss",),
)
