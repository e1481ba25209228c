"""Shared fixtures: a real digits store made in a temporary folder, and small study specs."""

from __future__ import annotations

import copy

import pytest
import torch

SMALL_STUDY = {
    "dataset": "digits",
    "architecture": "dcgan",
    "model": {"width": 8, "latent": 8},
    "train": {"iterations": 30, "batch_size": 16, "lr": 1e-4, "rmsprop_alpha": 0.9, "rmsprop_eps": 1e-6,
              "log_every": 10, "eval_every": 10, "eval_images": 8, "eval_steps": 5, "eval_lr": 0.01,
              "sample_every": 15, "samples": 4},
    "evaluate": {"images": 12, "steps": 10, "lr": 0.01, "batch_size": 5, "reconstructions": 3},
}


@pytest.fixture(scope="session")
def digits_store(tmp_path_factory):
    from gannorm.data import prepare

    return prepare("digits", {"source": "digits", "size": 16, "test_images": 64, "split_seed": 0},
                   tmp_path_factory.mktemp("store") / "digits")


@pytest.fixture
def small_study():
    return copy.deepcopy(SMALL_STUDY)


@pytest.fixture
def one_thread():
    """One CPU thread, as the training CLI's ``--threads 1``: bit-identical reruns, and the tiny test
    networks run faster than with several threads on two busy cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
