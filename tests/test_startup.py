"""What a job imports and the fast paths that replace library calls keep the library's results.

Issue 10: every Snakemake job is a new process, so an import a job does not need is paid by every
job. Training needs torch (and ``torch.optim`` imports ``torch._dynamo``), but not torchvision; a GAN
final evaluation needs neither torchvision nor ``torch._dynamo``; a report job needs no torch.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gannorm.io import save_image_grid
from gannorm.metrics.reconstruction import reconstruct

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.mark.parametrize("shape,nrow,padding", [((1, 1, 8, 8), 1, 1), ((7, 1, 16, 16), 3, 1),
                                                ((64, 3, 8, 8), 8, 1), ((5, 3, 6, 4), 2, 2)])
def test_image_grid_is_byte_identical_to_torchvision(tmp_path, shape, nrow, padding):
    from torchvision.utils import save_image

    images = torch.rand(*shape, generator=torch.Generator().manual_seed(0)) * 1.2 - 0.1  # some out of [0, 1]
    save_image(images, tmp_path / "torchvision.png", nrow=nrow, padding=padding, format="png")
    save_image_grid(images.numpy(), tmp_path / "ours.png", nrow=nrow, padding=padding)
    assert (tmp_path / "ours.png").read_bytes() == (tmp_path / "torchvision.png").read_bytes()


def test_image_grid_rejects_a_wrong_shape(tmp_path):
    with pytest.raises(ValueError, match="B, 1 or 3, H, W"):
        save_image_grid(np.zeros((2, 2, 4, 4)), tmp_path / "x.png", nrow=2)


def test_reconstruction_rmsprop_matches_torch_optim_bit_for_bit():
    torch.manual_seed(0)
    generator = torch.nn.Sequential(torch.nn.Linear(4, 48), torch.nn.Tanh(), torch.nn.Linear(48, 3 * 4 * 4),
                                    torch.nn.Sigmoid(), torch.nn.Unflatten(1, (3, 4, 4)))
    targets = torch.rand(6, 3, 4, 4)
    ours = reconstruct(generator, targets, 4, steps=40, lr=0.01, alpha=0.9, eps=1e-6)

    generator.eval().requires_grad_(False)
    z = torch.zeros(6, 4, requires_grad=True)
    optimizer = torch.optim.RMSprop([z], lr=0.01, alpha=0.9, eps=1e-6)
    for _ in range(40):
        optimizer.zero_grad(set_to_none=True)
        (generator(z) - targets).pow(2).flatten(1).mean(1).sum().backward()
        optimizer.step()
    with torch.no_grad():
        reference = (generator(z) - targets).pow(2).flatten(1).mean(1)
    assert torch.equal(ours.latents, z.detach())
    assert torch.equal(ours.losses, reference)


def _modules_after(code: str, cwd: Path) -> dict[str, bool]:
    """Run ``code`` in a fresh interpreter; which of torch, torchvision, torch._dynamo, matplotlib it imported."""
    probe = code + ("\nimport sys, json\nprint(json.dumps({m: m in sys.modules for m in "
                    "('torch', 'torchvision', 'torch._dynamo', 'matplotlib')}))\n")
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run([sys.executable, "-c", probe], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A small DCGAN run trained and evaluated by the CLI in a fresh process."""
    from gannorm.data import prepare
    from conftest import SMALL_STUDY  # not tests.conftest: torch-fidelity installs a package "tests"

    root = tmp_path_factory.mktemp("startup")
    store = prepare("digits", {"source": "digits", "size": 16, "test_images": 64, "split_seed": 0}, root / "digits")
    spec = json.dumps(SMALL_STUDY)
    run = root / "run"
    code = (f"from gannorm.cli import main\nmain(['train', '--store', {str(store.directory)!r}, '--study', 'startup', "
            f"'--spec', {spec!r}, '--variant', 'batch', '--seed', '0', '--device', 'cpu', '--out', {str(run)!r}])")
    return root, store.directory, spec, run, _modules_after(code, root)


def test_training_imports_no_torchvision(trained_run):
    *_, modules = trained_run
    assert modules["torch"] and not modules["torchvision"] and not modules["matplotlib"], modules


def test_gan_final_evaluation_imports_no_torchvision_and_no_dynamo(trained_run):
    root, store, spec, run, _ = trained_run
    code = (f"from gannorm.cli import main\nmain(['evaluate', '--store', {str(store)!r}, '--spec', {spec!r}, "
            f"'--device', 'cpu', '--run', {str(run)!r}])")
    modules = _modules_after(code, root)
    assert (run / "final_eval.json").is_file()
    assert modules["torch"] and not modules["torchvision"] and not modules["torch._dynamo"], modules
    assert not modules["matplotlib"], modules


def test_a_report_job_imports_no_torch(trained_run):
    root, store, _, run, _ = trained_run
    study_dir = root / "results" / "runs" / "startup" / "dcgan-batch"
    study_dir.mkdir(parents=True)
    os.symlink(run, study_dir / "seed0")
    code = (f"from gannorm.cli import main\nmain(['report', 'study', '--study', 'startup', '--paper', 'xiang_li', "
            f"'--runs', {str(study_dir / 'seed0')!r}, '--results-dir', {str(root / 'results')!r}, "
            f"'--store', {str(Path(store) / 'store.json')!r}])")
    modules = _modules_after(code, root)
    assert (root / "results" / "report" / "study_startup.tex").is_file()
    assert not modules["torch"] and not modules["torchvision"], modules
