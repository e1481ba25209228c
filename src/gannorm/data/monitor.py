"""The out-of-set monitor image of a paired (super-resolution) store (Mullery & Whelan: "an image
from outside the target data set ... resized to 72 x 72 ... passed to the generator at periodic
intervals").

The ``photo_patches`` (with ``scale``) and ``imagenet`` sources write it as two PNG files in the
store folder, named by the sidecar's ``monitor.lr`` (input) and ``monitor.hr`` (target). Read by
super-resolution training (:mod:`gannorm.train.sr`) and its final evaluation
(:mod:`gannorm.evaluate.sr`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gannorm.data.store import Store


def _read_png(path: Path, channels: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        array = np.asarray(image.convert("RGB" if channels == 3 else "L"), dtype=np.uint8)
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return np.ascontiguousarray(array).astype(np.float32)[None] / 255.0


def load_monitor(store: Store) -> tuple[np.ndarray, np.ndarray]:
    """The store's out-of-set monitor pair as float32 in [0, 1]: ``(input (1, C, h, w), target (1, C, H, W))``,
    read from the PNG files named by the sidecar's ``monitor.lr`` and ``monitor.hr``.

    Raises:
        ValueError: the sidecar names no low-resolution monitor image, or its size does not match
            the store's inputs/targets.
        FileNotFoundError: a named PNG is missing.
    """
    entry = store.meta.get("monitor") or {}
    if not entry.get("lr") or not entry.get("hr"):
        raise ValueError(f"{store.directory}: the store has no low-resolution monitor image (sidecar "
                         f"'monitor.lr'); prepare it with a scale (photo_patches) or the imagenet source")
    pair = []
    for key, shape in (("lr", store.inputs.shape[1:] if store.inputs is not None else None),
                       ("hr", store.image_shape)):
        path = Path(store.directory) / entry[key]
        if not path.is_file():
            raise FileNotFoundError(f"{path}: monitor image missing (named in {store.directory}/store.json); "
                                    f"rerun the prepare rule")
        image = _read_png(path, store.channels)
        if shape is not None and tuple(image.shape[1:]) != tuple(shape):
            raise ValueError(f"{path}: monitor image of shape {tuple(image.shape[1:])}, expected {tuple(shape)}")
        pair.append(image)
    return pair[0], pair[1]
