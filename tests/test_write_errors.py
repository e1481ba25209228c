"""A write that fails (disk full) names the file and the OS reason, and leaves what was complete
before it usable: the previous ``best.pt`` and resume checkpoint load, no temporary file is left."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import types

import pytest
import torch

from gannorm.models.checkpoint import load_checkpoint, save_checkpoint
from gannorm.train.checkpoint import read_resume, save_resume

ENOSPC = f"No space left on device (errno {errno.ENOSPC})"


class _FullDisk:
    """A binary file whose disk fills after ``room`` bytes: writes up to it, then ``ENOSPC``."""

    def __init__(self, handle, room):
        self.handle, self.room = handle, room

    def write(self, data):
        data = bytes(data)
        n = min(len(data), self.room)
        self.handle.write(data[:n])
        self.handle.flush()
        self.room -= n
        if n < len(data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return n

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()


def _fill_disk_for_open(monkeypatch, room=100):
    """Every file :mod:`gannorm.io` opens for writing fills the disk after ``room`` bytes."""
    import gannorm.io

    def full_open(file, mode="r", *args, **kwargs):
        handle = open(file, mode, *args, **kwargs)
        return _FullDisk(handle, room) if "w" in mode and "b" in mode else handle

    monkeypatch.setattr(gannorm.io, "open", full_open, raising=False)


def _fill_disk_for_resume(monkeypatch, room=100, after=0):
    """The resume checkpoint's file fills the disk after ``room`` bytes, from the ``after+1``-th write on."""
    import gannorm.train.checkpoint as checkpoint

    calls = []

    def fdopen(fd, *args, **kwargs):
        calls.append(fd)
        handle = os.fdopen(fd, *args, **kwargs)
        return _FullDisk(handle, room) if len(calls) > after else handle

    monkeypatch.setattr(checkpoint, "os", types.SimpleNamespace(**{**vars(os), "fdopen": fdopen}))


def _leftovers(folder):
    return sorted(p.name for p in folder.rglob(".*"))


def test_a_full_disk_while_writing_best_pt_names_the_file_and_keeps_the_previous_one(tmp_path, monkeypatch):
    path = tmp_path / "checkpoints" / "best.pt"
    save_checkpoint(path, {"weight": torch.arange(10.0), "iteration": 1})
    before = path.read_bytes()
    _fill_disk_for_open(monkeypatch)
    with pytest.raises(OSError) as err:
        save_checkpoint(path, {"weight": torch.arange(10000.0), "iteration": 2})
    assert str(err.value) == f"cannot write {path}: {ENOSPC}"
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(path)
    assert path.read_bytes() == before and load_checkpoint(path)["iteration"] == 1
    assert _leftovers(tmp_path) == []


def test_a_full_disk_while_writing_a_resume_checkpoint_keeps_latest_and_previous(tmp_path, monkeypatch):
    resume = tmp_path / "resume"
    save_resume(resume, {"iteration": 5})
    save_resume(resume, {"iteration": 10})
    latest, previous = (resume / "latest.pt").read_bytes(), (resume / "previous.pt").read_bytes()
    _fill_disk_for_resume(monkeypatch)
    with pytest.raises(OSError) as err:
        save_resume(resume, {"iteration": 15, "weight": torch.arange(10000.0)})
    assert str(err.value) == f"cannot write {resume / 'latest.pt'}: {ENOSPC}"
    assert err.value.errno == errno.ENOSPC
    assert (resume / "latest.pt").read_bytes() == latest and (resume / "previous.pt").read_bytes() == previous
    assert read_resume(resume / "latest.pt")["iteration"] == 10
    assert _leftovers(tmp_path) == []


def test_every_atomic_write_names_the_file(tmp_path, monkeypatch):
    import gannorm.train.loop as loop
    from gannorm.io import write_json
    from gannorm.train.loop import write_metrics

    class FullText:
        def __init__(self, handle):
            self.handle = handle

        def write(self, text):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    monkeypatch.setattr(loop, "open", lambda *a, **k: FullText(open(*a, **k)), raising=False)
    with pytest.raises(OSError, match="^" + re.escape(f"cannot write {tmp_path / 'metrics.csv'}: {ENOSPC}") + "$"):
        write_metrics(tmp_path / "metrics.csv", [{"iteration": 1}], ("iteration",))  # opened in text mode
    monkeypatch.undo()

    def no_space(self, text, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("pathlib.Path.write_text", no_space)
    with pytest.raises(OSError, match="^" + re.escape(f"cannot write {tmp_path / 'run.json'}: {ENOSPC}") + "$"):
        write_json(tmp_path / "run.json", {"a": 1})
    assert _leftovers(tmp_path) == []


def test_other_errors_of_the_block_pass_unchanged(tmp_path):
    from gannorm.io import atomic_path

    with pytest.raises(RuntimeError, match="^shape mismatch$"):
        with atomic_path(tmp_path / "x.pt"):
            raise RuntimeError("shape mismatch")
    with pytest.raises(FileNotFoundError) as err:  # about the source of a copy: it names that file
        with atomic_path(tmp_path / "y.png") as tmp:
            import shutil

            shutil.copyfile(tmp_path / "missing.png", tmp)
    assert err.value.filename == str(tmp_path / "missing.png")
    assert list(tmp_path.iterdir()) == []


def test_the_training_cli_reports_a_full_disk_in_one_line_and_the_resume_checkpoint_stays_usable(
        digits_store, small_study, tmp_path, monkeypatch, one_thread):
    from gannorm.cli import main

    small_study["train"].update(iterations=15, resume_every=5, log_every=5, eval_every=5, sample_every=15)
    out = tmp_path / "run"
    _fill_disk_for_resume(monkeypatch, after=1)  # the second resume checkpoint (iteration 10) fills the disk
    with pytest.raises(SystemExit) as err:
        main(["train", "--store", str(digits_store.directory), "--spec", json.dumps(small_study), "--study", "s",
              "--variant", "batch", "--seed", "0", "--out", str(out), "--device", "cpu"])
    assert err.value.code == f"error: cannot write {out / 'resume' / 'latest.pt'}: {ENOSPC}"
    assert read_resume(out / "resume" / "latest.pt")["iteration"] == 5
    assert not list((out / "resume").glob(".latest.pt.*"))
    monkeypatch.undo()
    from gannorm.train.loop import train_dcgan

    resumed = train_dcgan(digits_store, small_study, study="s", variant="batch", seed=0, out_dir=out,
                          device=torch.device("cpu"), progress=False)
    assert resumed.resumed_from == [5] and resumed.iterations_done == 15


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs at ``tmp_path / "disk"`` (needs root, or a user namespace); skipped where
    mounting is not allowed."""
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {(done.stderr or done.stdout).strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=False)  # lazy: a busy mount is still detached


def test_a_really_full_disk_names_the_file_and_the_reason(full_disk):
    best, resume = full_disk / "checkpoints" / "best.pt", full_disk / "resume"
    save_checkpoint(best, {"weight": torch.arange(10.0), "iteration": 1})
    save_resume(resume, {"iteration": 5})
    kept = best.read_bytes(), (resume / "latest.pt").read_bytes()
    big = torch.zeros(100_000)  # 400 kB on a 64 kB disk
    with pytest.raises(OSError) as err:
        save_checkpoint(best, {"weight": big, "iteration": 2})
    assert str(err.value) == f"cannot write {best}: {ENOSPC}"
    with pytest.raises(OSError) as err:
        save_resume(resume, {"iteration": 10, "weight": big})
    assert str(err.value) == f"cannot write {resume / 'latest.pt'}: {ENOSPC}"
    assert (best.read_bytes(), (resume / "latest.pt").read_bytes()) == kept
    assert load_checkpoint(best)["iteration"] == 1 and read_resume(resume / "latest.pt")["iteration"] == 5
    assert _leftovers(full_disk) == []


def test_torch_writer_errors_without_an_errno_are_named_by_the_free_space(full_disk):
    """``torch.save`` to a path hides the errno (``unexpected pos ...``); :func:`atomic_path` tells a
    full disk by the folder's free space."""
    from gannorm.io import atomic_path

    with pytest.raises(OSError) as err:
        with atomic_path(full_disk / "x.pt") as tmp:
            torch.save({"weight": torch.zeros(100_000)}, tmp)
    assert str(err.value) == f"cannot write {full_disk / 'x.pt'}: {ENOSPC}"
    assert list(full_disk.iterdir()) == []
