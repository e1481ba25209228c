"""What the source papers ask and report, for the report's sections (``../shared/seeds/``).

* :data:`QUESTIONS` - per architecture, one paragraph (LaTeX) stating the paper's question.
* :data:`PUBLISHED_TABLES` - Xiang & Li's reconstruction-loss numbers (Tables 2 and 5-8, section
  5.7), keyed by source name (:data:`PUBLISHED_SOURCES`); :func:`default_published` picks the one
  matching a study's architecture and dataset.
* :data:`PUBLISHED_CLAIMS` - per architecture, the paper's published claim and numbers (LaTeX),
  with the paper's own setting (:data:`PAPER_SETTINGS`) so the report can say whether it is
  another dataset or scale (:func:`setting_relation`).
* :data:`MULLERY_STEEP_DROP` - Mullery & Whelan's steep-drop iterations per output head.

Every number here is copied from the paper text; nothing is estimated from figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

#: Xiang & Li 2017, Table 2 (CelebA): variant -> (paper label, optimal iteration, running loss, final loss).
PUBLISHED_XIANG_LI_TABLE2: dict[str, tuple[str, int, float, float]] = {
    "vanilla": ("vanilla", 30_500, 0.014509, 0.006171),
    "batch": ("BN", 30_500, 0.017199, 0.006355),
    "weight": ("WN", 463_000, 0.013010, 0.005524),
}


@dataclass(frozen=True)
class Setting:
    """A paper's experimental setting: dataset source (``store.json`` ``source.name``), image side
    (px), generator iterations, and optionally the classes kept (CIFAR-10 subsets)."""

    dataset: str
    label: str
    size: int | None
    iterations: int | None
    classes: tuple[int, ...] | None = None


@dataclass(frozen=True)
class PublishedRow:
    """One published row: the paper's model name and Xiang & Li's numbers (NaN = not given)."""

    paper_label: str
    best_iteration: float
    running_loss: float
    final_loss_best: float
    final_loss_last: float = math.nan


@dataclass(frozen=True)
class PublishedTable:
    """Published reconstruction losses set beside a study's table."""

    name: str
    label: str
    setting: Setting
    rows: dict[str, PublishedRow]
    note: str = ""
    caveat: str = ("The authors' repository notes a bug in their weight-norm gradient, so their exact numbers "
                   "may not reproduce.")


_CELEBA = Setting("celeba", "CelebA 160 px, up to 700k iterations", 160, 150_000)
_CIFAR = Setting("cifar10", "CIFAR-10 32 px, 500k iterations", 32, 500_000)
_LSUN = Setting("lsun", "LSUN bedroom 256 px, up to 600k iterations", 256, 330_000)
_CELEBA_RESNET = Setting("celeba", "CelebA 160 px, ResNet-21, up to 300k iterations", 160, 70_000)

PUBLISHED_TABLES: dict[str, PublishedTable] = {
    "xiang_li_table2": PublishedTable(
        "xiang_li_table2", "Xiang & Li 2017, Table 2; Tables 5-6 for affine WN and WN + mean-only BN", _CELEBA,
        {"vanilla": PublishedRow("vanilla", 30_500, 0.014509, 0.006171),
         "batch": PublishedRow("BN", 30_500, 0.017199, 0.006355),
         "weight": PublishedRow("WN", 463_000, 0.013010, 0.005524),
         # Table 6: optimal (51,000) and converged (700,000) affine-WN model
         "weight_affine": PublishedRow("affine-WN", 51_000, 0.014034, 0.005941, 0.005939),
         # Table 5: no final loss given
         "weight_meanbn": PublishedRow("WN+mean-BN", 19_500, 0.016639, math.nan)},
        note="Vanilla and BN were trained for 150,000 iterations, WN and affine WN for 700,000."),
    "xiang_li_table7": PublishedTable(
        "xiang_li_table7", "Xiang & Li 2017, Table 7", _CIFAR,
        {"vanilla": PublishedRow("vanilla", 387_000, 0.010382, 0.003413, 0.003414),
         "batch": PublishedRow("BN", 1_000, 0.017987, 0.004904, 0.005421),
         "weight": PublishedRow("WN", 50_000, 0.010906, 0.003509, 0.003269)},
        note="Final loss (last) is their model at iteration 500,000."),
    "xiang_li_table8": PublishedTable(
        "xiang_li_table8", "Xiang & Li 2017, Table 8", _LSUN,
        {"batch": PublishedRow("BN", 125_000, 0.020943, 0.011051),
         "weight": PublishedRow("WN", 478_000, 0.016266, 0.008546)},
        note="Their vanilla model failed to train on LSUN even at a 10 times lower learning rate; "
             "BN collapsed at iteration 330,800."),
    "xiang_li_resnet": PublishedTable(
        "xiang_li_resnet", "Xiang & Li 2017, section 5.7", _CELEBA_RESNET,
        {"weight": PublishedRow("WN", 195_000, 0.016906, math.nan)},
        note="Their vanilla and BN ResNets never generated more than a handful of different samples in "
             "70,000 iterations; no losses are given for them."),
}

#: Names accepted as ``published`` (``"none"`` for no published rows).
PUBLISHED_SOURCES = (*PUBLISHED_TABLES, "none")

#: Label of Table 2 (kept for callers of the first report stage).
PUBLISHED_LABEL = "Xiang & Li 2017, Table 2 (CelebA 160 px, up to 700k iterations; another dataset and scale)"

#: Mullery & Whelan, section 6 (iWGAN on CIFAR-10 frogs): where the steep drop of the critic loss
#: begins, per output head, as text; and the iterations as numbers (low, high; NaN = not given).
MULLERY_STEEP_DROP: dict[str, tuple[str, float, float]] = {
    "tanh": ("900--1,500", 900, 1_500),
    "bn_tanh": ("about 500", 500, 500),
    "bn_clip": ("only a minimal change", math.nan, math.nan),
}

#: The papers' own settings, per architecture (for :func:`setting_relation`).
PAPER_SETTINGS: dict[str, Setting] = {
    "dcgan": _CELEBA,
    "resnet": _CELEBA_RESNET,
    "mlp": Setting("mnist", "flattened 28 px MNIST-sized images (no training run reported)", 28, None),
    "iwgan": Setting("cifar10", "CIFAR-10 frogs (class 6, 5,000 images) at 32 px, about 1,500 generator iterations",
                     32, 1_500, (6,)),
    "sr": Setting("imagenet", "an ImageNet subset of 19,439 images at 288 px from 72 px inputs, about 1,000 "
                  "iterations shown", 288, 1_000),
    "wgan_resnet": Setting("cifar10", "CIFAR-10 32 px, 10,000 steps (ResNet)", 32, 10_000),
    "toy2d": Setting("toy2d", "a 2-D toy distribution, 2,000 steps on the full population of 2,048 samples",
                     None, 2_000),
}

QUESTIONS: dict[str, str] = {
    "dcgan": (
        "\\paragraph{Question (Xiang \\& Li 2017).} Does batch normalization (BN) help GAN training, and is "
        "weight normalization (WN) a better choice? Xiang and Li observe that BN accelerates training early "
        "on but can make a DCGAN unstable and lower the quality of the trained model. They propose a "
        "weight-normalized DCGAN (strict weight-normalized layers without scale or bias, translated PReLU, "
        "affine weight-normalized last layers) and, to compare models objectively, the reconstruction loss: "
        "the squared error between a held-out image and the closest image the generator can produce, found "
        "by gradient descent on the latent code. On CelebA, CIFAR-10 and LSUN bedroom they find WN generally "
        "superior to BN, with about 10\\% lower reconstruction loss; they also test affine WN and WN with "
        "mean-only BN (their Appendix D.2)."),
    "resnet": (
        "\\paragraph{Question (Xiang \\& Li 2017, sections 5.6--5.7).} Does weight normalization also "
        "stabilise a much deeper generator? Direct image generation from noise with residual networks had "
        "not been particularly successful; Xiang and Li train a 21-layer ResNet GAN on CelebA with no "
        "normalization, with BN and with their WN (including a weight-normalized addition of the two "
        "branches) and report that only the WN model trains stably."),
    "mlp": (
        "\\paragraph{Question (the tutorial).} The conventional wisdom, as a popular PyTorch tutorial puts "
        "it, is that batch normalization ``is essential for the effective training of GANs'': placed after "
        "each hidden linear layer of the generator and the discriminator it stabilises training, speeds up "
        "convergence and reduces mode collapse. The tutorial asserts this without measuring it; this study "
        "puts the claim to the test on the textbook MLP GAN with and without BN."),
    "iwgan": (
        "\\paragraph{Question (Mullery \\& Whelan).} Should the generator's final layer use batch "
        "normalization? The DCGAN heuristic leaves BN out of it. Mullery and Whelan argue that a tanh output "
        "saturates until the generator has learned the mean and spread of the data's colour values, and "
        "that BN before the tanh (\\texttt{bn\\_tanh}), or BN initialised to the data's per-channel mean and "
        "standard deviation followed by clipping (\\texttt{bn\\_clip}), lets the generator match them at "
        "once. With the iWGAN (WGAN-GP) on CIFAR-10 frogs they read how fast training converges off the "
        "critic loss (the negative Wasserstein estimate) and the pixel histograms of the samples."),
    "sr": (
        "\\paragraph{Question (Mullery \\& Whelan).} Does BN in the final layer also speed up an "
        "image-in, image-out generator? Mullery and Whelan train Johnson et al.'s 4$\\times$ "
        "super-resolution network with a VGG16 perceptual loss and compare the output heads tanh, BN + tanh "
        "and BN initialised to the data's statistics + clipping by the perceptual loss during training and "
        "by the output and pixel histogram of an out-of-set monitor image."),
    "wgan_resnet": (
        "\\paragraph{Question (Wu, Cheng \\& Guo).} Batch normalization does not fit the WGAN-GP critic: the "
        "gradient penalty is taken per example, and BN couples the examples of a batch, so Gulrajani et al. "
        "recommend layer normalization (LN). Group normalization (GN) normalizes groups of channels per "
        "example and beats BN and LN in several vision tasks. Wu, Cheng and Guo ask whether GN in the "
        "critic of the WGAN-GP ResNet improves the generator, and with how many groups (4 to 64 of 128 "
        "channels)."),
    "toy2d": (
        "\\paragraph{Question (Johannsmeier 2022).} Why does batch normalization in the discriminator make "
        "GANs behave strangely? On a 2-D toy problem Johannsmeier shows that when real and generated samples "
        "pass through a BN discriminator in separate batches, each batch is normalized with its own "
        "statistics, so the discriminator cannot see an affine shift of the generated distribution; joint "
        "batches, the discriminator in inference mode during the generator step, or no BN in its first "
        "layer are the candidate fixes."),
}

PUBLISHED_CLAIMS: dict[str, str] = {
    "dcgan": (
        "Xiang \\& Li report (CelebA, Table~2) that WN reaches about 10.5\\% lower final reconstruction loss "
        "than the vanilla model and BN about 3\\% higher; on CIFAR-10 (Table~7) BN is again the worst and on "
        "LSUN bedroom (Table~8) the vanilla model failed to train and WN beat BN. Affine WN is about 7.5\\% "
        "worse than WN (Table~6) and WN with mean-only BN reconstructs worse than the vanilla model "
        "(Table~5). Their three vanilla runs reached running losses 0.014509--0.014734 and their three BN "
        "runs 0.017199--0.018810 (Tables~3--4)."),
    "resnet": (
        "Xiang \\& Li report (section 5.7) that their vanilla and BN ResNets never generated more than a "
        "handful of different samples in 70,000 iterations, while the WN ResNet trained to 300,000 "
        "iterations without major issues (best running reconstruction loss 0.016906 at iteration 195,000)."),
    "mlp": (
        "The tutorial claims that BN stabilises GAN training, speeds up convergence and reduces mode "
        "collapse (``BN helps''); it gives no measurements."),
    "iwgan": (
        "Mullery \\& Whelan (Figure~3, section~6) see a steep change in the critic loss for every head: "
        "for tanh alone it occurs between 900 and 1,500 generator iterations; with BN before the tanh it "
        "begins at about 500 iterations and the Wasserstein distance never reaches the magnitudes of tanh "
        "alone; with BN + clipping they see only a minimal change and histograms that are well behaved "
        "from very early in training. They give no numbers beyond these iterations."),
    "sr": (
        "Mullery \\& Whelan (Figure~2, section~6) report that the BN heads outperform tanh alone early in "
        "training, that tanh eventually converges with the others, and that BN + clipping shows a very "
        "slight improvement over BN + tanh. They plot the perceptual loss without giving numbers."),
    "wgan_resnet": (
        "Wu, Cheng \\& Guo report Inception scores on CIFAR-10 (their Figure~2): ResNet critic with LN "
        "3.632, with GN 3.841 (at their best number of groups, which they do not state; 10,000 steps); a "
        "simple two-layer CNN critic 3.261 without and 3.324 with GN (more than 200,000 steps). They give "
        "no score per group count and no other metric. Our metric is the reconstruction loss, not the "
        "Inception score, so only the direction can be compared."),
    "toy2d": (
        "Johannsmeier reports that with split real/generated batches a BN discriminator is blind to an "
        "affine shift of the generated distribution: with a small incentive to shift, the generator moves "
        "its samples while the discriminator's loss stays at $\\ln 2$; without BN, or with joint batches "
        "and the discriminator in inference mode during the generator step, no shift occurs."),
}

def store_setting(store_meta: Mapping[str, Any] | None, iterations: int | None) -> Setting | None:
    """Our setting from a store sidecar (``store.json``) and the configured iterations; None if unknown."""
    if not store_meta:
        return None
    source = store_meta.get("source")
    name = source.get("name") if isinstance(source, Mapping) else source
    shape = list(store_meta.get("shape") or [])
    size = int(shape[-1]) if len(shape) == 4 else None
    classes = store_meta.get("classes")
    return Setting(str(name or store_meta.get("dataset") or "unknown"), str(name), size,
                   int(iterations) if iterations else None,
                   tuple(int(c) for c in classes) if classes else None)


def setting_relation(paper: Setting, ours: Setting | None) -> str:
    """``"another dataset and scale"``, ``"another dataset"``, ``"the same dataset at another scale"``
    or ``"the same dataset and scale"``, comparing a paper's setting with ours.

    Same dataset: the same source (and, when the paper keeps some classes, the same classes). Same
    scale: the same image side and at least the paper's iterations (each where the paper gives it).
    Unknown settings (``ours`` None) count as different.
    """
    if ours is None:
        return "another dataset and scale"
    same_data = ours.dataset == paper.dataset and (paper.classes is None or ours.classes == paper.classes)
    same_scale = ((paper.size is None or ours.size == paper.size)
                  and (paper.iterations is None or (ours.iterations or 0) >= paper.iterations))
    if same_data:
        return "the same dataset and scale" if same_scale else "the same dataset at another scale"
    return "another dataset" if same_scale else "another dataset and scale"


def published_label(table: PublishedTable, ours: Setting | None) -> str:
    """Plain-text label of a published table: source, its setting and how it relates to ours."""
    return f"{table.label} ({table.setting.label}; {setting_relation(table.setting, ours)})"


def default_published(study_spec: Mapping[str, Any], source: str | None = None) -> str:
    """Which published reconstruction losses to set beside a study (a :data:`PUBLISHED_SOURCES` name).

    ``studies.<s>.report.published`` wins when set to a source name (``"auto"`` = the default).
    Otherwise: dcgan -> the table of the matching dataset (``cifar10`` -> Table 7, ``lsun`` -> Table 8,
    anything else -> Table 2, CelebA); resnet -> section 5.7; every other architecture -> ``"none"``
    (their papers do not measure the reconstruction loss; their claims appear in the summary).

    Args:
        study_spec: the study's config.
        source: the dataset's source name (``datasets.<d>.source``), if known.

    Raises:
        ValueError: ``report.published`` is not a known source.
    """
    report = study_spec.get("report") or {}
    choice = report.get("published", study_spec.get("published", "auto"))
    if choice not in (*PUBLISHED_SOURCES, "auto"):
        raise ValueError(f"unknown published source {choice!r}; choose from {('auto', *PUBLISHED_SOURCES)}")
    if choice != "auto":
        return choice
    architecture = study_spec.get("architecture") or "dcgan"
    if architecture == "dcgan":
        return {"cifar10": "xiang_li_table7", "lsun": "xiang_li_table8"}.get(source or "", "xiang_li_table2")
    if architecture == "resnet":
        return "xiang_li_resnet"
    return "none"
