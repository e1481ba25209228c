"""Wu, Cheng & Guo, "Improve Wasserstein GAN with Group Normalization" (a New York University
project report): no normalization, LayerNorm and GroupNorm with 4-64 groups in the critic of
Gulrajani et al.'s ResNet WGAN-GP on CIFAR-10. They report Inception scores (their Figure 2: LN 3.632, GN 3.841 at
an unstated group count, 10,000 steps). Our common yardstick is the reconstruction loss, whose
direction compares; with ``evaluate.inception_weights`` set the runs also get an Inception score
(torch-fidelity, :mod:`gannorm.metrics.fidelity`) and the paper's own claim gets a verdict by it
(not measured without it).
"""

from __future__ import annotations

from gannorm.studies import RECONSTRUCTION, Claim, Published, Setting, Study, Table

_SRC = "Wu, Cheng & Guo, Figure 2 (Inception score)"
GROUPS = ("critic_gn4", "critic_gn8", "critic_gn16", "critic_gn32", "critic_gn64")

WU_CRITIC_NORM = Study(
    paper="wu_critic_norm",
    title="Group vs layer normalization in the WGAN-GP critic (Wu, Cheng & Guo)",
    citation="Wu, Cheng & Guo",
    architecture="wgan_resnet",
    variants=("critic_none", "critic_ln", *GROUPS),
    claims=(
        Claim("GroupNorm in the critic (best group count) gives a higher Inception score than LayerNorm",
              "final_is", ("critic_ln",), GROUPS, _SRC, best_of_higher=True,
              paper_effect="Inception score GN 3.841 vs LN 3.632 (5.8% higher, best group count)"),
        Claim("GroupNorm in the critic (best group count) gives a lower final reconstruction loss than LayerNorm",
              "final_recon", GROUPS, ("critic_ln",), _SRC, best_of_lower=True,
              paper_effect="Inception score GN 3.841 vs LN 3.632 (5.8% higher, best group count)"),
        *(Claim(f"GroupNorm with {g[len('critic_gn'):]} groups gives a lower final reconstruction loss than "
                "LayerNorm", "final_recon", (g,), ("critic_ln",), _SRC) for g in GROUPS),
    ),
    published=(Published(_SRC, Setting("cifar10", "CIFAR-10 32 px, 10,000 steps (ResNet)", 32, 10_000),
                         {"critic_ln": {"final_is": 3.632, "label": "LN"}},
                         note="LN's Inception score as Figure 2 gives it; GN's best (3.841) is at a group "
                              "count the paper does not state. They scored with sbarratt/inception-score-pytorch "
                              "(torchvision's Inception), ours with torch-fidelity's TensorFlow Inception, so the "
                              "values compare in direction, not in size."),),
    tables=(RECONSTRUCTION, Table("steep_drop", ("critic_peak", "steep_drop")), Table("w1", snapshots=True)),
    figures=("running_loss", "critic_loss", "histograms", "w1", "samples", "reconstructions", "ln_vs_gn"),
)
