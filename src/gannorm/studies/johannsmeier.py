"""Johannsmeier 2022, "Batch Normalization in GANs: Blind Spots and Unintuitive Behavior" (blog
post, July 2022): a 2-D toy GAN trained on the full population, with
every way of batching real and generated samples through a BN discriminator. The post shows
scatter plots; its claim is a direction (the generated mean moves with split batches, not without
BN or with the fix), which the mean shift measures.
"""

from __future__ import annotations

from gannorm.studies import Claim, Published, Setting, Study, Table

_SRC = "Johannsmeier 2022"

JOHANNSMEIER = Study(
    paper="johannsmeier",
    title="Batch normalization's blind spots in the discriminator (Johannsmeier 2022)",
    citation=_SRC,
    architecture="toy2d",
    variants=("no_bn", "no_bn_shift", "split", "split_shift", "joint", "eval_g", "joint_eval_g",
              "joint_eval_g_shift", "joint_both", "first_layer_mm", "all_layers_mm", "later_bn_shift"),
    claims=(
        Claim("with the shift incentive, no BN shifts the generated mean less than split-batch BN (split-batch BN "
              "is blind to the shift)", "mean_shift", ("no_bn_shift",), ("split_shift",),
              f"{_SRC}, the shift experiment", paper_effect="the generator drifts with split batches, not without BN"),
        Claim("the fix (joint batches + eval-mode G step) shifts the generated mean less than split-batch BN",
              "mean_shift", ("joint_eval_g_shift",), ("split_shift",), f"{_SRC}, the fix",
              paper_effect="no shift with joint batches and D in inference mode during the G step"),
    ),
    published=(Published(_SRC, Setting("toy2d", "a 2-D toy distribution, 2,000 steps on the full population of "
                                                "2,048 samples", None, 2_000), {}),),
    tables=(Table("results", ("d_loss", "g_loss", "d_ln2_gap", "mean_shift", "energy")),),
    figures=("scatter",),
    main_quantity="mean_shift",
)
