"""The dataset store: digits source, split, statistics, atomic writes, validation."""

import json

import numpy as np
import pytest

from gannorm.data import prepare
from gannorm.data.store import StoreError, StoreWriter, open_store, split_indices


def test_digits_store_shape_split_and_statistics(digits_store):
    meta = digits_store.meta
    assert digits_store.images.shape == (1797, 1, 16, 16) and digits_store.images.dtype == np.uint8
    assert meta["split"]["train_count"] == 1733 and meta["split"]["test_count"] == 64
    assert len(set(digits_store.train_indices) & set(digits_store.test_indices)) == 0
    train = digits_store.images[digits_store.train_indices].astype(np.float64) / 255
    assert meta["mean"][0] == pytest.approx(train.mean(), abs=1e-9)
    assert meta["std"][0] == pytest.approx(train.std(), abs=1e-9)
    assert meta["mean_pm1"][0] == pytest.approx(2 * train.mean() - 1)
    assert meta["source"]["files"][0]["path"] == "digits.csv.gz" and len(meta["source"]["files"][0]["sha256"]) == 64


def test_digits_resize_keeps_the_digit(digits_store):
    from sklearn.datasets import load_digits

    raw = load_digits().images[0] / 16.0
    big = digits_store.images[0, 0].astype(np.float64) / 255
    pooled = big.reshape(8, 2, 8, 2).mean(axis=(1, 3))
    assert np.abs(pooled - raw).max() < 0.25
    assert np.corrcoef(pooled.ravel(), raw.ravel())[0, 1] > 0.95


def test_split_is_deterministic_and_seed_dependent():
    a, b, c = split_indices(100, 10, 1), split_indices(100, 10, 1), split_indices(100, 10, 2)
    assert np.array_equal(a[1], b[1]) and not np.array_equal(a[1], c[1])
    with pytest.raises(ValueError):
        split_indices(10, 10, 0)


def test_interrupted_writer_leaves_no_store_and_rerun_starts_clean(tmp_path):
    writer = StoreWriter(tmp_path, capacity=10, image_shape=(1, 4, 4))
    writer.add(np.zeros((3, 1, 4, 4), np.uint8))
    # killed here: no sidecar, no array under its final name
    with pytest.raises(StoreError, match="missing"):
        open_store(tmp_path)
    writer.abort()
    assert list(tmp_path.iterdir()) == []
    store = prepare("digits", {"source": "digits", "size": 8, "test_images": 10}, tmp_path)
    assert store.images.shape == (1797, 1, 8, 8)


def test_store_with_mismatched_sidecar_is_refused(tmp_path):
    writer = StoreWriter(tmp_path, capacity=5, image_shape=(1, 4, 4))
    writer.add(np.arange(5 * 16, dtype=np.uint8).reshape(5, 1, 4, 4))
    writer.finish(dataset="x", source={}, test_count=2)
    sidecar = tmp_path / "store.json"
    meta = json.loads(sidecar.read_text())
    meta["shape"][0] = meta["count"] = 6
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="store.json.*rerun"):
        open_store(tmp_path)


def test_skipped_files_shrink_the_store_and_are_listed(tmp_path):
    writer = StoreWriter(tmp_path, capacity=5, image_shape=(1, 2, 2))
    writer.add(np.full((3, 1, 2, 2), 7, np.uint8))
    writer.skip("bad.jpg", "truncated")
    store = writer.finish(dataset="x", source={}, test_count=1)
    assert store.images.shape == (3, 1, 2, 2) and store.meta["skipped"] == [{"file": "bad.jpg", "reason": "truncated"}]


def test_zero_usable_images_is_an_error(tmp_path):
    writer = StoreWriter(tmp_path, capacity=2, image_shape=(1, 2, 2))
    writer.skip("a.png", "corrupt")
    with pytest.raises(StoreError, match="no usable images.*a.png"):
        writer.finish(dataset="x", source={}, test_count=1)
