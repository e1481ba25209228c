"""The SLURM profile against a real one-node SLURM cluster on localhost.

Installs Debian's slurmctld, slurmd, slurm-client and munge with apt-get when they are missing
(as root; skipped with the reason otherwise), starts a cluster in a temporary folder
(tests/slurm/localcluster.py), runs a tiny smoke study (configs/smoke.yaml, fewer variants and
iterations) once locally and once through snakemake-executor-plugin-slurm with the settings of
profiles/slurm/config.yaml (resource sizes shrunk to the test node), and checks that the
results are equal: metrics.csv except wall_seconds, and every number of final_eval.json.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent / "slurm"))
from localcluster import ClusterUnavailable, LocalSlurm, install_packages  # noqa: E402

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
COPY = ("Snakefile", "config.yaml", "workflow", "src", "configs", "profiles", "paper", "envs")
VARIANTS = ("batch", "weight")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root to install and start slurmctld/slurmd/munge (CI runs as root)")
    try:
        install_packages()
    except ClusterUnavailable as err:
        pytest.skip(str(err))
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        pytest.fail("snakemake-executor-plugin-slurm is not installed (a dependency in pyproject.toml): "
                    "pip install snakemake-executor-plugin-slurm")
    slurm = LocalSlurm(tmp_path_factory.mktemp("slurm")).start()
    yield slurm
    slurm.stop()


def _workflow_copy(root: Path) -> Path:
    """The workflow's files in a fresh folder, so neither run touches the checkout's results/ or .snakemake/."""
    repo = root / "repo"
    for name in COPY:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, repo / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            repo.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, repo / name)
    return repo


def _config(repo: Path, name: str) -> Path:
    config = yaml.safe_load((REPO / "configs" / "smoke.yaml").read_text())
    config["name"] = name
    study = config["studies"]["xiang_li"]
    study["variants"] = list(VARIANTS)
    study["train"].update(iterations=20, log_every=5, eval_every=10, sample_every=10, resume_every=7)
    study["evaluate"].update(images=16, steps=10)
    path = repo / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _test_profile(repo: Path) -> Path:
    """profiles/slurm/config.yaml with memory and threads shrunk to fit the one test node."""
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert profile["slurm-status-command"] == "squeue" and profile["slurm-no-account"] is True
    assert profile["slurm-keep-successful-logs"] is True
    profile["default-resources"]["mem_mb"] = 500
    for resources in profile["set-resources"].values():
        if "mem_mb" in resources:
            resources["mem_mb"] = 1000
    profile["set-threads"] = {rule: 1 for rule in profile["set-threads"]}
    profile["slurm-init-seconds-before-status-checks"] = 1
    profile["latency-wait"] = 5
    profile["retries"] = 0
    folder = repo / "profiles" / "slurm_test"
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return folder


def _targets(name: str) -> list[str]:
    return [f"results/{name}/runs/xiang_li/dcgan-{v}/seed0/final_eval.json" for v in VARIANTS]


def _snakemake(args: list[str], repo: Path, env: dict[str, str], log: Path) -> None:
    bin_dir = str(Path(sys.executable).parent)
    env = dict(env, PATH=bin_dir + os.pathsep + env.get("PATH", ""))
    env["PYTHONPATH"] = os.pathsep.join([str(repo / "src"), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "snakemake", *args]
    with open(log, "w") as handle:
        proc = subprocess.run(cmd, cwd=repo, env=env, stdout=handle, stderr=subprocess.STDOUT, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}); log tail:\n"
                    + "\n".join(log.read_text(errors="replace").splitlines()[-60:]))


def _metrics(path: Path) -> list[dict[str, str]]:
    with open(path) as handle:
        return [{k: v for k, v in row.items() if k != "wall_seconds"} for row in csv.DictReader(handle)]


def _numbers(final: dict) -> dict:
    """final_eval.json without timings."""
    out = {k: v for k, v in final.items() if k not in ("checkpoints", "timings")}
    out["checkpoints"] = {name: {k: v for k, v in entry.items() if k != "seconds"}
                          for name, entry in final["checkpoints"].items()}
    return out


def test_smoke_study_on_slurm_equals_local_run(cluster, tmp_path):
    started = time.monotonic()
    repo = _workflow_copy(tmp_path)
    local_cfg, slurm_cfg = _config(repo, "local"), _config(repo, "onslurm")
    _snakemake([*_targets("local"), "--cores", "2", "--configfile", str(local_cfg)], repo, dict(os.environ),
               tmp_path / "local.log")
    local_seconds = time.monotonic() - started
    profile = _test_profile(repo)
    _snakemake([*_targets("onslurm"), "--workflow-profile", str(profile), "--jobs", "4", "--configfile", str(slurm_cfg)],
                repo, cluster.env, tmp_path / "slurm.log")
    log = (tmp_path / "slurm.log").read_text()
    assert "sbatch" in log or "Job " in log

    for variant in VARIANTS:
        local = repo / "results" / "local" / "runs" / "xiang_li" / f"dcgan-{variant}" / "seed0"
        remote = repo / "results" / "onslurm" / "runs" / "xiang_li" / f"dcgan-{variant}" / "seed0"
        assert _metrics(remote / "metrics.csv") == _metrics(local / "metrics.csv"), variant
        a = _numbers(json.loads((local / "final_eval.json").read_text()))
        b = _numbers(json.loads((remote / "final_eval.json").read_text()))
        assert a == b, variant
        assert a["checkpoints"]["best"]["mean"] is not None
        run = json.loads((remote / "run.json").read_text())
        assert run["scheduler"].get("SLURM_JOB_ID"), "the training job did not run under SLURM"
        assert not (remote / "resume").exists()
    # logs of successful jobs are kept (slurm-keep-successful-logs)
    slurm_logs = list((repo / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert any("train" in str(p) for p in slurm_logs), slurm_logs
    print(f"local run {local_seconds:.0f} s, SLURM run {time.monotonic() - started - local_seconds:.0f} s")
