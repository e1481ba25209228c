"""Mullery & Whelan 2018, "Batch Normalization in the final layer of generative networks"
(arXiv:1805.07389): the output heads tanh, BN + tanh and BN initialised
to the data's statistics + clipping, in the iWGAN (WGAN-GP; Figure 3, section 6) and in Johnson
et al.'s 4x super-resolution network (Figure 2, section 6). The paper gives iterations read off
its curves, not tables of numbers.
"""

from __future__ import annotations

from gannorm.studies import RECONSTRUCTION, Claim, Published, Setting, Study, Table

_SRC = "Mullery & Whelan"
HEADS = ("tanh", "bn_tanh", "bn_clip")
FROGS = Setting("cifar10", "CIFAR-10 frogs (class 6, 5,000 images) at 32 px, about 1,500 generator iterations",
                32, 1_500, (6,))
IMAGENET = Setting("imagenet", "an ImageNet subset of 19,439 images at 288 px from 72 px inputs, about 1,000 "
                   "iterations shown", 288, 1_000)

#: Section 6: where the steep change of the critic loss begins (generator iterations).
STEEP_DROP = Published(
    f"{_SRC}, Figure 3 and section 6", FROGS,
    {"tanh": {"label": "tanh", "steep_drop": "900-1,500"},
     "bn_tanh": {"label": "BN + tanh", "steep_drop": 500},
     "bn_clip": {"label": "BN + clip", "steep_drop": "only a minimal change"}},
    note="Read off their Figure 3 as the iteration where the steep change begins; no other numbers are given.")

MULLERY_IWGAN = Study(
    paper="mullery_iwgan",
    title="Batch normalization in the generator's final layer: iWGAN (Mullery & Whelan)",
    citation=_SRC,
    architecture="iwgan",
    variants=HEADS,
    claims=(
        Claim("bn_tanh reaches the steep drop of the critic loss earlier than tanh", "steep_drop", ("bn_tanh",),
              ("tanh",), f"{_SRC}, Figure 3 and section 6",
              paper_effect="about 500 vs 900-1,500 generator iterations"),
        Claim("bn_clip reaches the steep drop of the critic loss earlier than tanh", "steep_drop", ("bn_clip",),
              ("tanh",), f"{_SRC}, Figure 3 and section 6",
              paper_effect="only a minimal change in the critic loss with BN + clip"),
        Claim("the BN heads' critic loss has a lower peak magnitude than tanh's", "critic_peak",
              ("bn_tanh", "bn_clip"), ("tanh",), f"{_SRC}, section 6",
              paper_effect="with BN the Wasserstein distance never reaches the magnitudes of tanh alone"),
        Claim("the BN heads' pixel histograms are closer to the data's (lower W1) than tanh's at the earliest "
              "snapshot", "early_w1", ("bn_tanh", "bn_clip"), ("tanh",), f"{_SRC}, Figure 3",
              paper_effect="BN + clip histograms well behaved from very early in training"),
    ),
    published=(STEEP_DROP,),
    tables=(RECONSTRUCTION, Table("steep_drop", ("critic_peak", "steep_drop")), Table("w1", snapshots=True)),
    figures=("running_loss", "critic_loss", "histograms", "w1", "samples", "reconstructions", "heads"),
)

MULLERY_SR = Study(
    paper="mullery_sr",
    title="Batch normalization in the final layer: 4x super-resolution (Mullery & Whelan)",
    citation=_SRC,
    architecture="sr",
    variants=HEADS,
    claims=(
        Claim("the BN heads have a lower training perceptual loss than tanh early in training",
              "early_perceptual", ("bn_tanh", "bn_clip"), ("tanh",), f"{_SRC}, Figure 2 and section 6",
              paper_effect="the BN heads outperform tanh early in training (curves only)"),
        Claim("bn_clip has a lower final test perceptual loss than bn_tanh", "final_perceptual", ("bn_clip",),
              ("bn_tanh",), f"{_SRC}, section 6", paper_effect="a very slight improvement (no numbers)"),
        Claim("the BN heads' monitor outputs have pixel histograms closer to the data's (lower W1) than tanh's "
              "at the earliest snapshot", "early_w1", ("bn_tanh", "bn_clip"), ("tanh",), f"{_SRC}, Figure 2"),
    ),
    published=(Published(f"{_SRC}, Figure 2", IMAGENET, {}),),
    tables=(Table("results", ("running_best", "final_perceptual", "final_perceptual_last", "final_w1", "final_mse")),
            Table("w1", snapshots=True)),
    figures=("perceptual_loss", "monitor", "w1", "outputs", "heads"),
    main_quantity="final_perceptual",
)
