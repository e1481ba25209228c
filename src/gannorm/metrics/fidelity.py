"""Inception score, FID and KID of a generator against a store's test split, via torch-fidelity.

Sources: the Inception score (IS) of Salimans et al. 2016, "Improved techniques for training GANs";
the Fréchet Inception distance (FID) of Heusel et al. 2017, "GANs trained by a two time-scale update
rule converge to a local Nash equilibrium"; the kernel Inception distance (KID) of Binkowski et al.
2018, "Demystifying MMD GANs". The features and the metric arithmetic are torch-fidelity's
(Obukhov et al., ``torch_fidelity`` 0.4): its :class:`FeatureExtractorInceptionV3` (the TensorFlow
``pt_inception-2015-12-05`` graph converted to PyTorch, images resized to 299 px inside it), features
``2048`` (pool3) for FID and KID and ``logits_unbiased`` for IS, and its functions
``fid_features_to_statistics`` / ``fid_statistics_to_metric``, ``kid_features_to_metric`` and
``isc_features_to_metric``.

Switched on by a study's ``evaluate.inception_weights: <path>`` (see the config schema); without it
nothing here runs and ``torch_fidelity`` is never imported. The weights are never downloaded: the
file must be placed by hand (:func:`weights_help` says which file, from where, and where to put it),
and it is read with ``torch.load(..., weights_only=True)`` (no unpickling of arbitrary objects).

The real side (every test image of the store) is computed once per store and weights file and
cached in ``<store>/fidelity/<weights sha256[:16]>-<n images>.npz`` (written atomically, checked
against the store's content checksum and the weights' SHA-256 on reuse).

This module imports only the standard library and numpy at import time (the config check reads its
constants when the Snakefile is parsed); torch and torch_fidelity are imported inside functions.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

#: The file torch-fidelity downloads when given no path (its ``URL_INCEPTION_V3``, checked by a test).
WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{WEIGHTS_FILE}"
#: Where docs/running.md suggests putting it (relative to the repository root, where Snakemake runs).
SUGGESTED_PATH = f"resources/inception/{WEIGHTS_FILE}"
#: The ``evaluate`` keys of this metric and their defaults (the schema's defaults, repeated for specs
#: passed without them: the workflow leaves them out of a study's JSON when the metric is off).
DEFAULTS: dict[str, Any] = {"inception_weights": "", "fidelity_samples": 50_000, "fidelity_batch_size": 250,
                            "kid_subset_size": 1000, "kid_subsets": 100}
FIDELITY_KEYS = tuple(DEFAULTS)
#: torch-fidelity feature names: pool3 features for FID/KID, unbiased logits for IS.
FEATURES = ("2048", "logits_unbiased")
#: IS splits (Salimans et al.; torch-fidelity's default).
ISC_SPLITS = 10
#: Seed of the latent codes z ~ N(0, I) of the generated samples and of the KID subsets / IS shuffle.
SEED = 0
#: Bumped when the cached real features would change meaning.
CACHE_VERSION = 1


def enabled(evaluate: dict[str, Any] | None) -> bool:
    """Whether a study's ``evaluate`` section switches the metrics on (a non-empty ``inception_weights``)."""
    return bool((evaluate or {}).get("inception_weights"))


def settings(evaluate: dict[str, Any] | None) -> dict[str, Any]:
    """The metric's keys of an ``evaluate`` section, missing ones at :data:`DEFAULTS`."""
    evaluate = evaluate or {}
    return {key: evaluate.get(key, default) for key, default in DEFAULTS.items()}


def without_fidelity(spec: dict[str, Any], keep_when_enabled: bool = False) -> dict[str, Any]:
    """``spec`` (a study's resolved config) with the metric's keys (:data:`FIDELITY_KEYS`) left out of
    its ``evaluate`` section; with ``keep_when_enabled`` they stay when the metric is on.

    The workflow passes training ``without_fidelity(spec)`` (setting the key reruns no training) and
    the final evaluation ``without_fidelity(spec, keep_when_enabled=True)``: a config without
    ``inception_weights`` gives every job the same JSON as before these keys existed, so Snakemake's
    params trigger reruns nothing.
    """
    evaluate = spec.get("evaluate")
    if not isinstance(evaluate, dict) or (keep_when_enabled and enabled(evaluate)):
        return spec
    return {**spec, "evaluate": {k: v for k, v in evaluate.items() if k not in FIDELITY_KEYS}}


def weights_help(path: str | os.PathLike) -> str:
    """The message for a weights path that is not a readable file: what file, from where, where to put it."""
    return (f"{path}: no such file; evaluate.inception_weights must name torch-fidelity's InceptionV3 weights "
            f"{WEIGHTS_FILE} (TensorFlow's pt_inception-2015-12-05 converted to PyTorch). gannorm never "
            f"downloads it: fetch {WEIGHTS_URL} by hand, put it at {SUGGESTED_PATH} (or anywhere) and set "
            f"evaluate.inception_weights to that path")


def check_weights_path(path: str | os.PathLike) -> Path:
    """``path`` as a :class:`Path` if it is a file.

    Raises:
        FileNotFoundError: it is not (the message is :func:`weights_help`).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(weights_help(path))
    return path


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def load_extractor(path: str | os.PathLike, device: Any) -> Any:
    """torch-fidelity's InceptionV3 feature extractor with the weights at ``path``, on ``device``,
    giving features :data:`FEATURES`.

    The file is read here with ``torch.load(weights_only=True)`` (tensors only) and handed to
    torch-fidelity as an in-memory copy (it would call ``torch.load(weights_only=False)`` on the
    path itself); never ``None``, so torch-fidelity never downloads.

    Raises:
        FileNotFoundError: no file at ``path`` (:func:`weights_help`).
        ValueError: the file is not a state dict of tensors, or not one of this architecture (the
            message names the path and the expected file).
    """
    import torch

    path = check_weights_path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable or unsafe file: one clear message
        raise ValueError(f"{path}: not readable as a tensors-only state dict ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''}); expected {WEIGHTS_FILE} from "
                         f"{WEIGHTS_URL}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: not a state dict of tensors; expected {WEIGHTS_FILE} from {WEIGHTS_URL}")
    buffer = io.BytesIO()
    torch.save(state, buffer)  # tensors only, written here: safe for torch-fidelity's own torch.load
    buffer.seek(0)
    del state
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    try:
        extractor = FeatureExtractorInceptionV3("inception-v3-compat", list(FEATURES),
                                                feature_extractor_weights_path=buffer)
    except RuntimeError as err:  # load_state_dict: missing / unexpected keys, wrong shapes
        raise ValueError(f"{path}: not torch-fidelity's InceptionV3 weights ({str(err).splitlines()[0]}); "
                         f"expected {WEIGHTS_FILE} from {WEIGHTS_URL}") from None
    return extractor.to(device).eval()


def to_uint8_rgb(images: Any) -> Any:
    """Float images in [0, 1], ``(N, C, H, W)`` with C = 1 or 3, as the uint8 RGB ``(N, 3, H, W)``
    torch-fidelity's extractor takes: rounded as a PNG writer would (``x * 255 + 0.5``, clamped),
    grey repeated to three channels.

    Raises:
        ValueError: not 4-D with 1 or 3 channels.
    """
    import torch

    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, 1 or 3, H, W), got {tuple(images.shape)}")
    out = images.float().mul(255).add(0.5).clamp(0, 255).to(torch.uint8)
    return out.expand(-1, 3, -1, -1).contiguous() if out.shape[1] == 1 else out


def extract_features(extractor: Any, batches: Iterable[Any], device: Any) -> dict[str, np.ndarray]:
    """Inception features of image batches.

    Args:
        extractor: :func:`load_extractor`'s module.
        batches: an iterable of float image batches in [0, 1], ``(B, C, H, W)``, C = 1 or 3.

    Returns:
        ``{"2048": (N, 2048) float32, "logits_unbiased": (N, 1008) float32}`` (numpy, on the CPU).

    The extraction runs in full float32 (TF32 off), as torch-fidelity's reference numbers were made.
    """
    import torch

    parts: dict[str, list[np.ndarray]] = {name: [] for name in FEATURES}
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        with torch.no_grad():
            for batch in batches:
                outputs = extractor(to_uint8_rgb(batch.to(device)))
                for name, value in zip(FEATURES, outputs):
                    parts[name].append(value.float().cpu().numpy())
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn
    return {name: np.concatenate(chunks) if chunks else np.zeros((0, 2048 if name == "2048" else 1008), np.float32)
            for name, chunks in parts.items()}


def _store_key(store: Any, indices: np.ndarray) -> str:
    """SHA-256 over the store's content checksum (or, for an old store, the test images' bytes) and
    the test indices."""
    digest = hashlib.sha256()
    checksum = store.content_checksum
    if checksum is None:
        digest.update(np.ascontiguousarray(store.images[indices]).tobytes())
    else:
        digest.update(checksum.encode())
    digest.update(json.dumps([int(i) for i in indices]).encode())
    return digest.hexdigest()


def real_features(store: Any, extractor: Any, weights_sha256: str, batch_size: int, device: Any,
                  log: Callable[[str], None] = print) -> dict[str, Any]:
    """Features and FID statistics of every test image of ``store``, cached per store and weights.

    Returns:
        ``{"2048": (N, 2048) float32, "logits_unbiased": (N, 1008) float32, "mu": (2048,) ,
        "sigma": (2048, 2048), "computed": bool}`` (``computed`` False when read from the cache
        ``<store>/fidelity/<weights sha256[:16]>-<N>.npz``). ``mu``/``sigma`` are torch-fidelity's
        ``fid_features_to_statistics`` of the features.

    A cache file whose recorded store key, weights checksum or version differs is recomputed and
    replaced (atomically: two jobs writing at once leave one complete file).
    """
    from gannorm.io import atomic_path

    indices = np.asarray(store.test_indices)
    key = _store_key(store, indices)
    path = Path(store.directory) / "fidelity" / f"{weights_sha256[:16]}-{len(indices)}.npz"
    meta = json.dumps({"version": CACHE_VERSION, "store": key, "weights_sha256": weights_sha256,
                       "images": int(len(indices))}, sort_keys=True)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as cached:
                if str(cached["meta"]) == meta:
                    log(f"fidelity: real statistics of {len(indices)} test images from {path}")
                    return {**{k: cached[k] for k in (*FEATURES, "mu", "sigma")}, "computed": False}
            log(f"fidelity: {path} was made for another store or weights; recomputing")
        except (OSError, ValueError, KeyError) as err:
            log(f"fidelity: {path} unreadable ({err}); recomputing")
    import torch
    from torch_fidelity.metric_fid import fid_features_to_statistics

    def batches():
        for start in range(0, len(indices), batch_size):
            yield torch.from_numpy(store.as_float(indices[start:start + batch_size]))

    features = extract_features(extractor, batches(), device)
    stats = fid_features_to_statistics(torch.from_numpy(features["2048"]))
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, meta=np.array(meta), mu=stats["mu"], sigma=stats["sigma"], **features)
    log(f"fidelity: real statistics of {len(indices)} test images written to {path}")
    return {**features, "mu": stats["mu"], "sigma": stats["sigma"], "computed": True}


def generated_images(generator: Any, latent: int, count: int, batch_size: int, device: Any, seed: int = SEED):
    """Batches of ``count`` generated images ``(B, C, H, W)`` in [0, 1] from z ~ N(0, I) of size
    ``latent`` (drawn on the CPU from ``seed``, so every device sees the same codes)."""
    import torch

    rng = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for start in range(0, count, batch_size):
            z = torch.randn(min(batch_size, count - start), latent, generator=rng)
            yield generator(z.to(device))


def metrics(real: dict[str, Any], fake: dict[str, np.ndarray], kid_subset_size: int, kid_subsets: int,
            seed: int = SEED) -> dict[str, float | None]:
    """IS of the fake logits, FID and KID of fake against real pool3 features (torch-fidelity's functions).

    Args:
        real: :func:`real_features` (``2048``, ``mu``, ``sigma``).
        fake: :func:`extract_features` of the generated images.
        kid_subset_size: images per KID subset (at most the real and the fake count).
        kid_subsets: KID subsets averaged.

    Returns:
        ``inception_score_mean/std`` (Salimans et al.; 1 to 1008, higher = better), ``fid`` (>= 0,
        lower = better), ``kid_mean/std`` (unbiased MMD^2 with the cubic polynomial kernel; ~0 for
        the same distribution, may be slightly negative); a non-finite value is ``None``.

    Raises:
        ValueError: ``kid_subset_size`` exceeds the real or the fake count.
    """
    import torch
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
    from torch_fidelity.metric_isc import isc_features_to_metric
    from torch_fidelity.metric_kid import kid_features_to_metric

    n_real, n_fake = len(real["2048"]), len(fake["2048"])
    if kid_subset_size > min(n_real, n_fake):
        raise ValueError(f"evaluate.kid_subset_size = {kid_subset_size} exceeds the {n_real} real (test) or the "
                         f"{n_fake} generated images")
    fake_2048 = torch.from_numpy(np.ascontiguousarray(fake["2048"]))
    isc = isc_features_to_metric(torch.from_numpy(np.ascontiguousarray(fake["logits_unbiased"])), splits=ISC_SPLITS,
                                 shuffle=True, rng_seed=seed)
    stats = fid_features_to_statistics(fake_2048)
    fid = fid_statistics_to_metric({"mu": real["mu"], "sigma": real["sigma"]}, stats, verbose=False)
    kid = kid_features_to_metric(torch.from_numpy(np.ascontiguousarray(real["2048"])), fake_2048,
                                 kid_subsets=kid_subsets, kid_subset_size=kid_subset_size, verbose=False,
                                 rng_seed=seed)
    values = {"inception_score_mean": isc["inception_score_mean"], "inception_score_std": isc["inception_score_std"],
              "fid": fid["frechet_inception_distance"], "kid_mean": kid["kernel_inception_distance_mean"],
              "kid_std": kid["kernel_inception_distance_std"]}
    return {k: float(v) if v is not None and math.isfinite(float(v)) else None for k, v in values.items()}


class FidelityScorer:
    """IS, FID and KID of generators against one store's test split (the real side loaded once).

    Made by :meth:`from_config`; :meth:`score` gives one ``final_eval.json`` ``fidelity`` entry.
    """

    def __init__(self, store: Any, evaluate: dict[str, Any], device: Any, log: Callable[[str], None] = print,
                 phases: Any = None):
        """Load the extractor and the real statistics (cached per store). ``phases`` (a
        :class:`gannorm.timing.Phases`, optional) gets this and every :meth:`score` as ``fidelity``.

        Raises:
            FileNotFoundError: the weights file is missing (:func:`weights_help`).
            ValueError: not the weights expected, or ``kid_subset_size`` exceeds the test images or
                ``fidelity_samples``.
        """
        self.settings = settings(evaluate)
        self.device = device
        self.log = log
        self.phases = phases
        path = check_weights_path(self.settings["inception_weights"])
        n_real, n_fake, subset = (len(store.test_indices), self.settings["fidelity_samples"],
                                  self.settings["kid_subset_size"])
        if subset > min(n_real, n_fake):
            raise ValueError(f"evaluate.kid_subset_size = {subset} exceeds the {n_real} test images of "
                             f"{store.directory} or evaluate.fidelity_samples = {n_fake}")
        with self._timed():
            self.weights_sha256 = sha256_file(path)
            self.extractor = load_extractor(path, device)
            self.real = real_features(store, self.extractor, self.weights_sha256,
                                      self.settings["fidelity_batch_size"], device, log=log)

    def _timed(self) -> Any:
        return self.phases("fidelity") if self.phases is not None else contextlib.nullcontext()

    @classmethod
    def from_config(cls, store: Any, evaluate: dict[str, Any] | None, device: Any,
                    log: Callable[[str], None] = print, phases: Any = None) -> "FidelityScorer | None":
        """A scorer when ``evaluate.inception_weights`` is set, else ``None`` (nothing imported or timed)."""
        return cls(store, evaluate or {}, device, log, phases) if enabled(evaluate) else None

    def score(self, generator: Any, latent: int | None = None) -> dict[str, Any]:
        """The metrics of ``generator`` (z of size ``latent``, default ``generator.latent``, to images
        ``(N, C, H, W)`` in [0, 1], e.g. :class:`gannorm.models.heads.UnitOutput`) on
        ``evaluate.fidelity_samples`` samples.

        Returns:
            :func:`metrics`' values plus ``samples``, ``real_images``, ``weights_sha256``,
            ``kid_subset_size``, ``kid_subsets`` and ``real_inception_score_mean`` (the test images' IS,
            for scale).
        """
        s = self.settings
        latent = int(latent if latent is not None else generator.latent)
        with self._timed():
            fake = extract_features(self.extractor, generated_images(generator, latent, s["fidelity_samples"],
                                                                     s["fidelity_batch_size"], self.device),
                                    self.device)
            out = metrics(self.real, fake, s["kid_subset_size"], s["kid_subsets"])
        self.log(f"fidelity: IS {out['inception_score_mean']}, FID {out['fid']}, KID {out['kid_mean']} "
                 f"({s['fidelity_samples']} samples vs {len(self.real['2048'])} test images)")
        return {**out, "samples": int(s["fidelity_samples"]), "real_images": int(len(self.real["2048"])),
                "kid_subset_size": int(s["kid_subset_size"]), "kid_subsets": int(s["kid_subsets"]),
                "real_inception_score_mean": self.real_inception_score(), "weights_sha256": self.weights_sha256}

    def real_inception_score(self) -> float | None:
        """IS of the test images themselves (the score of a perfect generator on this data, roughly)."""
        import torch
        from torch_fidelity.metric_isc import isc_features_to_metric

        logits = np.ascontiguousarray(self.real["logits_unbiased"])
        if len(logits) < ISC_SPLITS:
            return None
        value = isc_features_to_metric(torch.from_numpy(logits), splits=ISC_SPLITS, shuffle=True,
                                       rng_seed=SEED)["inception_score_mean"]
        return float(value) if math.isfinite(value) else None
