"""Faults and bad input (issue 11): a changed store is noticed before training and by resume, a
missing package is named as such, skipped files are reported on the console and in the report."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from gannorm.data.store import StoreError, open_store


@pytest.fixture
def store_copy(digits_store, tmp_path):
    target = tmp_path / "digits"
    shutil.copytree(digits_store.directory, target)
    return target


def test_the_store_records_array_checksums_and_verify_names_a_truncated_file(store_copy):
    store = open_store(store_copy)
    record = store.meta["arrays"]["images.npy"]
    assert record["bytes"] == (store_copy / "images.npy").stat().st_size and len(record["sha256"]) == 64
    assert store.meta["config"]["source"] == "digits"  # the dataset config it was prepared from
    store.verify()
    path = store_copy / "images.npy"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(StoreError, match=r"images\.npy: \d+ bytes, but store.json recorded"):
        store.verify()


def test_verify_names_a_changed_array(store_copy):
    images = np.load(store_copy / "images.npy", mmap_mode="r+")
    images[0, 0, 0, 0] ^= 1
    images.flush()
    del images
    with pytest.raises(StoreError, match=r"images\.npy: SHA-256 .* the file was changed"):
        open_store(store_copy).verify()


def _rechecksum(directory) -> None:
    """Record the arrays' current checksums, as a rebuild of the store from changed raw files would."""
    from gannorm.data.store import sha256_file

    meta = json.loads((directory / "store.json").read_text())
    path = directory / "images.npy"
    meta["arrays"]["images.npy"] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
    (directory / "store.json").write_text(json.dumps(meta))


def test_resume_on_a_store_with_other_pixels_starts_over_and_says_why(store_copy, small_study, tmp_path,
                                                                     monkeypatch, capsys):
    from gannorm.train import gan
    from gannorm.train.loop import train_dcgan

    spec = json.loads(json.dumps(small_study))
    spec["train"].update(iterations=20, resume_every=5)
    step = gan.GANObjective.step

    def crash_at_12(self, iteration):
        if iteration == 12:
            raise KeyboardInterrupt("simulated crash")
        return step(self, iteration)

    monkeypatch.setattr(gan.GANObjective, "step", crash_at_12)
    with pytest.raises(KeyboardInterrupt):
        train_dcgan(open_store(store_copy), spec, study="s", variant="batch", seed=0, out_dir=tmp_path / "run",
                    device=torch.device("cpu"), progress=False)
    assert (tmp_path / "run" / "resume" / "latest.pt").is_file()
    monkeypatch.setattr(gan.GANObjective, "step", step)

    images = np.load(store_copy / "images.npy", mmap_mode="r+")
    images[:] = 255 - np.asarray(images)  # the same shape and split, other pixels
    images.flush()
    del images
    _rechecksum(store_copy)
    capsys.readouterr()
    result = train_dcgan(open_store(store_copy), spec, study="s", variant="batch", seed=0, out_dir=tmp_path / "run",
                         device=torch.device("cpu"), progress=False)
    assert result.resumed_from == [] and result.iterations_done == 20
    assert "was written for another store content of this run; starting over" in capsys.readouterr().err
    fresh = train_dcgan(open_store(store_copy), spec, study="s", variant="batch", seed=0, out_dir=tmp_path / "fresh",
                        device=torch.device("cpu"), progress=False)
    drop = lambda rows: [{k: v for k, v in r.items() if k != "wall_seconds"} for r in rows]  # noqa: E731
    assert drop(result.rows) == drop(fresh.rows)


def test_a_missing_package_stops_preparation_and_is_named(monkeypatch):
    from gannorm.data.common import MissingPackage, map_ordered

    def decode(item):
        raise ModuleNotFoundError("No module named 'PIL'", name="PIL")

    for threads in (1, 2):
        with pytest.raises(MissingPackage, match="the Python package 'PIL' is missing"):
            list(map_ordered(decode, range(10), threads=threads))

    def bad(item):
        raise OSError("cannot identify image file")

    assert all(isinstance(result, OSError) for _, result in map_ordered(bad, range(3), threads=2))


def test_skipped_files_are_in_the_report_and_on_the_prepare_console(tmp_path, capsys):
    from gannorm.cli import main
    from gannorm.report.latex import methods
    from gannorm.studies import get

    meta = {"shape": [98, 3, 8, 8], "count": 98, "skipped_count": 2, "split": {"train_count": 90, "test_count": 8}}
    text = methods("s", get("xiang_li"), {"dataset": "d", "variants": ["batch"], "seeds": [0]}, meta)
    assert "98 of 100 source files used, 2 unreadable ones skipped, listed in the store's \\texttt{store.json}" in text
    main(["prepare", "--dataset", "digits", "--spec", json.dumps({"source": "digits", "size": 8, "test_images": 50}),
          "--out", str(tmp_path / "digits")])
    assert capsys.readouterr().out.strip().splitlines()[-1] == "digits: 1797 of 1797 source items used"


def test_the_raw_files_fingerprint_changes_when_an_image_or_the_partition_file_changes(tmp_path):
    import os

    from gannorm.data.download import MANIFEST, raw_fingerprint

    folder = tmp_path / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    (folder / "img_align_celeba" / "000001.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (folder / "list_eval_partition.txt").write_text("000001.jpg 0\n")
    assert raw_fingerprint(tmp_path, "missing_source") == ""
    before = raw_fingerprint(tmp_path, "celeba")
    (folder / MANIFEST).write_text("{}")  # the download manifest is not a raw file
    assert raw_fingerprint(tmp_path, "celeba") == before
    (folder / "list_eval_partition.txt").write_text("000001.jpg 2\n")  # same size, other content
    edited = raw_fingerprint(tmp_path, "celeba")
    assert edited != before
    image = folder / "img_align_celeba" / "000001.jpg"
    stat = image.stat()
    image.write_bytes(b"\xff\xd8 a repaired jpeg!!")
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10 ** 9))
    assert raw_fingerprint(tmp_path, "celeba") != edited


@pytest.mark.parametrize("study", ["mullery_iwgan", "mullery_sr"])
def test_bn_clip_without_the_stores_statistics_is_an_error_naming_the_store(study, tmp_path):
    """Mullery & Whelan's bn_clip head starts from the data's per-channel mean and std: a store
    without them must not silently give gamma 1, beta 0."""
    from gannorm.cost import load_config
    from gannorm.data import prepare
    from gannorm.train.loop import objective_class

    config = load_config("configs/smoke.yaml")
    spec = config["studies"][study]
    store = prepare("patches", config["datasets"][spec["dataset"]], tmp_path / "patches")
    meta = json.loads((store.directory / "store.json").read_text())
    del meta["mean_pm1"]
    (store.directory / "store.json").write_text(json.dumps(meta))
    broken = open_store(store.directory)
    with pytest.raises(ValueError, match=r"patches/store.json: no per-channel mean_pm1"):
        objective_class(spec["architecture"])(broken, spec, "bn_clip", 0, torch.device("cpu"),
                                              torch.Generator().manual_seed(0))
