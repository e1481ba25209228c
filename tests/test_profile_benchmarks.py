"""benchmarks/profile_demo.py splits a run's time by phase and study; benchmarks/objectives.py times
every objective of a config (issue 10, item 1)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _bench(path: Path, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"s\th:m:s\tmax_rss\n{seconds}\t0:00:01\t100\n")


def test_profile_splits_job_time_into_startup_and_phases(tmp_path):
    profile_demo = _load("profile_demo")
    results = tmp_path / "results"
    run = results / "runs" / "st" / "dcgan-batch" / "seed0"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"timings": {"imports": 1.5, "setup": 1.0, "steps": 4.0,
                                                          "running_eval": 0.5, "other": 0.2, "total": 7.2}}))
    (run / "final_eval.json").write_text(json.dumps({"timings": {"imports": 1.4, "evaluate": 2.0, "other": 0.1,
                                                                 "total": 3.5}}))
    _bench(results / "benchmarks" / "train" / "st" / "dcgan-batch" / "seed0.tsv", 8.0)
    _bench(results / "benchmarks" / "final_eval" / "st" / "dcgan-batch" / "seed0.tsv", 4.0)
    _bench(results / "benchmarks" / "report" / "st.tsv", 3.0)
    _bench(results / "benchmarks" / "report" / "report.tsv", 10.0)
    _bench(results / "benchmarks" / "prepare_dataset" / "digits.tsv", 2.0)
    table = profile_demo.profile(results)
    row = table["st"]
    assert row["jobs"] == 3 and row["job_seconds"] == pytest.approx(15.0)
    # startup = (job wall - the process's own total) + its imports, for both jobs
    assert row["startup"] == pytest.approx((8.0 - 7.2 + 1.5) + (4.0 - 3.5 + 1.4))
    assert (row["setup"], row["steps"], row["running_eval"], row["final_eval"], row["report"]) == (
        1.0, 4.0, 0.5, 2.0, 3.0)
    assert table["pdf"]["report"] == 10.0 and table["data"]["job_seconds"] == 2.0
    assert table["total"]["job_seconds"] == pytest.approx(27.0)
    assert "| st | 3 | 15 |" in profile_demo.markdown(table)


def test_profile_without_benchmarks_says_what_to_do(tmp_path, capsys):
    profile_demo = _load("profile_demo")
    with pytest.raises(SystemExit):
        profile_demo.main([str(tmp_path)])
    assert "run the workflow first" in capsys.readouterr().err


def test_objectives_times_every_study_of_the_smoke_config(tmp_path):
    out = tmp_path / "objectives.json"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "objectives.py"), "--configfile",
                           str(REPO / "configs" / "smoke.yaml"), "--steps", "1", "--json", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    table = json.loads(out.read_text())
    assert table["peak_flops"] > 0
    studies = {row["study"] for row in table["rows"]}
    assert {"xiang_li", "mullery_iwgan", "mullery_sr", "johannsmeier"} <= studies
    for row in table["rows"]:
        assert row["s_per_iteration"] > 0 and row["gflop_per_iteration"] > 0 and row["gflops"] > 0
    assert "% of peak" in done.stdout
