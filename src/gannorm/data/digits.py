"""scikit-learn's bundled handwritten digits as a store (the demo's real data, no download).

1,797 grey-scale 8x8 images with values 0..16 (``sklearn.datasets.load_digits``), scaled to
[0, 1] and resized with antialiased bilinear interpolation to ``size`` x ``size`` pixels
(16 in the demo), so the DCGAN builder gets a power-of-two map (16 -> 8 -> 4).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gannorm.data.store import Store, StoreWriter, sha256_file


def load_images(size: int) -> np.ndarray:
    """The digits as uint8 ``(1797, 1, size, size)``, 0..255."""
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits

    raw = load_digits().images.astype(np.float32) / 16.0  # (1797, 8, 8) in [0, 1]
    images = torch.from_numpy(raw)[:, None]
    if size != 8:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False,
                               antialias=size < 8)
    return (images.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def source_file() -> Path:
    """The file scikit-learn reads the digits from (for the checksum in the sidecar)."""
    import sklearn.datasets

    return Path(sklearn.datasets.__file__).parent / "data" / "digits.csv.gz"


def prepare(dataset: str, spec: dict[str, Any], out_dir: Path, data_root: Path) -> Store:
    """Write the digits store. ``spec``: ``size``, ``test_images``, ``split_seed``."""
    import sklearn

    images = load_images(int(spec.get("size", 16)))
    writer = StoreWriter(out_dir, capacity=len(images), image_shape=images.shape[1:])
    writer.add(images)
    path = source_file()
    source = {"name": "digits", "package": f"scikit-learn {sklearn.__version__}",
              "files": [{"path": path.name, "sha256": sha256_file(path)}] if path.is_file() else []}
    return writer.finish(dataset=dataset, source=source, test_count=int(spec.get("test_images", 297)),
                         split_seed=int(spec.get("split_seed", 0)))
