"""gannorm.io.atomic_path: the file is fsynced before the rename and its folder after it, so a
result survives a crash of the machine as well as of the job; mode and clean-up on failure."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from gannorm import io


def _record(monkeypatch, events, fail=None):
    """Record os.fsync (of a file or a folder, by inode) and os.replace calls; ``fail`` in
    ("file", "dir") makes fsync of that kind raise."""
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        info = os.fstat(fd)
        kind = "dir" if stat.S_ISDIR(info.st_mode) else "file"
        events.append(("fsync", kind, info.st_ino))
        if kind == fail:
            raise OSError(errno.EINVAL, "fsync not supported")
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.stat(src).st_ino))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)


def test_atomic_path_fsyncs_the_file_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    events: list[tuple] = []
    _record(monkeypatch, events)
    target = tmp_path / "sub" / "result.txt"
    with io.atomic_path(target) as tmp:
        tmp.write_text("hello\n")
    file_ino, dir_ino = target.stat().st_ino, target.parent.stat().st_ino
    assert events == [("fsync", "file", file_ino), ("replace", file_ino), ("fsync", "dir", dir_ino)]
    assert target.read_text() == "hello\n"


def test_atomic_path_ignores_a_folder_fsync_the_filesystem_refuses(tmp_path, monkeypatch):
    events: list[tuple] = []
    _record(monkeypatch, events, fail="dir")
    target = tmp_path / "result.txt"
    with io.atomic_path(target) as tmp:
        tmp.write_text("x")
    assert target.read_text() == "x" and [e[:2] for e in events][-1] == ("fsync", "dir")


def test_atomic_path_keeps_the_old_file_when_the_file_fsync_fails(tmp_path, monkeypatch):
    target = tmp_path / "result.txt"
    target.write_text("old")
    _record(monkeypatch, [], fail="file")
    with pytest.raises(OSError, match="fsync not supported"):
        with io.atomic_path(target) as tmp:
            tmp.write_text("new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.txt"]  # the temporary file is removed


def test_atomic_path_mode_follows_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        with io.atomic_path(tmp_path / "r.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r.txt").stat().st_mode) == 0o640
