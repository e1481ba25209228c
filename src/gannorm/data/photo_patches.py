"""Random patches of scikit-image's bundled colour photographs (the demo's natural images).

No download: the photographs ship inside scikit-image (``skimage.data``) and load offline. The
default training photographs are ``astronaut`` (512x512), ``coffee`` (400x600), ``rocket``
(427x640) and ``motorcycle`` (the left view of ``stereo_motorcycle``, 500x741); ``chelsea``
(the cat, 300x451) is held out as the out-of-set monitor image. (``hubble_deep_field``,
``immunohistochemistry`` and ``retina`` also load offline but are not everyday photographs;
``cat`` is ``chelsea`` again.)

Spec keys: ``photos`` (names as above), ``monitor`` (one name, not among ``photos``),
``patches`` (how many, default 4096), ``size`` (patch side, default 32), ``photo_scale``
(resize every photograph by this factor first, antialiased bicubic; default 1),
``scale`` (optional: also store each patch downsampled by this factor, antialiased bicubic, in
``inputs.npy``, for a toy super-resolution study), ``test_images``, ``split_seed``.

Patch ``i`` comes from photograph ``i mod len(photos)``, at a top-left corner drawn uniformly
from a generator seeded by ``split_seed``; the corners are listed in the sidecar
(``patch_origins``: ``[photo index, top, left]``). The monitor image is the central ``size``
crop of the held-out photograph (after ``photo_scale``), saved as ``monitor.png`` (and
``monitor_lr.png`` with ``scale``). Source checksums: SHA-256 of each photograph's decoded
pixels (the bundled files' format may change between scikit-image versions; the pixels are what
is used), with the scikit-image version.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from gannorm.data.common import center_crop, guarded, log, resize, save_png, to_chw
from gannorm.data.store import Store, StoreWriter

DEFAULT_PHOTOS = ["astronaut", "coffee", "rocket", "motorcycle"]
DEFAULT_MONITOR = "chelsea"
AVAILABLE = ["astronaut", "coffee", "chelsea", "rocket", "motorcycle", "hubble_deep_field",
             "immunohistochemistry", "retina"]


def load_photo(name: str) -> np.ndarray:
    """One bundled photograph as uint8 ``(H, W, 3)``.

    Raises:
        ValueError: unknown name (lists the available ones).
    """
    import skimage.data

    if name not in AVAILABLE:
        raise ValueError(f"unknown photograph {name!r}; available offline: {AVAILABLE}")
    image = skimage.data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skimage.data, name)()
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] < 3:
        raise ValueError(f"skimage.data.{name}: expected a colour image, got shape {image.shape}")
    return np.ascontiguousarray(image[..., :3].astype(np.uint8))


def _scaled(image: np.ndarray, factor: float) -> np.ndarray:
    if factor == 1:
        return image
    from PIL import Image

    height, width = image.shape[:2]
    size = (max(1, round(height * factor)), max(1, round(width * factor)))
    return np.asarray(resize(Image.fromarray(image), size))


def prepare(dataset: str, spec: dict[str, Any], out_dir: Path, data_root: Path) -> Store:
    """Write the photo-patch store (keys in the module docstring).

    Returns the opened store: uint8 ``(patches, 3, size, size)`` (plus ``inputs`` with ``scale``).

    Raises:
        ValueError: unknown photograph, the monitor among the training photographs, a patch
            larger than a photograph, or ``size`` not divisible by ``scale``.
    """
    import skimage
    from PIL import Image

    photos = list(spec.get("photos") or DEFAULT_PHOTOS)
    monitor = spec.get("monitor") or DEFAULT_MONITOR
    if monitor in photos:
        raise ValueError(f"datasets.{dataset}.monitor: {monitor!r} is also a training photograph")
    size = int(spec.get("size") or 32)
    count = int(spec.get("patches") or 4096)
    factor = float(spec.get("photo_scale") or 1.0)
    scale = spec.get("scale")
    if scale is not None and size % int(scale):
        raise ValueError(f"datasets.{dataset}: size {size} is not divisible by scale {scale}")
    seed = int(spec.get("split_seed", 0))
    images = [_scaled(load_photo(name), factor) for name in photos]
    for name, image in zip(photos, images):
        if min(image.shape[:2]) < size:
            raise ValueError(f"datasets.{dataset}: photograph {name} is {image.shape[1]}x{image.shape[0]} "
                             f"after photo_scale {factor}, smaller than a {size} px patch")
    rng = np.random.default_rng([seed, 1])
    origins = []
    input_shape = None if scale is None else (3, size // int(scale), size // int(scale))
    writer = StoreWriter(out_dir, capacity=count, image_shape=(3, size, size), input_shape=input_shape)
    with guarded(writer):
        for i in range(count):
            p = i % len(images)
            height, width = images[p].shape[:2]
            top, left = int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1))
            origins.append([p, top, left])
            patch = images[p][top:top + size, left:left + size]
            small = None
            if scale is not None:
                small = to_chw(resize(Image.fromarray(patch), size // int(scale)))
            writer.add(np.ascontiguousarray(patch.transpose(2, 0, 1)), small)
        held_out = Image.fromarray(_scaled(load_photo(monitor), factor))
        monitor_crop = center_crop(held_out, size, monitor)
        monitor_entry = {"source": monitor, "hr": "monitor.png", "hr_sha256": save_png(monitor_crop, out_dir / "monitor.png"),
                         "how": f"central {size} px crop of the held-out photograph"}
        if scale is not None:
            monitor_entry.update(lr="monitor_lr.png",
                                 lr_sha256=save_png(resize(monitor_crop, size // int(scale)), out_dir / "monitor_lr.png"))
        source = {"name": "photo_patches", "package": f"scikit-image {skimage.__version__}",
                  "photos": [{"name": name, "shape": list(image.shape),
                              "pixels_sha256": hashlib.sha256(load_photo(name).tobytes()).hexdigest()}
                             for name, image in zip(photos, images)],
                  "checksums": "sha256 of each photograph's decoded uint8 pixels, before photo_scale"}
        log(f"{dataset}: {count} patches of {size} px from {photos}; monitor {monitor}")
        extra = {"photo_scale": factor, "patch_origins": origins, "monitor": monitor_entry}
        if scale is not None:
            extra["pair"] = {"target": size, "input": size // int(scale), "scale": int(scale),
                             "input_rule": "patch resized by 1/scale, antialiased bicubic"}
        return writer.finish(dataset=dataset, source=source, test_count=int(spec.get("test_images", 2000)),
                             split_seed=seed, extra=extra)
