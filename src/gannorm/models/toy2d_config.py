"""Defaults and variants of the ``toy2d`` architecture (Johannsmeier 2022, "Batch Normalization
in GANs: Blind Spots and Unintuitive Behavior"), torch-free so that checking a config needs no
torch. The networks are in :mod:`gannorm.models.toy2d` (its docstring has the variant table with
the post's words), the training loop in :mod:`gannorm.train.toy2d`; both re-export from here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from gannorm.models.config_fields import ArchitectureConfig, model_default, train_default
from gannorm.models.variant import Variant as Preset
from gannorm.models.variant import register as register_presets

_KERAS = "the post's Keras defaults: "
_PROJECT = "project choice: "


@dataclass(frozen=True)
class Variant:
    """How one variant normalises and batches.

    Attributes:
        name: the variant's name.
        d_bn: BN in D: ``"none"``, ``"all"`` (both hidden layers), ``"first"`` (first only),
            ``"later"`` (second only).
        d_batch: D step: ``"split"`` (fake and real through D separately) or ``"joint"``.
        g_batch: G step: ``"fake"`` (only the generated batch through D) or ``"joint"`` ([fake; real]).
        g_d_mode: D's mode in the G step: ``"train"`` (batch statistics) or ``"eval"`` (running).
        shift_incentive: G's loss gets ``-train.shift_incentive * mean(fake[:, 0])``.
        moment_match: generated batches are moment-matched to the data (:class:`gannorm.models.toy2d.MomentMatch`).
        post: the post's words for it.
    """

    name: str
    d_bn: str
    d_batch: str
    g_batch: str
    g_d_mode: str
    shift_incentive: bool
    moment_match: bool
    post: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_SPECS = (
    Variant("no_bn", "none", "split", "fake", "train", False, False,
            "no BN: the generated samples match the data quite well"),
    Variant("no_bn_shift", "none", "split", "fake", "train", True, False,
            "no BN + shift incentive: no shift has occurred"),
    Variant("split", "all", "split", "fake", "train", False, False,
            "BN in D, split real/fake batches: the entire distribution is slightly shifted"),
    Variant("split_shift", "all", "split", "fake", "train", True, False,
            "BN in D, split batches + shift incentive: the shift is very obvious, D loss still ln(2)"),
    Variant("joint", "all", "joint", "fake", "train", False, False,
            "joint batches to train D: G loss 6.62 and D loss 0.17, both 'winning'"),
    Variant("eval_g", "all", "split", "fake", "eval", False, False,
            "D with training=False in the G step: G loss 4.23 and D loss 0.007"),
    Variant("joint_eval_g", "all", "joint", "fake", "eval", False, False,
            "joint batches for D + training=False in the G step: the fix"),
    Variant("joint_eval_g_shift", "all", "joint", "fake", "eval", True, False,
            "the fix + shift incentive: 'immune' to affine-linear shifts"),
    Variant("joint_both", "all", "joint", "joint", "train", False, False,
            "joint batches for both the D and the G step, training=True"),
    Variant("first_layer_mm", "first", "split", "fake", "train", False, True,
            "BN only in D's first layer, generated samples moment-matched to the data: works"),
    Variant("all_layers_mm", "all", "split", "fake", "train", False, True,
            "BN in every D layer with moment matching: later BN layers still normalise differences away"),
    Variant("later_bn_shift", "later", "split", "fake", "train", True, False,
            "no BN in D's first layer (DCGAN), split batches + shift incentive"),
)

#: Every variant's description, by name.
VARIANT_SPECS: dict[str, Variant] = {v.name: v for v in _SPECS}
#: The variant names (config ``studies.<s>.variants``).
VARIANTS: tuple[str, ...] = tuple(VARIANT_SPECS)
#: The batching schemes a variant record's ``batching`` field names (each of the post's experiments
#: fixes D's batch normalization together with how batches pass through D, so a scheme is both).
BATCHING: dict[str, Variant] = VARIANT_SPECS

# Each scheme is also a named variant preset (``variants: [no_bn, split, ...]``).
register_presets(*(Preset(v.name, batching=v.name, description=v.post) for v in _SPECS))


def variant_spec(name: str) -> Variant:
    """The :class:`Variant` called ``name``.

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    try:
        return VARIANT_SPECS[name]
    except KeyError:
        raise ValueError(f"unknown toy2d variant {name!r}; known: {', '.join(VARIANTS)}") from None


@dataclass(frozen=True)
class Toy2DConfig(ArchitectureConfig):
    """Defaults of the 2-D toy GAN (:func:`gannorm.models.toy2d.build`) and of its training loop
    (:func:`gannorm.train.toy2d.train_toy2d`, whose ``train`` dict lists the ``train`` keys in
    this order, then any other keys of the study).

    ``model`` keys: ``hidden`` (units of both hidden dense layers of G and D), ``latent`` (noise
    dimension); ``leaky_slope``, ``bn_momentum`` (PyTorch's convention: 1 - Keras' momentum) and
    ``bn_eps`` are fixed in a study (the schema has no such keys). ``train`` keys: the loop's
    length, Adam, the shift incentive's weight and the logging cadence; ``adam_eps`` is fixed in
    a study too. The batch is always the full training population.
    """

    architecture: ClassVar[str] = "toy2d"
    variants: ClassVar[tuple[str, ...]] = VARIANTS

    hidden: int = model_default(64, "Johannsmeier 2022, 'Setting The Stage' (Dense(64))")
    latent: int = model_default(2, "Johannsmeier 2022, 'Setting The Stage' (z ~ N(0, I2))")
    leaky_slope: float = model_default(0.01, "Johannsmeier 2022, 'Setting The Stage' (LeakyReLU(0.01))",
                                       settable=False)
    bn_momentum: float = model_default(0.01, _KERAS + "BatchNormalization momentum 0.99", settable=False)
    bn_eps: float = model_default(1e-3, _KERAS + "BatchNormalization epsilon 1e-3", settable=False)
    iterations: int = train_default(2000, "Johannsmeier 2022 (2,000 training steps)", study_default=150000)
    lr: float = train_default(1e-3, _KERAS + "Adam learning rate (the post says only 'Adam')", study_default=1e-4)
    adam_betas: tuple[float, float] = train_default((0.9, 0.999), _KERAS + "Adam betas")
    adam_eps: float = train_default(1e-7, _KERAS + "Adam epsilon", settable=False)
    optimizer: str = train_default("adam", "Johannsmeier 2022 (Adam)")
    shift_incentive: float = train_default(0.005, "Johannsmeier 2022 (G loss -= 0.005 * mean(fake[:, 0]))")
    log_every: int = train_default(10, _PROJECT + "iterations per metrics.csv row", study_default=100)
    eval_images: int = train_default(1024, _PROJECT + "points of the running energy distance", study_default=200)
    sample_every: int = train_default(500, _PROJECT + "iterations between scatter plots", study_default=5000)
    samples: int = train_default(1024, _PROJECT + "generated points per scatter plot", study_default=64)
