"""Xiang & Li 2017, "On the effects of batch and weight normalization in generative adversarial
networks" (arXiv:1704.03971): vanilla vs BN vs WN in the DCGAN (sections
5.1-5.5, Appendix D.2's affine WN and WN + mean-only BN) and in the 21-layer ResNet (sections
5.6-5.7), compared by the reconstruction loss. Every number is copied from the paper's tables.
"""

from __future__ import annotations

import math

from gannorm.studies import Claim, Published, Setting, Study

CAVEAT = ("The authors' repository notes a bug in their weight-norm gradient, so their exact numbers may "
          "not reproduce.")

CELEBA = Setting("celeba", "CelebA 160 px, up to 700k iterations", 160, 150_000)
CIFAR = Setting("cifar10", "CIFAR-10 32 px, 500k iterations", 32, 500_000)
LSUN = Setting("lsun", "LSUN bedroom 256 px, up to 600k iterations", 256, 330_000)
CELEBA_RESNET = Setting("celeba", "CelebA 160 px, ResNet-21, up to 300k iterations", 160, 70_000)


def _row(label: str, iteration: int, running: float, final: float, converged_running: float = math.nan,
         converged_final: float = math.nan) -> dict:
    """A published row: the optimal model (iteration, running loss, final loss) and, where the paper
    evaluates it, the "converged" model (Tables 6-7: running and final loss at 700k / 500k)."""
    return {"label": label, "best_iteration": iteration, "running_recon": running, "final_recon": final,
            "running_recon_converged": converged_running, "final_recon_converged": converged_final}


TABLE2 = Published(
    "Xiang & Li 2017, Table 2 (Tables 5-6 for affine WN and WN + mean-only BN)", CELEBA,
    {"vanilla": _row("vanilla", 30_500, 0.014509, 0.006171),
     "batch": _row("BN", 30_500, 0.017199, 0.006355),
     "weight": _row("WN", 463_000, 0.013010, 0.005524),
     # Table 6: optimal (51,000) and converged (700,000) affine-WN model
     "weight_affine": _row("affine-WN", 51_000, 0.014034, 0.005941, 0.020478, 0.005939),
     # Table 5: no final loss given
     "weight_meanbn": _row("WN+mean-BN", 19_500, 0.016639, math.nan)},
    note="Vanilla and BN were trained for 150,000 iterations, WN and affine WN for 700,000. " + CAVEAT)
TABLE7 = Published(
    "Xiang & Li 2017, Table 7", CIFAR,
    {"vanilla": _row("vanilla", 387_000, 0.010382, 0.003413, 0.010948, 0.003414),
     "batch": _row("BN", 1_000, 0.017987, 0.004904, 0.019287, 0.005421),
     "weight": _row("WN", 50_000, 0.010906, 0.003509, 0.014195, 0.003269)},
    note="Converged is their model at iteration 500,000. " + CAVEAT)
TABLE8 = Published(
    "Xiang & Li 2017, Table 8", LSUN,
    {"batch": _row("BN", 125_000, 0.020943, 0.011051),
     "weight": _row("WN", 478_000, 0.016266, 0.008546)},
    note="Their vanilla model failed to train on LSUN even at a 10 times lower learning rate; BN collapsed at "
         "iteration 330,800. " + CAVEAT)
RESNET = Published(
    "Xiang & Li 2017, section 5.7", CELEBA_RESNET,
    {"weight": _row("WN", 195_000, 0.016906, math.nan)},
    note="Their vanilla and BN ResNets never generated more than a handful of different samples in 70,000 "
         "iterations; no losses are given for them. " + CAVEAT)

_VARIANTS = ("vanilla", "batch", "weight", "weight_affine", "weight_meanbn")
_SRC = "Xiang & Li 2017"

XIANG_LI = Study(
    paper="xiang_li",
    title="Batch vs weight normalization in DCGANs (Xiang & Li 2017)",
    citation=_SRC,
    architecture="dcgan",
    variants=_VARIANTS,
    claims=(
        Claim("WN (weight) has a lower final reconstruction loss than every other variant", "final_recon",
              ("weight",), tuple(v for v in _VARIANTS if v != "weight"), f"{_SRC}, Tables 2, 6-8"),
        Claim("BN (batch) has a higher final reconstruction loss than vanilla", "final_recon", ("vanilla",),
              ("batch",), f"{_SRC}, Tables 2 and 7"),
        Claim("strict WN (weight) has a lower final reconstruction loss than affine WN (weight_affine)",
              "final_recon", ("weight",), ("weight_affine",), f"{_SRC}, Table 6"),
        Claim("WN with mean-only BN (weight_meanbn) has a higher best running reconstruction loss than vanilla",
              "running_recon", ("vanilla",), ("weight_meanbn",), f"{_SRC}, Table 5"),
    ),
    published=(TABLE2, TABLE7, TABLE8),
    figures=("running_loss", "samples", "reconstructions", "sample_evolution", "sample_evolution_early",
             "weight_vs_affine", "collapse"),
)

XIANG_LI_RESNET = Study(
    paper="xiang_li_resnet",
    title="Batch vs weight normalization in a residual GAN (Xiang & Li 2017, section 5.6)",
    citation=_SRC,
    architecture="resnet",
    variants=("vanilla", "batch", "weight"),
    claims=(
        Claim("WN (weight) has a lower final reconstruction loss than vanilla and BN", "final_recon", ("weight",),
              ("vanilla", "batch"), f"{_SRC}, section 5.7",
              paper_effect="only the WN ResNet trained; vanilla and BN collapsed (no losses given)"),
    ),
    published=(RESNET,),
    figures=("running_loss", "samples", "reconstructions", "sample_evolution", "collapse"),
)
