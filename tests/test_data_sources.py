"""Dataset sources on tiny data in the real on-disk formats (tests never download)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from data_fixtures import (LSUN_SIZES, Payload, coord_image, crop_origin, make_celeba, make_cifar10, make_imagenet,
                           make_lsun)
from gannorm.config import ConfigError, check_config
from gannorm.data import prepare
from gannorm.data.store import StoreError, open_store

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any download attempt fails the test."""
    import torchvision.datasets.utils as tvu

    def refuse(*args, **kwargs):
        raise AssertionError(f"a test tried to download: {args}")

    for name in ("download_url", "download_and_extract_archive", "download_file_from_google_drive"):
        monkeypatch.setattr(tvu, name, refuse)


def train_stats(store):
    train = store.images[store.train_indices].astype(np.float64) / 255
    return train.mean(axis=(0, 2, 3)), train.std(axis=(0, 2, 3))


def assert_statistics(store):
    mean, std = train_stats(store)
    np.testing.assert_allclose(store.meta["mean"], mean, atol=1e-9)
    np.testing.assert_allclose(store.meta["std"], std, atol=1e-7)
    np.testing.assert_allclose(store.meta["mean_pm1"], 2 * mean - 1, atol=1e-9)
    np.testing.assert_allclose(store.meta["std_pm1"], 2 * std, atol=1e-7)


def only_store_files(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


# --- CIFAR-10 ------------------------------------------------------------------------------------


# The test batches are not the published files: their MD5 cannot match, so the tests of the normal
# path either switch the check off (verify_md5: false, for custom data) or publish their own MD5s.
NO_MD5 = {"verify_md5": False}


def test_cifar10_merged_skips_the_corrupt_batch(tmp_path):
    batches = make_cifar10(tmp_path, per_batch=20, corrupt="data_batch_3")
    store = prepare("cifar10", {"source": "cifar10", "test_images": 10, "split_seed": 1, **NO_MD5}, tmp_path / "out",
                    tmp_path)
    order = ["data_batch_1", "data_batch_2", "data_batch_4", "data_batch_5", "test_batch"]
    expected = np.concatenate([batches[name][0] for name in order])
    assert store.images.shape == (100, 3, 32, 32)
    np.testing.assert_array_equal(store.images, expected)  # merged train + test, in batch order
    meta = store.meta
    assert meta["split"]["train_count"] == 90 and meta["split"]["test_count"] == 10
    assert meta["skipped_count"] == 1 and meta["skipped"][0]["file"].endswith("data_batch_3")
    assert {f["path"] for f in meta["source"]["files"]} == {f"cifar-10-batches-py/{n}" for n in order}
    assert all(len(f["sha256"]) == 64 for f in meta["source"]["files"])
    assert meta["source"]["md5_verified"] is False
    assert_statistics(store)


def test_cifar10_frogs_official_split_keeps_every_training_frog(tmp_path):
    batches = make_cifar10(tmp_path, per_batch=20, corrupt=None)
    spec = {"source": "cifar10", "classes": [6], "split": "official", "test_images": 2, **NO_MD5}
    store = prepare("frogs", spec, tmp_path / "out", tmp_path)
    train_frogs = np.concatenate([imgs[labels == 6] for name, (imgs, labels) in batches.items() if name != "test_batch"])
    assert store.images.shape == (12, 3, 32, 32)  # 5 batches x 2 frogs + 2 test frogs
    np.testing.assert_array_equal(store.images[store.train_indices], train_frogs)
    test_imgs, test_labels = batches["test_batch"]
    test_frogs = test_imgs[test_labels == 6]
    for image in store.images[store.test_indices]:
        assert any(np.array_equal(image, frog) for frog in test_frogs)
    assert store.meta["classes"] == [6] and store.meta["class_names"] == ["frog"]
    with pytest.raises(ValueError, match="test_batch holds 2 images"):
        prepare("frogs", {**spec, "test_images": 3}, tmp_path / "out2", tmp_path)


def test_cifar10_resize_and_download_code_path(tmp_path, monkeypatch):
    """The download calls torchvision's download_and_extract_archive with the official URL and MD5."""
    import torchvision.datasets.utils as tvu

    from gannorm.data import cifar10

    calls = []

    def fake(url, download_root, filename=None, md5=None, **kwargs):
        calls.append((url, filename, md5))
        make_cifar10(Path(download_root).parent, per_batch=10, corrupt=None)

    monkeypatch.setattr(tvu, "download_and_extract_archive", fake)
    cifar10.download(tmp_path)
    assert calls == [(cifar10.URL, "cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a")]
    cifar10.download(tmp_path)  # files in place: no second download
    assert len(calls) == 1
    store = prepare("c16", {"source": "cifar10", "size": 16, "test_images": 5, **NO_MD5}, tmp_path / "out", tmp_path)
    assert store.images.shape == (60, 3, 16, 16)


def _md5(path):
    import hashlib

    return hashlib.md5(path.read_bytes()).hexdigest()


def test_cifar10_batches_must_have_the_published_md5(tmp_path, monkeypatch):
    """Downloaded or placed by hand, every batch (and the archive, when there) is checked against the
    published MD5; a mismatch stops preparation and says which file, both MD5s and the override."""
    from gannorm.data import cifar10

    make_cifar10(tmp_path, per_batch=5, corrupt=None)
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    with pytest.raises(cifar10.ChecksumMismatch) as err:
        prepare("mine", {"source": "cifar10", "test_images": 2}, tmp_path / "out", tmp_path)
    message = str(err.value)
    assert str(folder / "data_batch_1") in message and _md5(folder / "data_batch_1") in message
    assert "c99cafc152244af753f735de768cd75f" in message and "datasets.mine.verify_md5: false" in message
    assert not (tmp_path / "out").exists()

    # the same files with their MD5s published: accepted, and the sidecar says they were checked
    monkeypatch.setattr(cifar10, "BATCH_MD5", {p.name: _md5(p) for p in cifar10.expected_files(tmp_path)})
    store = prepare("mine", {"source": "cifar10", "test_images": 2}, tmp_path / "out", tmp_path)
    assert store.images.shape == (30, 3, 32, 32) and store.meta["source"]["md5_verified"] is True

    # one byte changed in a batch: refused, not skipped
    original = (folder / "data_batch_4").read_bytes()
    data = bytearray(original)
    data[len(data) // 2] ^= 1  # a pixel
    (folder / "data_batch_4").write_bytes(bytes(data))
    with pytest.raises(cifar10.ChecksumMismatch, match="data_batch_4: MD5"):
        prepare("mine", {"source": "cifar10", "test_images": 2}, tmp_path / "out2", tmp_path)
    prepare("mine", {"source": "cifar10", "test_images": 2, **NO_MD5}, tmp_path / "out2", tmp_path)

    # the archive, when it is still there, is checked too
    (folder / "data_batch_4").write_bytes(original)
    (tmp_path / "cifar10" / cifar10.ARCHIVE).write_bytes(b"not the archive")
    with pytest.raises(cifar10.ChecksumMismatch, match=f"{cifar10.ARCHIVE}: MD5 .*{cifar10.ARCHIVE_MD5}"):
        prepare("mine", {"source": "cifar10", "test_images": 2}, tmp_path / "out3", tmp_path)


def test_cifar10_published_md5s_are_torchvisions():
    from torchvision.datasets import CIFAR10

    from gannorm.data import cifar10

    assert cifar10.BATCH_MD5 == dict(CIFAR10.train_list + CIFAR10.test_list)
    assert cifar10.ARCHIVE_MD5 == CIFAR10.tgz_md5


def test_cifar10_crafted_batch_is_refused_without_running_it(tmp_path):
    import pickle

    from gannorm.data import cifar10

    make_cifar10(tmp_path, per_batch=5, corrupt=None)
    path = tmp_path / "cifar10" / "cifar-10-batches-py" / "data_batch_2"
    crafted = pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [Payload(tmp_path / "ran")]},
                           protocol=2)
    pickle.loads(crafted)  # the payload is live: an unrestricted load runs it
    assert (tmp_path / "ran").exists()
    (tmp_path / "ran").unlink()
    path.write_bytes(crafted)
    with pytest.raises(cifar10.UnsafePickle, match=r"data_batch_2: refused to load the global \w+\.open"):
        cifar10.load_batch(path)
    # not skipped like a corrupt batch: preparation stops (also with the MD5 check switched off)
    with pytest.raises(cifar10.UnsafePickle, match="data_batch_2"):
        prepare("mine", {"source": "cifar10", "test_images": 2, **NO_MD5}, tmp_path / "out", tmp_path)
    assert not (tmp_path / "ran").exists() and not (tmp_path / "out").exists()
    # bytes may only be latin-1 text (what a Python 3 protocol-2 pickle of bytes uses); else corrupt
    path.write_bytes(pickle.dumps({b"data": b"x"}, protocol=2).replace(b"latin1", b"utf_16"))
    with pytest.raises(pickle.UnpicklingError, match="data_batch_2: refused _codecs.encode"):
        cifar10.load_batch(path)


def test_cifar10_reads_batches_pickled_by_python2_numpy(tmp_path):
    """The published batches name numpy.core.multiarray._reconstruct (numpy 1.x, Python 2)."""
    import pickle

    from gannorm.data import cifar10

    images = np.arange(2 * 3072, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    data = pickle.dumps({b"batch_label": b"x", b"labels": [3, 9], b"data": images}, protocol=2)
    assert b"numpy._core.multiarray" in data or b"numpy.core.multiarray" in data
    path = tmp_path / "data_batch_1"
    path.write_bytes(data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    read, labels = cifar10.load_batch(path)
    np.testing.assert_array_equal(read, images.reshape(2, 3, 32, 32))
    assert labels.tolist() == [3, 9] and labels.dtype == np.int64


# --- CelebA ----------------------------------------------------------------------------------------


def test_celeba_central_crop_partition_split_and_skips(tmp_path):
    entries = make_celeba(tmp_path, count=12, corrupt=3, missing=5)
    spec = {"source": "celeba", "test_images": 2, "split_seed": 0}
    store = prepare("celeba", spec, tmp_path / "out", tmp_path)
    assert store.images.shape == (10, 3, 160, 160)
    for image in store.images[:3]:
        top, left = crop_origin(image)
        assert abs(top - 29) < 0.5 and abs(left - 9) < 0.5  # (218 - 160) / 2, (178 - 160) / 2
    skipped = {s["file"]: s["reason"] for s in store.meta["skipped"]}
    assert set(skipped) == {"img_align_celeba/000003.jpg", "img_align_celeba/000005.jpg"}
    assert "missing" in skipped["img_align_celeba/000005.jpg"]
    # the held-out images come from the official test partition (2): the last 4 files
    used = [name for name, _ in entries if name not in ("000003.jpg", "000005.jpg")]
    partition = dict(entries)
    assert all(partition[used[i]] == 2 for i in store.test_indices)
    assert store.meta["partition"] == {"0": 4, "1": 2, "2": 4}
    assert store.meta["source"]["files"][0]["path"] == "list_eval_partition.txt"
    assert store.meta["source"]["images"]["files"] == 10
    assert_statistics(store)


def test_celeba_resize_subset_and_errors(tmp_path):
    make_celeba(tmp_path, count=12, corrupt=None, missing=None)
    store = prepare("c32", {"source": "celeba", "size": 32, "max_images": 8, "split": "random", "test_images": 2},
                    tmp_path / "out", tmp_path)
    assert store.images.shape == (8, 3, 32, 32)
    with pytest.raises(ValueError, match="official test partition"):
        prepare("c", {"source": "celeba", "test_images": 5}, tmp_path / "bad", tmp_path)


def test_zero_usable_images_is_an_error_and_leaves_nothing(tmp_path):
    make_celeba(tmp_path, count=3, corrupt=None, missing=None)
    for path in (tmp_path / "celeba" / "img_align_celeba").iterdir():
        path.write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    with pytest.raises(StoreError, match="no usable images.*000001.jpg"):
        prepare("celeba", {"source": "celeba", "split": "random", "test_images": 1}, out, tmp_path)
    assert only_store_files(out) == set()


# --- LSUN ------------------------------------------------------------------------------------------

LSUN_ORIGINS = {(340, 300): (22, 42), (256, 256): (0, 0), (300, 256): (0, 22), (256, 320): (32, 0),
                (256, 282): (13, 0), (258, 256): (0, 1)}  # (w, h) -> (top, left) of the 256 crop


def test_lsun_lmdb_centre_crops_in_key_order(tmp_path):
    entries = make_lsun(tmp_path, corrupt=True)
    store = prepare("lsun", {"source": "lsun", "test_images": 1}, tmp_path / "out", tmp_path)
    usable = [(key, size) for key, size in entries if size is not None and size != (200, 250)]
    assert store.images.shape == (len(usable), 3, 256, 256)
    for image, (key, (width, height)) in zip(store.images, usable):
        top, left = LSUN_ORIGINS[(width, height)]
        expected = coord_image(width, height)[top:top + 256, left:left + 256].transpose(2, 0, 1)
        np.testing.assert_array_equal(image, expected)  # lossless WebP: exact pixels
    reasons = {s["file"]: s["reason"] for s in store.meta["skipped"]}
    corrupt_key = next(key for key, size in entries if size is None)
    small_key = next(key for key, size in entries if size == (200, 250))
    assert set(reasons) == {corrupt_key, small_key} and "smaller than the 256x256 crop" in reasons[small_key]
    assert store.meta["source"]["entries"] == len(LSUN_SIZES) + 1
    assert_statistics(store)


def test_lsun_max_images_takes_the_first_keys(tmp_path):
    entries = make_lsun(tmp_path, corrupt=False)
    store = prepare("lsun", {"source": "lsun", "max_images": 3, "size": 64, "test_images": 1},
                    tmp_path / "out", tmp_path)
    first = [size for _, size in entries[:3]]
    assert store.meta["source"]["used_entries"] == 3
    assert store.images.shape[1:] == (3, 64, 64)
    assert store.images.shape[0] == sum(size != (200, 250) for size in first)


# --- ImageNet subset for super-resolution ------------------------------------------------------------


def test_imagenet_pairs_subset_monitor_and_corrupt_replacement(tmp_path):
    train = make_imagenet(tmp_path, classes=3, per_class=4, corrupt="n00000001/img_01.JPEG")
    (tmp_path / "imagenet" / "classes.txt").write_text("# two of three\nn00000000\nn00000001\n")
    spec = {"source": "imagenet", "classes_file": "classes.txt", "max_images": 7, "size": 64, "scale": 4,
            "resize": False, "test_images": 2, "split_seed": 3}
    store = prepare("sr", spec, tmp_path / "out", tmp_path)
    # 8 candidates in the two listed classes, one corrupt: exactly 7 usable pairs
    assert store.images.shape == (7, 3, 64, 64) and store.inputs.shape == (7, 3, 16, 16)
    assert [s["file"] for s in store.meta["skipped"]] == ["n00000001/img_01.JPEG"]
    files = store.meta["image_files"]
    assert len(files) == 7 and all(f.split("/")[0] in ("n00000000", "n00000001") for f in files)
    for image, small, rel in zip(store.images, store.inputs, files):
        width, height = Image.open(train / rel).size
        top, left = crop_origin(image)
        assert abs(top - round((height - 64) / 2)) < 0.6 and abs(left - round((width - 64) / 2)) < 0.6
        import torchvision.transforms.functional as TF
        from torchvision.transforms import InterpolationMode

        expected = TF.resize(Image.fromarray(image.transpose(1, 2, 0)), [16, 16],
                             interpolation=InterpolationMode.BICUBIC, antialias=True)
        np.testing.assert_array_equal(small, np.asarray(expected).transpose(2, 0, 1))
    monitor = store.meta["monitor"]
    assert monitor["source"] == "n00000002/img_00.JPEG"  # first image of the unused class
    assert Image.open(tmp_path / "out" / "monitor_hr.png").size == (64, 64)
    assert Image.open(tmp_path / "out" / "monitor_lr.png").size == (16, 16)
    assert store.meta["inputs"]["shape"] == [7, 3, 16, 16]
    assert_statistics(store)
    again = prepare("sr", spec, tmp_path / "out2", tmp_path)
    assert again.meta["image_files"] == files  # deterministic subset


def test_imagenet_resize_short_side_then_crop(tmp_path):
    make_imagenet(tmp_path, classes=2, per_class=2, corrupt=None, sizes=((120, 100), (100, 150)))
    spec = {"source": "imagenet", "size": 96, "scale": 4, "test_images": 1, "monitor": "n00000001/img_01.JPEG",
            "max_images": 3}
    store = prepare("sr", spec, tmp_path / "out", tmp_path)
    assert store.images.shape == (3, 3, 96, 96) and store.inputs.shape == (3, 3, 24, 24)
    # the named monitor is out of set: of the 4 images it is the one not stored
    assert store.meta["monitor"]["source"] == "n00000001/img_01.JPEG"
    assert sorted(store.meta["image_files"]) == ["n00000000/img_00.JPEG", "n00000000/img_01.JPEG",
                                                 "n00000001/img_00.JPEG"]
    import torchvision.transforms.functional as TF
    from torchvision.transforms import InterpolationMode

    for image, rel in zip(store.images, store.meta["image_files"]):
        decoded = Image.open(tmp_path / "imagenet" / "train" / rel).convert("RGB")
        short = TF.resize(decoded, 96, interpolation=InterpolationMode.BICUBIC, antialias=True)
        assert min(short.size) == 96
        np.testing.assert_array_equal(image, np.asarray(TF.center_crop(short, [96, 96])).transpose(2, 0, 1))


# --- photo patches (bundled) ---------------------------------------------------------------------------


def test_photo_patches_are_exact_crops_with_a_held_out_monitor(tmp_path):
    from gannorm.data.photo_patches import load_photo

    spec = {"source": "photo_patches", "patches": 12, "size": 32, "test_images": 3, "photos": ["astronaut", "coffee"],
            "scale": 4, "split_seed": 5}
    store = prepare("patches", spec, tmp_path / "out", tmp_path)
    assert store.images.shape == (12, 3, 32, 32) and store.inputs.shape == (12, 3, 8, 8)
    photos = [load_photo("astronaut"), load_photo("coffee")]
    for image, (p, top, left) in zip(store.images, store.meta["patch_origins"]):
        np.testing.assert_array_equal(image, photos[p][top:top + 32, left:left + 32].transpose(2, 0, 1))
    assert store.meta["monitor"]["source"] == "chelsea"
    chelsea = load_photo("chelsea")
    monitor = np.asarray(Image.open(tmp_path / "out" / "monitor.png"))
    np.testing.assert_array_equal(monitor, chelsea[134:166, 210:242])  # centre of 300 x 451
    assert len(store.meta["source"]["photos"][0]["pixels_sha256"]) == 64
    assert_statistics(store)
    again = prepare("patches", spec, tmp_path / "out2", tmp_path)
    np.testing.assert_array_equal(again.images, store.images)


# --- faults: interrupted preparation ---------------------------------------------------------------


def test_interrupted_preparation_leaves_no_store_and_a_rerun_is_clean(tmp_path, monkeypatch):
    from gannorm.data import common

    make_imagenet(tmp_path, classes=2, per_class=4, corrupt=None)
    spec = {"source": "imagenet", "size": 64, "scale": 4, "resize": False, "test_images": 1,
            "monitor": "n00000001/img_03.JPEG"}
    out = tmp_path / "out"
    prepare("sr", spec, out, tmp_path)  # an older complete store is there
    real = common.decode_rgb
    calls = {"n": 0}

    def dying(data, name=""):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt("killed")
        return real(data, name)

    monkeypatch.setattr("gannorm.data.imagenet.decode_rgb", dying)
    with pytest.raises(KeyboardInterrupt):
        prepare("sr", spec, out, tmp_path)
    assert not any(name in only_store_files(out) for name in ("images.npy", "inputs.npy", "store.json"))
    assert not [n for n in only_store_files(out) if "partial" in n or "exact" in n]
    with pytest.raises(StoreError, match="missing"):
        open_store(out)
    monkeypatch.setattr("gannorm.data.imagenet.decode_rgb", real)
    assert prepare("sr", spec, out, tmp_path).images.shape == (7, 3, 64, 64)  # 8 files less the monitor


def test_store_with_mismatched_inputs_is_refused(tmp_path):
    make_imagenet(tmp_path, classes=2, per_class=2, corrupt=None)
    out = tmp_path / "out"
    prepare("sr", {"source": "imagenet", "size": 64, "scale": 4, "test_images": 1, "max_images": 3}, out, tmp_path)
    np.save(out / "inputs.npy", np.zeros((2, 3, 16, 16), np.uint8))
    with pytest.raises(StoreError, match="inputs shape"):
        open_store(out)


# --- download rules' checks ------------------------------------------------------------------------------


def test_download_check_lists_the_expected_files(tmp_path, capsys):
    from gannorm.data import download

    with pytest.raises(download.MissingFiles) as err:
        download.ensure("imagenet", tmp_path, [{"classes_file": "classes.txt"}])
    message = str(err.value)
    assert f"{tmp_path}/imagenet/train/<class>/<image>.JPEG" in message and "image-net.org" in message
    with pytest.raises(SystemExit) as exit_info:
        download.main(["--source", "celeba", "--data-root", str(tmp_path), "--offline"])
    assert exit_info.value.code == 1
    printed = capsys.readouterr().err
    assert f"{tmp_path}/celeba/list_eval_partition.txt" in printed
    assert f"{tmp_path}/celeba/img_align_celeba/000001.jpg" in printed and "mmlab.ie.cuhk.edu.hk" in printed
    with pytest.raises(download.MissingFiles, match=r"bedroom_train_lmdb/data\.mdb[\s\S]*dl\.yf\.io"):
        download.ensure("lsun", tmp_path, [{"download": False}])
    with pytest.raises(download.MissingFiles, match="data_batch_1[\\s\\S]*test_batch[\\s\\S]*cifar-10-python.tar.gz"):
        download.ensure("cifar10", tmp_path, offline=True)


def test_download_check_passes_on_placed_files(tmp_path):
    from gannorm.data import download

    make_cifar10(tmp_path, per_batch=5, corrupt=None)
    make_imagenet(tmp_path, classes=2, per_class=1, corrupt=None)
    make_lsun(tmp_path, corrupt=False)
    make_celeba(tmp_path, count=3, corrupt=None, missing=None)
    for source in ("cifar10", "imagenet", "lsun", "celeba"):
        manifest = json.loads(download.ensure(source, tmp_path).read_text())  # the network is refused (fixture)
        assert manifest["source"] == source and manifest["files"]
    assert download.main(["--source", "cifar10", "--data-root", str(tmp_path)]) == 0


def test_download_specs_keep_only_the_download_keys():
    from gannorm.data.download import download_specs

    datasets = {"a": {"source": "lsun", "category": "tower", "size": 64, "download": False},
                "b": {"source": "cifar10", "test_images": 10},
                "c": {"source": "lsun", "max_images": 4}}
    assert download_specs(datasets, "lsun") == [{"category": "tower", "download": False}, {}]
    assert download_specs(datasets, "cifar10") == [{}]
    assert download_specs(datasets, "imagenet") == []


# --- configuration ----------------------------------------------------------------------------------------


def validated(config):
    from snakemake.utils import validate

    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"))
    return config


def test_paper_config_is_valid_and_names_all_four_datasets():
    config = validated(yaml.safe_load((REPO / "configs/paper.yaml").read_text()))
    check_config(config)
    sources = {spec["source"] for spec in config["datasets"].values()}
    assert sources == {"cifar10", "celeba", "lsun", "imagenet", "toy2d"}
    assert config["datasets"]["cifar10_frogs"]["classes"] == [6]
    assert config["datasets"]["imagenet_sr"]["max_images"] == 19439


@pytest.mark.parametrize("dataset, match", [
    ({"source": "cifar10", "crop": 160}, "crop: not a key of source 'cifar10'"),
    ({"source": "celeba", "verify_md5": False}, "verify_md5: not a key of source 'celeba'"),
    ({"source": "photo_patches", "photos": ["chelsea"], "monitor": "chelsea", "test_images": 10}, "held out"),
    ({"source": "celeba", "crop": 200}, "exceeds the 178 px"),
    ({"source": "cifar10", "classes": [6], "split": "official", "test_images": 2000}, "at most the 1000"),
    ({"source": "celeba", "split": "merged"}, "not a split of source 'celeba'"),
    ({"source": "imagenet", "size": 100, "scale": 3}, "not divisible"),
])
def test_config_rejects_inconsistent_datasets(dataset, match):
    config = {"name": "t", "datasets": {"d": dataset, "digits": {"source": "digits", "test_images": 10}},
              "studies": {"s": {"paper": "xiang_li", "dataset": "digits", "variants": ["vanilla"], "seeds": [0]}}}
    with pytest.raises(ConfigError, match=match):
        check_config(validated(config))


def test_config_checks_dcgan_sizes_of_real_datasets():
    config = {"name": "t", "datasets": {"sr": {"source": "imagenet", "test_images": 10}},
              "studies": {"s": {"paper": "xiang_li", "dataset": "sr", "variants": ["vanilla"], "seeds": [0]}}}
    with pytest.raises(ConfigError, match="datasets.sr.size .*dcgan.*288"):
        check_config(validated(config))


# --- Snakemake ------------------------------------------------------------------------------------------------

SMALL_CONFIG = {
    "name": "small",
    "device": "cpu",
    "datasets": {
        "cifar10": {"source": "cifar10", "test_images": 10, "verify_md5": False},
        "frogs": {"source": "cifar10", "classes": [6], "split": "official", "test_images": 2, "verify_md5": False},
        "celeba": {"source": "celeba", "size": 32, "test_images": 2},
        "lsun": {"source": "lsun", "max_images": 4, "size": 64, "test_images": 1},
        "sr": {"source": "imagenet", "size": 64, "scale": 4, "max_images": 5, "test_images": 1},
        "patches": {"source": "photo_patches", "patches": 16, "test_images": 4},
    },
    "studies": {"s": {"paper": "xiang_li", "dataset": "cifar10", "variants": ["vanilla"], "seeds": [0], "train": {"eval_images": 5},
                      "evaluate": {"images": 5, "reconstructions": 2}}},
}


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(workdir / "small.yaml"), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def store_targets(config, datasets=None):
    return [f"results/{config['name']}/data/{d}/store.json" for d in (datasets or config["datasets"])]


def job_counts(output: str) -> dict[str, int]:
    counts, table = {}, False
    for line in output.splitlines():
        if line.startswith("Job stats"):
            table, counts = True, {}
            continue
        fields = line.split()
        if table and len(fields) == 2 and fields[1].isdigit():
            counts[fields[0]] = int(fields[1])
        elif table and fields and fields[0] == "total":
            table = False
    return counts


def test_snakemake_dry_run_lists_download_and_prepare_jobs(tmp_path):
    (tmp_path / "small.yaml").write_text(yaml.safe_dump(SMALL_CONFIG))
    result = snakemake(tmp_path, "-n", *store_targets(SMALL_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    counts = job_counts(result.stdout + result.stderr)
    assert counts == {"download_cifar10": 1, "download_celeba": 1, "download_lsun": 1, "download_imagenet": 1,
                      "prepare_dataset": 6, "total": 10}


def test_snakemake_downloads_checks_and_prepares_placed_files(tmp_path):
    """A real (tiny) run of download_cifar10 + prepare_dataset on placed files, and of a bundled source."""
    config = {**SMALL_CONFIG, "data_root": str(tmp_path / "raw"),
              "datasets": {k: SMALL_CONFIG["datasets"][k] for k in ("cifar10", "patches")}}
    (tmp_path / "small.yaml").write_text(yaml.safe_dump(config))
    make_cifar10(tmp_path / "raw", per_batch=10, corrupt="test_batch")
    result = snakemake(tmp_path, "--cores", "2", *store_targets(config))
    assert result.returncode == 0, result.stdout + result.stderr
    store = open_store(tmp_path / "results/small/data/cifar10")
    assert store.images.shape == (50, 3, 32, 32) and store.meta["skipped_count"] == 1
    log = (tmp_path / "results/small/logs/prepare_dataset/cifar10.log").read_text()
    assert "skipped" in log and "test_batch" in log
    assert json.loads((tmp_path / "raw/cifar10/download.json").read_text())["source"] == "cifar10"
    shutil.rmtree(tmp_path / "raw" / "cifar10")
    offline = {"cifar10": {"source": "cifar10", "download": False, "test_images": 10}}
    (tmp_path / "small.yaml").write_text(yaml.safe_dump({**config, "datasets": offline}))
    failed = snakemake(tmp_path, "--cores", "1", *store_targets(config, ["cifar10"]))
    assert failed.returncode != 0
    assert "data_batch_1" in failed.stdout + failed.stderr  # the message reaches the terminal
