"""Data values are checked where they enter: toy points that overflow float32 or have no spread are
config errors naming the key; a store's statistics are finite and its store.json is strict JSON; an
ImageNet class folder without images is skipped out loud (counted, listed, printed)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from data_fixtures import make_imagenet
from gannorm.config import ConfigError, check_dataset
from gannorm.data import prepare
from gannorm.data.store import StoreError, StoreWriter


def strict_json(text: str):
    """Parse ``text`` refusing the non-standard NaN / Infinity / -Infinity."""
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


# --- 1. toy points that overflow float32 or have no spread -------------------------------------------


@pytest.mark.parametrize("edit, message", [
    ({"offset": [1e39, 0]}, "datasets.toy.offset: the points are not finite in float32 (|value| up to 1e+39); "
                            "expected values within ±3.4e+38"),
    ({"spread": 1e30}, "datasets.toy.spread: the points are not finite in float32 (|value| up to 7.12e+60)"),
    ({"spread": 1e200}, "datasets.toy.spread: the points are not finite in float32"),
    ({"noise": 1e39}, "datasets.toy.noise: the points are not finite in float32"),
    ({"curvature": 1e38}, "datasets.toy.curvature: the points are not finite in float32"),
    ({"spread": 1e-300}, "datasets.toy.spread: the points have zero spread along y"),
    ({"offset": [0, 1e30]}, "datasets.toy.offset: the points have zero spread along y: the offset 1e+30 swamps"),
    ({"noise": 0, "curvature": 0}, "datasets.toy.noise: the points have zero spread along x"),
])
def test_toy_points_that_overflow_or_have_no_spread_are_config_errors_naming_the_key(edit, message):
    from gannorm.config_files import validate_config

    spec = {"source": "toy2d", **edit}
    config = {"name": "t", "device": "cpu", "datasets": {"toy": spec},
              "studies": {"s": {"paper": "johannsmeier", "dataset": "toy", "seeds": [0]}}}
    validate_config(config)  # the schema lets these through: the check is in check_dataset
    with pytest.raises(ConfigError) as err:
        check_dataset("toy", spec)
    assert message in str(err.value)


def test_toy_store_of_bad_points_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match=r"datasets\.toy\.offset: the points are not finite in float32"):
        prepare("toy", {"source": "toy2d", "offset": [1e39, 0]}, tmp_path / "toy")
    assert not (tmp_path / "toy").exists() or not any((tmp_path / "toy").iterdir())
    check_dataset("toy", {"source": "toy2d", "offset": [1e6, -3], "spread": 1e3})  # large but fine


# --- 2. a store's statistics are finite; store.json is strict JSON ------------------------------------


def test_a_store_with_non_finite_statistics_is_refused_naming_dataset_and_statistic(tmp_path):
    writer = StoreWriter(tmp_path / "s", capacity=4, image_shape=(1, 2, 2))
    writer.add(np.zeros((4, 1, 2, 2), dtype=np.uint8))
    writer._sq_sums[:] = np.inf  # what an overflowing statistic would look like
    with pytest.raises(StoreError, match=r"dataset 'broken': statistic 'std' of the training data is not finite"):
        writer.finish(dataset="broken", source={}, test_count=1)
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == []  # nothing left behind


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_toy_store_with_non_finite_statistics_is_refused(tmp_path, monkeypatch):
    import gannorm.data.toy2d as toy2d

    monkeypatch.setattr(toy2d, "check_points", lambda spec, dataset="toy2d": None, raising=False)  # let them through
    with pytest.raises(StoreError, match=r"dataset 'toy2d': statistic 'mean' of the training data is not finite"):
        toy2d.prepare_toy2d({"offset": [1e39, 0]}, tmp_path / "toy")
    assert not (tmp_path / "toy" / "store.json").exists() and not (tmp_path / "toy" / "points.npy").exists()


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


# --- 3. an empty ImageNet class is skipped out loud --------------------------------------------------


def test_an_empty_imagenet_class_is_counted_listed_and_printed(tmp_path, capsys):
    from gannorm.cli import main

    train = make_imagenet(tmp_path, classes=3, per_class=3, corrupt="n00000000/img_01.JPEG")
    shutil.rmtree(train / "n00000001")
    (train / "n00000001").mkdir()
    (train / "n00000001" / "notes.txt").write_text("not an image")
    spec = {"source": "imagenet", "size": 64, "scale": 4, "resize": False, "test_images": 1,
            "monitor": "n00000002/img_00.JPEG"}
    main(["prepare", "--dataset", "sr", "--spec", json.dumps(spec), "--out", str(tmp_path / "out"),
          "--data-root", str(tmp_path)])
    meta = strict_json((tmp_path / "out" / "store.json").read_text())
    # 6 images in the two classes with images, the monitor held out, one corrupt
    assert meta["count"] == 4 and [s["file"] for s in meta["skipped"]] == ["n00000000/img_01.JPEG"]
    assert meta["skipped_classes_count"] == 1
    assert [entry["class"] for entry in meta["skipped_classes"]] == ["n00000001"]
    assert "no image files" in meta["skipped_classes"][0]["reason"]
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == (f"sr: 4 of 5 source items used; 1 unreadable files skipped, 1 class folder without images "
                    f"skipped (n00000001), listed in {tmp_path / 'out'}/store.json")


def test_an_imagenet_store_without_empty_classes_has_no_skipped_classes_key(tmp_path):
    make_imagenet(tmp_path, classes=2, per_class=2, corrupt=None)
    spec = {"source": "imagenet", "size": 64, "scale": 4, "resize": False, "test_images": 1, "max_images": 3}
    store = prepare("sr", spec, tmp_path / "out", tmp_path)
    assert "skipped_classes" not in store.meta and "skipped_classes_count" not in store.meta


def test_the_default_monitor_passes_over_an_empty_unused_class(tmp_path):
    train = make_imagenet(tmp_path, classes=3, per_class=2, corrupt=None)
    shutil.rmtree(train / "n00000001")
    (train / "n00000001").mkdir()
    (tmp_path / "imagenet" / "classes.txt").write_text("n00000000\n")
    spec = {"source": "imagenet", "classes_file": "classes.txt", "size": 64, "scale": 4, "resize": False,
            "test_images": 1}
    store = prepare("sr", spec, tmp_path / "out", tmp_path)
    assert store.meta["monitor"]["source"] == "n00000002/img_00.JPEG"  # the first unused class with images
    assert "skipped_classes" not in store.meta  # an unused empty class is not a skipped one
