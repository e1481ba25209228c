"""The VGG16 perceptual loss of the super-resolution study (Mullery & Whelan, appendix A; Johnson,
Alahi & Fei-Fei 2016, section 3.1 "feature reconstruction loss").

Loss network: torchvision's VGG16 ``features`` (configuration D), truncated after the deepest
requested layer, frozen and in eval mode. Mullery & Whelan weight the layers conv1_1, conv2_1 and
conv3_1 by 0.1, 0.8 and 0.1.

Facts and choices:

* Feature = the layer's output *after its ReLU* (relu1_1, relu2_1, relu3_1). Mullery & Whelan
  used Keras, whose VGG16 layers ``block{k}_conv1`` include the ReLU activation; Johnson et al.
  also take ReLU outputs (relu2_2 for super-resolution).
* Normalisation (Johnson's eq. 2): per layer, the squared Euclidean distance of the two feature
  maps divided by ``C_l * H_l * W_l``, i.e. the mean squared feature difference; averaged over the
  batch; the layers are summed with their weights::

      loss = sum_l w_l * mean_{b, c, y, x} (phi_l(output)_{b,c,y,x} - phi_l(target)_{b,c,y,x})^2

* Inputs are images in [0, 1], normalised with ImageNet's per-channel mean (0.485, 0.456, 0.406)
  and std (0.229, 0.224, 0.225) as torchvision's VGG16 weights expect. (Keras' VGG16 takes
  0..255 BGR inputs minus the mean pixel, so the magnitude of Mullery & Whelan's loss curve
  differs from this one by a constant factor per layer; compare shapes and timing, not values.)
  Grey images (C = 1) are repeated to three channels.
* Weights: ``vgg_weights="imagenet"`` loads ``VGG16_Weights.IMAGENET1K_V1`` (the file
  ``vgg16-397923af.pth``) from the torch hub cache ``torch.hub.get_dir()/checkpoints/``,
  downloading it when missing; offline, :class:`VGGWeightsUnavailable` names the file, the URL
  and how to place it. ``vgg_weights="random"`` is an explicit option for tests and the demo: an
  untrained VGG16 initialised as torchvision does (Kaiming-normal, fan_out) from ``seed``; it is
  never used as a silent fallback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence
from urllib.parse import urlparse

import torch
import torch.nn as nn

#: torchvision's VGG16 configuration D (conv widths, ``M`` = max pooling).
VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG_WEIGHTS = ("imagenet", "random")
DEFAULT_LAYERS = ("conv1_1", "conv2_1", "conv3_1")
DEFAULT_WEIGHTS = (0.1, 0.8, 0.1)


def _layer_indices() -> dict[str, int]:
    """``{"conv1_1": 1, "conv1_2": 3, "conv2_1": 6, ...}``: the index in ``features`` of each
    convolution's ReLU (the feature is taken after it)."""
    names, block, conv, index = {}, 1, 0, 0
    for item in VGG16_CFG:
        if item == "M":
            block, conv, index = block + 1, 0, index + 1
            continue
        conv += 1
        names[f"conv{block}_{conv}"] = index + 1  # conv at index, its ReLU at index + 1
        index += 2
    return names


LAYER_INDEX = _layer_indices()


def imagenet_weights_url() -> str:
    """torchvision's URL of ``VGG16_Weights.IMAGENET1K_V1``."""
    from torchvision.models import VGG16_Weights

    return VGG16_Weights.IMAGENET1K_V1.url


def imagenet_weights_path() -> Path:
    """Where the ImageNet weights are cached: ``torch.hub.get_dir()/checkpoints/vgg16-397923af.pth``
    (``TORCH_HOME`` moves ``torch.hub.get_dir()``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(imagenet_weights_url()).path).name


class VGGWeightsUnavailable(RuntimeError):
    """The VGG16 ImageNet weights are neither cached nor downloadable (the message says where to put them)."""


def load_imagenet_state_dict() -> dict[str, torch.Tensor]:
    """The full torchvision VGG16 ImageNet state dict, from the hub cache, downloading it when missing.

    Raises:
        VGGWeightsUnavailable (a RuntimeError): the file is missing and the download failed
            (offline), or the cached file is unreadable; the message names the file, the URL and
            the ``model.vgg_weights: random`` option for tests/demo.
    """
    url, path = imagenet_weights_url(), imagenet_weights_path()
    how = (f"On a machine with internet access run\n"
           f"    python -c \"import torchvision; torchvision.models.vgg16(weights='IMAGENET1K_V1')\"\n"
           f"(with the same TORCH_HOME), or download {url} and put it at {path}. "
           f"The config option model.vgg_weights: random (an untrained, seeded VGG16) exists only for "
           f"tests and the demo; it is not the paper's perceptual loss.")
    if not path.is_file():
        hash_prefix = path.stem.rsplit("-", 1)[-1]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(url, os.fspath(path), hash_prefix=hash_prefix, progress=False)
        except Exception as err:  # noqa: BLE001 - offline: URLError, OSError, hash mismatch, ...
            raise VGGWeightsUnavailable(
                f"VGG16 ImageNet weights for the perceptual loss are missing: {path} does not exist and "
                f"downloading {url} failed ({type(err).__name__}: {err}).\n{how}") from err
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises several types for a corrupt file
        raise VGGWeightsUnavailable(f"{path}: unreadable VGG16 weights ({type(err).__name__}: {err}); "
                                    f"delete the file and fetch it again.\n{how}") from err


class VGGPerceptualLoss(nn.Module):
    """Weighted VGG16 feature reconstruction loss between images in [0, 1].

    Args:
        layers: VGG16 layer names ``conv<block>_<k>`` (feature taken after the layer's ReLU);
            default Mullery & Whelan's conv1_1, conv2_1, conv3_1.
        weights: one weight per layer (default 0.1, 0.8, 0.1).
        vgg_weights: ``"imagenet"`` (torchvision's IMAGENET1K_V1; downloaded to the hub cache
            when missing) or ``"random"`` (tests/demo only; seeded).
        seed: seed of the ``random`` initialisation (the global torch RNG is left untouched).

    ``forward(output (B, C, H, W), target (B, C, H, W))`` -> scalar loss (batch mean);
    :meth:`per_image` -> ``(B,)``. C is 3 (RGB) or 1 (repeated to RGB). The target's features
    are computed without gradient; gradients flow to ``output`` only; the VGG parameters are
    frozen and the module stays in eval mode.

    Raises:
        ValueError: unknown layer or ``vgg_weights``, or ``len(weights) != len(layers)``.
        VGGWeightsUnavailable: ``imagenet`` weights missing and not downloadable (offline).
    """

    def __init__(self, layers: Sequence[str] = DEFAULT_LAYERS, weights: Sequence[float] = DEFAULT_WEIGHTS,
                 vgg_weights: str = "imagenet", seed: int = 0) -> None:
        super().__init__()
        from torchvision.models.vgg import make_layers

        layers, weights = tuple(layers), tuple(float(w) for w in weights)
        unknown = [name for name in layers if name not in LAYER_INDEX]
        if unknown or not layers:
            raise ValueError(f"unknown VGG16 layer(s) {unknown or layers}; known: {sorted(LAYER_INDEX)}")
        if len(weights) != len(layers):
            raise ValueError(f"{len(weights)} perceptual weights for {len(layers)} VGG layers {layers}")
        if vgg_weights not in VGG_WEIGHTS:
            raise ValueError(f"model.vgg_weights must be one of {VGG_WEIGHTS}, got {vgg_weights!r}")
        self.layers, self.weights, self.vgg_weights, self.seed = layers, weights, vgg_weights, seed
        self._taps = [LAYER_INDEX[name] for name in layers]
        deepest = max(self._taps)
        # The shortest configuration prefix whose make_layers() output reaches the deepest ReLU
        # (same module indices as torchvision's vgg16().features).
        prefix, length = [], 0
        for item in VGG16_CFG:
            if length > deepest:
                break
            prefix.append(item)
            length += 1 if item == "M" else 2
        with torch.random.fork_rng(devices=[]):  # make_layers' default init must not move the global RNG
            features = make_layers(prefix)
        # torchvision VGG's own initialisation, layer by layer from one seeded generator, so a
        # layer's random weights do not depend on how deep the network is truncated.
        generator = torch.Generator().manual_seed(int(seed))
        for layer in features.modules():
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu", generator=generator)
                nn.init.zeros_(layer.bias)
        for layer in features:
            if isinstance(layer, nn.ReLU):
                layer.inplace = False  # the tapped ReLU outputs must not be overwritten
        if vgg_weights == "imagenet":
            full = load_imagenet_state_dict()
            missing = [f"features.{k}" for k in features.state_dict() if f"features.{k}" not in full]
            if missing:
                raise VGGWeightsUnavailable(f"{imagenet_weights_path()}: not torchvision's VGG16 weights "
                                            f"(missing {missing}); delete the file and fetch it again")
            features.load_state_dict({k: full[f"features.{k}"] for k in features.state_dict()})
        self.features = features
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> "VGGPerceptualLoss":
        """The loss network always stays in eval mode."""
        return super().train(False)

    def extract(self, images01: torch.Tensor) -> list[torch.Tensor]:
        """Features (after ReLU) of the configured layers, in ``layers`` order, for images in [0, 1]."""
        if images01.dim() != 4 or images01.shape[1] not in (1, 3):
            raise ValueError(f"expected images (B, 3 or 1, H, W) in [0, 1], got {tuple(images01.shape)}")
        if images01.shape[1] == 1:
            images01 = images01.expand(-1, 3, -1, -1)
        x = (images01 - self.mean) / self.std
        taps, out = set(self._taps), {}
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in taps:
                out[index] = x
        return [out[i] for i in self._taps]

    def per_image(self, output01: torch.Tensor, target01: torch.Tensor) -> torch.Tensor:
        """Loss of each image pair, ``(B,)`` (Johnson's per-layer ``1/(C H W)`` normalisation)."""
        if output01.shape != target01.shape:
            raise ValueError(f"output {tuple(output01.shape)} and target {tuple(target01.shape)} differ in shape")
        with torch.no_grad():
            target_features = self.extract(target01)
        total = output01.new_zeros(output01.shape[0])
        for weight, a, b in zip(self.weights, self.extract(output01), target_features):
            total = total + weight * (a - b).pow(2).flatten(1).mean(dim=1)
        return total

    def forward(self, output01: torch.Tensor, target01: torch.Tensor) -> torch.Tensor:
        return self.per_image(output01, target01).mean()

    def extra_repr(self) -> str:
        return f"layers={self.layers}, weights={self.weights}, vgg_weights={self.vgg_weights!r}"
