"""Data values are checked where they enter: toy points that overflow float32 or have no spread are
config errors naming the key; a store's statistics are finite and its store.json is strict JSON; an
ImageNet class folder without images is skipped out loud (counted, listed, printed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gannorm.data import prepare
from gannorm.data.store import StoreError, StoreWriter


def strict_json(text: str):
    """Parse ``text`` refusing the non-standard NaN / Infinity / -Infinity."""
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


# --- 2. a store's statistics are finite; store.json is strict JSON ------------------------------------


def test_a_store_with_non_finite_statistics_is_refused_naming_dataset_and_statistic(tmp_path):
    writer = StoreWriter(tmp_path / "s", capacity=4, image_shape=(1, 2, 2))
    writer.add(np.zeros((4, 1, 2, 2), dtype=np.uint8))
    writer._sq_sums[:] = np.inf  # what an overflowing statistic would look like
    with pytest.raises(StoreError, match=r"dataset 'broken': statistic 'std' of the training data is not finite"):
        writer.finish(dataset="broken", source={}, test_count=1)
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == []  # nothing left behind


def test_store_json_is_strict_json(tmp_path):
    for name, spec in {"digits": {"source": "digits", "size": 16, "test_images": 64},
                       "toy": {"source": "toy2d", "points": 256, "test_images": 64}}.items():
        prepare(name, spec, tmp_path / name)
        meta = strict_json((tmp_path / name / "store.json").read_text())
        assert np.isfinite(meta["mean"]).all() and np.isfinite(meta["std"]).all()


def test_write_json_strict_refuses_nan_naming_the_file(tmp_path):
    from gannorm.io import write_json

    with pytest.raises(ValueError, match="x.json: not written"):
        write_json(tmp_path / "x.json", {"mean": [float("nan")]}, allow_nan=False)
    assert not (tmp_path / "x.json").exists()


