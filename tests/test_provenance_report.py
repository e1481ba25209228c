"""Failures are results, and provenance: a diverged run is marked in the table and in the running-loss
figure; the report's provenance appendix lists every run's commit, device, wall time and outcome,
and the versions once. Uses the fake run folders of test_report (weight seed 3 diverged at 150)."""

from __future__ import annotations

import json

import pytest

from gannorm.report import figures, plotting, tables
from gannorm.report.provenance import provenance_latex, provenance_table, run_dirs_from_tables, write_appendix
from gannorm.report.runs import ReportOptions, load_runs
from gannorm.studies import RECONSTRUCTION
from test_report import STUDY, results  # noqa: F401  (fixture)


def test_diverged_run_is_marked_in_running_loss_figure(results, tmp_path, monkeypatch):  # noqa: F811
    _, dirs = results
    captured = {}
    monkeypatch.setattr(plotting, "_save", lambda fig, out: captured.setdefault("fig", fig))
    figures.plot_running_loss(load_runs(dirs), tmp_path / "x.pdf", ReportOptions())
    ax = captured["fig"].axes[0]
    marks = [line for line in ax.lines if line.get_gid() == "diverged"]
    assert len(marks) == 1 and list(marks[0].get_xdata()) == [100]  # its last logged running loss (150 has none)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["vanilla", "weight"]
    assert any("diverged (NaN/Inf losses): weight seed 3 at 150" in t.get_text() for t in ax.texts)


def test_diverged_run_is_marked_in_table(results):  # noqa: F811
    _, dirs = results
    table = tables.quantity_table(load_runs(dirs), RECONSTRUCTION.columns, ReportOptions())
    summary = tables.quantity_latex(table, RECONSTRUCTION.columns, "c", "tab:x")
    per_run = tables.quantity_latex(table, RECONSTRUCTION.columns, "c", "tab:x-runs", runs=True)
    assert "3 of 4 completed" in summary and "diverged at 150" in per_run  # the appendix lists each run


def _write_results_table(root, dirs):
    tables.write_study_table(RECONSTRUCTION, STUDY, load_runs(dirs), ReportOptions(), None,
                             root / "tables" / f"{STUDY}.csv", root / "tables" / f"{STUDY}.tex", "tab:x")


def test_provenance_appendix_lists_runs_and_versions_once(results):  # noqa: F811
    root, dirs = results
    run = json.loads((dirs[0] / "run.json").read_text())
    run.update(git={"sha": "0123456789abcdef", "dirty": True}, wall_seconds=4000.0, resume={"attempts": 3},
               gpu={"claimed": {"id": "2", "slot": 0}, "CUDA_VISIBLE_DEVICES": "2"},
               device="cuda:0 NVIDIA H100_test")
    (dirs[0] / "run.json").write_text(json.dumps(run))
    _write_results_table(root, dirs)
    assert run_dirs_from_tables(root, [STUDY]) == dirs
    assert run_dirs_from_tables(root, ["no_such_study"]) == []
    table, versions = provenance_table(dirs)
    assert list(table["outcome"]) == ["completed"] * 7 + ["diverged"]
    assert table.loc[0, "git"] == "0123456789+dirty" and table.loc[1, "git"] == "unknown"
    assert table.loc[0, "attempts"] == 3 and table.loc[0, "gpu"] == "2 (slot 0)"
    assert len(versions) == 1 and versions[0][0] == {"python": "3.11", "torch": "2.0"}
    out = root / "report" / "provenance.tex"
    write_appendix(root, [STUDY], out, root / "report" / "provenance.csv")
    tex = out.read_text()
    for needle in ("\\section{Provenance}", "\\begin{longtable}", "0123456789+dirty", "1.11 h", "12.5 s",
                   "NVIDIA H100\\_test [GPU 2 (slot 0)]", "diverged", "Versions (all runs).", "python 3.11"):
        assert needle in tex, needle
    assert tex.count("python 3.11") == 1


def test_provenance_appendix_without_runs():
    table, versions = provenance_table([])
    assert "No run records" in provenance_latex(table, versions)


def test_versions_differing_between_runs_are_listed_per_set(results):  # noqa: F811
    _, dirs = results
    run = json.loads((dirs[1] / "run.json").read_text())
    run["versions"] = {"python": "3.12", "torch": "2.5"}
    (dirs[1] / "run.json").write_text(json.dumps(run))
    table, versions = provenance_table(dirs)
    assert [len(labels) for _, labels in versions] == [7, 1]
    tex = provenance_latex(table, versions)
    assert "set 1 (7 runs" in tex and "set 2 (1 runs: xiang\\_li/vanilla/1)" in tex


@pytest.mark.parametrize("seconds,text", [(12.5, "12.5 s"), (600, "10.0 min"), (7200, "2.00 h")])
def test_duration_format(seconds, text):
    from gannorm.report.provenance import _duration

    assert _duration(seconds) == text
