"""Checkpoints are data, never code: ``best.pt``/``last.pt`` and the resume checkpoints are read with
``torch.load(weights_only=True)``, so a crafted file cannot run anything; what training writes is made
of plain types that such a load accepts."""

from __future__ import annotations

import hashlib
import io
import random
import re

import numpy as np
import pytest
import torch

from data_fixtures import Payload

from gannorm.models.checkpoint import UnsafeCheckpoint, load_checkpoint, save_checkpoint
from gannorm.train.checkpoint import RESUME_MAGIC, CorruptCheckpoint, load_resume, read_resume, save_resume
from gannorm.train.checkpoint import rng_states, set_rng_states
from gannorm.train.loop import RESUME_FORMAT


def _crafted_state(marker):
    return {"format": RESUME_FORMAT, "fingerprint": "x", "iteration": 7, "model": {"architecture": "dcgan"},
            "generator": {"weight": Payload(marker)}}


def _payload_bytes(marker) -> bytes:
    buffer = io.BytesIO()
    torch.save(_crafted_state(marker), buffer)
    return buffer.getvalue()


def _write_crafted_resume(directory, marker, name="latest.pt"):
    """A resume file with a valid header and checksum (whoever can write the file can compute it)."""
    payload = _payload_bytes(marker)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(RESUME_MAGIC + b" " + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
    return path


def test_the_crafted_payload_runs_code_when_loaded_without_restrictions(tmp_path):
    """The fixture is live: an unrestricted load creates the marker (so the tests below can fail)."""
    marker = tmp_path / "ran"
    torch.load(io.BytesIO(_payload_bytes(marker)), weights_only=False)
    assert marker.exists()


def test_crafted_model_checkpoint_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "checkpoints" / "best.pt"
    path.parent.mkdir()
    path.write_bytes(_payload_bytes(marker))
    with pytest.raises(UnsafeCheckpoint, match="best.pt") as err:
        load_checkpoint(path)
    assert not marker.exists()
    assert re.search(r"it holds code \(\w+\.open\)", str(err.value)) and len(str(err.value)) < 600
    assert isinstance(err.value, RuntimeError)  # what load_checkpoint documented before


def test_crafted_resume_checkpoint_with_a_valid_checksum_is_refused(tmp_path):
    marker = tmp_path / "ran"
    resume = tmp_path / "resume"
    path = _write_crafted_resume(resume, marker)
    with pytest.raises(CorruptCheckpoint, match="latest.pt: not usable") as err:
        read_resume(path)
    assert re.search(r"it holds code \(\w+\.open\)", str(err.value)) and len(str(err.value)) < 600
    assert "weights_only" not in str(err.value)
    messages: list[str] = []
    assert load_resume(resume, log=messages.append) is None
    assert any(str(path) in m and "not usable" in m for m in messages)
    _write_crafted_resume(resume, marker, "previous.pt")
    messages.clear()
    assert load_resume(resume, log=messages.append) is None
    assert any("previous.pt: not usable" in m and "starting over" in m for m in messages)
    assert not marker.exists()


def test_training_starts_over_on_a_crafted_resume_checkpoint(digits_store, small_study, tmp_path, capsys):
    from gannorm.train.loop import train_dcgan

    marker = tmp_path / "ran"
    path = _write_crafted_resume(tmp_path / "run" / "resume", marker)
    small_study["train"].update(iterations=10, resume_every=5)
    result = train_dcgan(digits_store, small_study, study="s", variant="batch", seed=0, out_dir=tmp_path / "run",
                         device=torch.device("cpu"), progress=False)
    assert not marker.exists()
    assert result.resumed_from == [] and result.iterations_done == 10
    err = capsys.readouterr().err
    assert f"{path}: not usable" in err and "starting over" in err
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")  # what it wrote loads safely
    assert state["iteration"] == 10


# --- every form of code in a pickle is refused by name, never run, never "load with weights_only=False" --

class _System:
    """``os.system`` through ``__reduce__`` (pickled as ``posix.system``)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


class _Eval:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (eval, (f"open({self.marker!r}, 'w').close()",))


class _Popen:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import subprocess

        return (subprocess.Popen, (["touch", self.marker],))


class _Custom:
    """A class of its own: its ``__setstate__`` would run when unpickled without restrictions."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __setstate__(self, state):
        open(state["marker"], "w").close()


CRAFTED = {"os.system": (_System, "posix.system"), "builtins.eval": (_Eval, "builtins.eval"),
           "subprocess.Popen": (_Popen, "subprocess.Popen"), "custom class": (_Custom, f"{__name__}._Custom"),
           "open": (Payload, "io.open")}


def _crafted_file(path, payload, **save):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": {"architecture": "dcgan"}, "generator": {"weight": payload}, "iteration": 1}, path, **save)
    return path


@pytest.mark.parametrize("kind", sorted(CRAFTED))
def test_each_crafted_pickle_is_refused_with_the_object_named_and_nothing_run(kind, tmp_path):
    cls, name = CRAFTED[kind]
    marker = tmp_path / "ran"
    path = _crafted_file(tmp_path / "checkpoints" / "best.pt", cls(marker))
    with pytest.raises(UnsafeCheckpoint) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert message == (f"refused {path}: it holds code ({name}), which gannorm never runs; "
                       "only tensors and plain data are loaded")
    assert err.value.refused == name and "weights_only" not in message and "\n" not in message
    assert not marker.exists()
    payload = io.BytesIO()
    torch.save(_crafted_state(marker) | {"generator": {"weight": cls(marker)}}, payload)
    payload = payload.getvalue()
    resume = tmp_path / "resume" / "latest.pt"
    resume.parent.mkdir()
    resume.write_bytes(RESUME_MAGIC + b" " + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
    with pytest.raises(CorruptCheckpoint) as err:
        read_resume(resume)
    assert f"{resume}: not usable, refused: it holds code ({name})" in str(err.value)
    assert "weights_only" not in str(err.value)
    assert not marker.exists()


def test_the_crafted_pickles_run_their_code_when_loaded_without_restrictions(tmp_path):
    """The fixtures are live: each creates its marker when unpickled without restrictions."""
    import time

    for kind, (cls, _) in CRAFTED.items():
        marker = tmp_path / kind.replace(" ", "_")
        buffer = io.BytesIO()
        torch.save({"x": cls(marker)}, buffer)
        buffer.seek(0)
        loaded = torch.load(buffer, weights_only=False)
        if hasattr(loaded["x"], "wait"):
            loaded["x"].wait()  # the Popen
        for _ in range(50):
            if marker.exists():
                break
            time.sleep(0.1)
        assert marker.exists(), kind


def test_a_protocol_4_pickle_is_refused_with_the_object_named(tmp_path):
    """Protocol 4's STACK_GLOBAL is an opcode torch's unpickler does not know ("Unsupported operand");
    the object is then read from the pickle with pickletools, which runs nothing."""
    marker = tmp_path / "ran"
    path = _crafted_file(tmp_path / "best.pt", _System(marker), pickle_protocol=4)
    with pytest.warns(UserWarning, match="pickle protocol 4"), pytest.raises(UnsafeCheckpoint) as err:
        load_checkpoint(path)
    assert "it holds code (posix.system)" in str(err.value) and "weights_only" not in str(err.value)
    assert not marker.exists()


# torch 2.x's weights-only refusals (torch/_weights_only_unpickler.py), as torch.load wraps them
_ADVICE = ("Weights only load failed. In PyTorch 2.6, we changed the default value of the `weights_only` argument "
           "in `torch.load` from `False` to `True`. Re-running `torch.load` with `weights_only` set to `False` will "
           "likely succeed, but it can result in arbitrary code execution. Do it only if you got the file from a "
           "trusted source.\nPlease file an issue with the following so that we can make `weights_only=True` "
           "compatible with your use case: WeightsUnpickler error: \n\n")
_DOCS = ("\n\nCheck the documentation of torch.load to learn more about types accepted by default with weights_only "
         "https://pytorch.org/docs/stable/generated/torch.load.html.")


@pytest.mark.parametrize("inner, named", [
    ("Unsupported global: GLOBAL posix.system was not an allowed global by default. Please use "
     "`torch.serialization.add_safe_globals([posix.system])` or the `torch.serialization.safe_globals([posix.system])` "
     "context manager to allowlist this global if you trust this class/function.", "posix.system"),
    ("Unsupported global: GLOBAL eval was not an allowed global by default. Please use "
     "`torch.serialization.add_safe_globals([eval])`", "builtins.eval"),
    ("Unsupported global: GLOBAL commands.Popen was not an allowed global by default.", "subprocess.Popen"),
    ("Trying to load unsupported GLOBAL posix.system whose module posix is blocked.", "posix.system"),
    ("Trying to call reduce for unrecognized function <built-in function system>", "builtins.system"),
    ("Trying to call reduce for unrecognized function <function getattr at 0x7f> which belongs to <module 'x'>",
     "builtins.getattr"),
    ("Can only create new object for nn.Parameter or classes allowlisted via `add_safe_globals` but got "
     "<class 'evil.Thing'>", "evil.Thing"),
    ("Can only build Tensor, Parameter, OrderedDict or types allowlisted via `add_safe_globals`, but got "
     "<class 'evil.Thing'>", "evil.Thing"),
    ("Unsupported operand 149", None),
    ("unsupported persistent id encountered", None),
])
def test_every_form_of_torch_refusal_is_reported_as_refused_code(inner, named, tmp_path, monkeypatch):
    import pickle

    from gannorm.models import checkpoint

    def refuse(*args, **kwargs):
        raise pickle.UnpicklingError(_ADVICE + inner + _DOCS)

    monkeypatch.setattr(checkpoint.torch, "load", refuse)
    path = tmp_path / "best.pt"
    save_checkpoint(path, {"x": 1})  # a zip archive: an unnamed refusal is not mistaken for damage
    with pytest.raises(UnsafeCheckpoint) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert message.startswith(f"refused {path}: it holds ")
    assert (f"it holds code ({named})," in message) if named else ("not plain data" in message)
    assert "weights_only" not in message and "Re-running" not in message and "\n" not in message


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_a_corrupt_checkpoint_is_unreadable_not_refused(damage, tmp_path):
    from gannorm.models.checkpoint import UnreadableCheckpoint

    path = tmp_path / "best.pt"
    save_checkpoint(path, {"weight": torch.arange(100.0)})
    data = path.read_bytes()
    path.write_bytes({"truncated": data[:len(data) // 2], "empty": b"",
                      "garbage": bytes(random.Random(0).randrange(256) for _ in range(500))}[damage])
    with pytest.raises(UnreadableCheckpoint) as err:
        load_checkpoint(path)
    assert str(err.value).startswith(f"{path}: unreadable checkpoint, corrupt or truncated")
    assert not isinstance(err.value, UnsafeCheckpoint) and "weights_only" not in str(err.value)


def test_the_evaluate_cli_refuses_a_crafted_checkpoint_in_one_line(digits_store, small_study, tmp_path):
    import json

    from gannorm.cli import main

    marker = tmp_path / "ran"
    run = tmp_path / "run"
    _crafted_file(run / "checkpoints" / "best.pt", _System(marker))
    (run / "run.json").write_text(json.dumps({"outcome": "completed", "iterations_done": 30}))
    with pytest.raises(SystemExit) as err:
        main(["evaluate", "--store", str(digits_store.directory), "--spec", json.dumps(small_study),
              "--device", "cpu", "--run", str(run)])
    assert err.value.code == (f"error: refused {run / 'checkpoints' / 'best.pt'}: it holds code (posix.system), "
                              "which gannorm never runs; only tensors and plain data are loaded")
    assert err.value.__suppress_context__ and not marker.exists()


def test_save_refuses_values_a_safe_load_could_not_read(tmp_path):
    with pytest.raises(TypeError, match=r"state\['rows'\]\[0\]\['loss'\].*numpy.float64"):
        save_resume(tmp_path, {"rows": [{"loss": np.float64(1.0)}]})
    assert not (tmp_path / "latest.pt").exists()
    with pytest.raises(TypeError, match=r"state\['x'\].*Payload"):
        save_checkpoint(tmp_path / "best.pt", {"x": Payload(tmp_path / "ran")})
    assert not (tmp_path / "best.pt").exists() and not (tmp_path / "ran").exists()


def test_rng_states_survive_a_safe_save_and_load(tmp_path):
    rng = torch.Generator().manual_seed(3)
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    np.random.standard_normal()  # a cached Gaussian in numpy's state
    save_resume(tmp_path, {"rng": rng_states(rng)})

    def draw():
        return torch.randn(3, generator=rng), torch.rand(3), np.random.standard_normal(3), random.random()

    first = draw()
    set_rng_states(read_resume(tmp_path / "latest.pt")["rng"], rng)
    second = draw()
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert np.array_equal(first[2], second[2]) and first[3] == second[3]


# --- what every objective writes loads safely, and resumes bit-identically ------------------------

OBJECTIVE_SPECS = {
    "dcgan": {"dataset": "digits", "architecture": "dcgan", "model": {"width": 8, "latent": 8},
              "train": {"batch_size": 16, "lr": 1e-4, "rmsprop_alpha": 0.9, "rmsprop_eps": 1e-6, "eval_images": 4,
                        "eval_steps": 2, "eval_lr": 0.01, "samples": 4}},
    "iwgan": {"dataset": "rgb", "architecture": "iwgan", "model": {"width": 8},
              "train": {"batch_size": 4, "lr": 1e-4, "eval_images": 2, "eval_steps": 1, "eval_lr": 0.01, "samples": 4,
                        "critic_warmup_iterations": 3, "critic_warmup_generator_iterations": 1,
                        "critic_extra_at": [3]}},
    "sr": {"dataset": "photos", "architecture": "sr", "model": {"width": 8, "vgg_weights": "random"},
           "train": {"batch_size": 8, "optimizer": "adam", "lr": 1e-3, "eval_images": 8, "samples": 4,
                     "perceptual_weights": [0.1, 0.8, 0.1]}},
    "toy2d": {"dataset": "toy", "architecture": "toy2d", "model": {"hidden": 8},
              "train": {"eval_images": 16, "samples": 16}},
}

OBJECTIVE_VARIANTS = {"dcgan": "batch", "iwgan": "bn_clip", "sr": "tanh", "toy2d": "first_layer_mm"}


@pytest.fixture(scope="module")
def objective_stores(tmp_path_factory):
    from gannorm.data import prepare
    from gannorm.data.store import StoreWriter
    from gannorm.data.toy2d import open_toy2d, prepare_toy2d

    root = tmp_path_factory.mktemp("objective_stores")
    writer = StoreWriter(root / "rgb", capacity=24, image_shape=(3, 32, 32))
    writer.add(np.random.default_rng(1).integers(0, 256, size=(24, 3, 32, 32)).astype(np.uint8))
    photos = prepare("photos", {"source": "photo_patches", "size": 16, "patches": 32, "test_images": 8, "scale": 4,
                                "split_seed": 0, "photos": ["astronaut"], "photo_scale": 0.25}, root / "photos")
    digits = prepare("digits", {"source": "digits", "size": 16, "test_images": 16, "split_seed": 0}, root / "digits")
    return {"dcgan": digits, "iwgan": writer.finish(dataset="rgb", source={"name": "test"}, test_count=4),
            "sr": photos, "toy2d": open_toy2d(prepare_toy2d({"points": 96, "test_images": 32}, root / "toy"))}


@pytest.mark.parametrize("architecture", sorted(OBJECTIVE_SPECS))
def test_every_objective_resumes_from_a_safely_loaded_checkpoint(architecture, objective_stores, tmp_path,
                                                                 monkeypatch, one_thread):
    import shutil

    import gannorm.train.loop as loop

    store = objective_stores[architecture]
    spec = {**OBJECTIVE_SPECS[architecture]}
    spec["train"] = {**spec["train"], "iterations": 4, "log_every": 1, "eval_every": 2, "sample_every": 2,
                     "resume_every": 2}
    stash = tmp_path / "stash"
    written = []

    def save_and_keep(directory, state):
        path = save_resume(directory, state)
        written.append(read_resume(path)["iteration"])  # weights_only load of what was just written
        if not stash.exists():
            stash.mkdir()
            shutil.copyfile(path, stash / "latest.pt")
        return path

    monkeypatch.setattr(loop, "save_resume", save_and_keep)

    def run(out):
        return loop.train_run(store, spec, study="s", variant=OBJECTIVE_VARIANTS[architecture], seed=0,
                              out_dir=out, device=torch.device("cpu"), progress=False)

    reference = run(tmp_path / "reference")
    assert written == [2] and reference.resumed_from == []
    (tmp_path / "run" / "resume").mkdir(parents=True)
    shutil.copyfile(stash / "latest.pt", tmp_path / "run" / "resume" / "latest.pt")
    resumed = run(tmp_path / "run")
    assert resumed.resumed_from == [2] and resumed.iterations_done == 4
    strip = [{k: v for k, v in row.items() if k != "wall_seconds"} for row in reference.rows]
    assert [{k: v for k, v in row.items() if k != "wall_seconds"} for row in resumed.rows] == strip
    a = load_checkpoint(tmp_path / "reference" / "checkpoints" / "last.pt")["generator"]
    b = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["generator"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
