"""Pixel histograms and their Wasserstein-1 distance (Mullery & Whelan's histogram snapshots)."""

import numpy as np
import pytest
import torch

from gannorm.metrics.histograms import (bin_edges, data_histogram, image_snapshot, pixel_histogram, read_snapshot,
                                        wasserstein1, write_snapshot)


def _constant(value, channels=1, n=4, side=5):
    return np.full((n, channels, side, side), value, dtype=np.float64)


def test_pixel_histogram_sums_to_one_per_channel_and_clips():
    rng = np.random.default_rng(0)
    images = rng.normal(0.5, 0.6, size=(7, 3, 9, 9))  # plenty of values outside [0, 1]
    hist = pixel_histogram(images, bins=32)
    assert hist.shape == (3, 32)
    np.testing.assert_allclose(hist.sum(axis=1), 1.0)
    below = (images < 0).mean(axis=(0, 2, 3))
    assert np.all(hist[:, 0] >= below) and np.all(below > 0.1)  # clipped values land in the first bin
    # torch tensors give the same histogram
    np.testing.assert_array_equal(pixel_histogram(torch.from_numpy(images), bins=32), hist)


def test_uint8_binning_is_exact_with_256_bins():
    values = np.arange(256, dtype=np.uint8).reshape(1, 1, 16, 16)
    as_uint8 = pixel_histogram(values, bins=256)
    as_float = pixel_histogram(values.astype(np.float32) / 255.0, bins=256)
    np.testing.assert_array_equal(as_uint8, np.full((1, 256), 1 / 256))
    np.testing.assert_array_equal(as_float, as_uint8)


def test_w1_of_identical_histograms_is_zero():
    rng = np.random.default_rng(1)
    hist = pixel_histogram(rng.uniform(size=(3, 3, 8, 8)), bins=64)
    np.testing.assert_array_equal(wasserstein1(hist, hist), np.zeros(3))


@pytest.mark.parametrize("a,b", [(0.0, 1.0), (0.2, 0.7), (0.9, 0.35), (0.5, 0.5)])
def test_w1_between_point_masses_is_their_distance(a, b):
    bins = 256
    w1 = wasserstein1(pixel_histogram(_constant(a), bins), pixel_histogram(_constant(b), bins))
    assert w1.shape == (1,)
    assert abs(w1[0] - abs(a - b)) <= 1.0 / bins


def test_w1_of_a_shifted_uniform_is_the_shift():
    rng = np.random.default_rng(2)
    base = rng.uniform(0.0, 0.6, size=(64, 2, 16, 16))
    for shift in (0.05, 0.2, 0.4):
        w1 = wasserstein1(pixel_histogram(base + shift, 256), pixel_histogram(base, 256))
        np.testing.assert_allclose(w1, shift, atol=2.0 / 256)


def test_w1_is_per_channel_and_symmetric():
    images_a = np.concatenate([_constant(0.1), _constant(0.5)], axis=1)
    images_b = np.concatenate([_constant(0.1), _constant(0.9)], axis=1)
    ha, hb = pixel_histogram(images_a, 100), pixel_histogram(images_b, 100)
    np.testing.assert_allclose(wasserstein1(ha, hb), [0.0, 0.4], atol=1e-12)
    np.testing.assert_array_equal(wasserstein1(ha, hb), wasserstein1(hb, ha))
    with pytest.raises(ValueError):
        wasserstein1(ha, hb[:, :50])


def test_data_histogram_matches_the_store_images(digits_store):
    hist = data_histogram(digits_store, bins=256)
    expected = pixel_histogram(digits_store.as_float(digits_store.train_indices), bins=256)
    np.testing.assert_allclose(hist, expected, atol=1e-12)
    assert hist.shape == (digits_store.channels, 256)
    subset = data_histogram(digits_store, bins=16, max_images=100, chunk=7)
    np.testing.assert_allclose(subset.sum(axis=1), 1.0)


def test_snapshot_arrays_and_atomic_write(tmp_path):
    rng = np.random.default_rng(3)
    data = rng.uniform(size=(10, 3, 4, 4))
    generated = torch.from_numpy(np.clip(data[:, :, :, :] * 0.5, 0, 1)).float()
    snap = image_snapshot(generated, pixel_histogram(data, 128), iteration=500, keep=4)
    assert snap["histogram"].shape == snap["data_histogram"].shape == (3, 128)
    np.testing.assert_array_equal(snap["bin_edges"], bin_edges(128))
    assert snap["w1"].shape == (3,) and np.all(snap["w1"] > 0.1)
    assert snap["images"].dtype == np.float32 and snap["images"].shape == (4, 3, 4, 4)
    path = tmp_path / "snapshots" / "iter0000500.npz"
    write_snapshot(path, snap)
    back = read_snapshot(path)
    assert back["iteration"] == 500
    for key in ("histogram", "data_histogram", "bin_edges", "w1", "images"):
        np.testing.assert_array_equal(back[key], snap[key])
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
