"""The generic report tables (gannorm.report.tables): numbers, CSV and LaTeX, on the fake run
folders of test_report (GAN runs: weight seed 3 diverged at 150; WGAN runs with known steep drops
and snapshot W1)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gannorm.report import tables
from gannorm.report.runs import ReportOptions, load_runs
from gannorm.studies import RECONSTRUCTION, Table
from gannorm.studies.mullery_whelan import STEEP_DROP
from gannorm.studies.xiang_li import TABLE2
from test_report import GAN_CONFIG, GAN_RUNS, recon_final, results, wgan_dirs, write_run  # noqa: F401

COLUMNS = RECONSTRUCTION.columns  # best_iteration, running_recon, final_recon, running and final (converged)
FINAL = {k: v[0] for k, v in GAN_RUNS.items()}
RUNNING = {k: v[1] for k, v in GAN_RUNS.items()}


def _finals(variant: str, key: dict = FINAL) -> list[float]:
    return [key[(variant, s)] for s in range(4) if FINAL[(variant, s)] is not None]


def test_quantity_table_rows_means_and_published(results):  # noqa: F811
    _, dirs = results
    table = tables.quantity_table(load_runs(dirs[::-1]), COLUMNS, ReportOptions(), TABLE2)  # order: as given
    assert list(table.columns) == ["kind", "study", "variant", "seed", "outcome", "n", *COLUMNS]
    runs = table[table["kind"] == "run"]
    assert list(zip(runs["variant"], runs["seed"])) == [("weight", s) for s in range(4)] + [("vanilla", s) for s in
                                                                                           range(4)]
    diverged = runs[(runs["variant"] == "weight") & (runs["seed"] == 3)].iloc[0]
    assert diverged["outcome"] == "diverged at 150"
    assert all(math.isnan(diverged[q]) for q in COLUMNS)  # no numbers, not even its running loss
    ok = runs[(runs["variant"] == "vanilla") & (runs["seed"] == 1)].iloc[0]
    assert ok["outcome"] == "completed" and ok["final_recon"] == pytest.approx(0.014)
    assert ok["best_iteration"] == 2000 and ok["running_recon"] == 0.030

    mean = table[table["kind"] == "mean"].set_index("variant")
    std = table[table["kind"] == "std"].set_index("variant")
    for variant in ("vanilla", "weight"):
        for column, key in (("final_recon", FINAL), ("final_recon_converged", FINAL), ("running_recon", RUNNING)):
            values = _finals(variant, key)  # the diverged run is never averaged in
            assert mean.loc[variant, column] == pytest.approx(np.mean(values)), (variant, column)
            assert std.loc[variant, column] == pytest.approx(np.std(values, ddof=1)), (variant, column)
    assert mean.loc["vanilla", "best_iteration"] == 2500 and mean.loc["weight", "best_iteration"] == 2000
    assert (mean.loc["vanilla", "n"], mean.loc["weight", "n"]) == (4, 4)  # runs; the diverged one has NaNs
    assert mean.loc["weight", "outcome"] == "3 of 4 completed" and mean.loc["vanilla", "outcome"] == "4 of 4 completed"

    published = table[table["kind"] == "published"].set_index("variant")
    assert set(published.index) == {"weight", "vanilla"}  # only the variants the study ran
    assert published.loc["weight", "best_iteration"] == 463_000
    assert published.loc["weight", "final_recon"] == 0.005524 and published.loc["vanilla", "running_recon"] == 0.014509
    assert math.isnan(published.loc["vanilla", "final_recon_converged"])  # Table 2 gives no converged loss
    assert published["outcome"].str.startswith("Xiang & Li 2017, Table 2").all()
    assert published["seed"].isna().all()


def test_mean_is_over_finite_values_only(tmp_path):
    """A run without a final evaluation still has its running loss; a single seed has no std."""
    dirs = [write_run(tmp_path, "s", "a", 0, config=GAN_CONFIG, run={"best_running_recon": 0.02},
                      final=recon_final([0.01, 0.03])),
            write_run(tmp_path, "s", "a", 1, config=GAN_CONFIG, run={"best_running_recon": 0.04})]
    table = tables.quantity_table(load_runs(dirs), ("running_recon", "final_recon"), ReportOptions())
    mean = table[table["kind"] == "mean"].iloc[0]
    std = table[table["kind"] == "std"].iloc[0]
    assert mean["running_recon"] == pytest.approx(0.03) and mean["final_recon"] == pytest.approx(0.02)
    assert std["running_recon"] == pytest.approx(np.std([0.02, 0.04], ddof=1)) and math.isnan(std["final_recon"])
    assert "published" not in set(table["kind"])


def test_quantity_table_errors(results):  # noqa: F811
    _, dirs = results
    with pytest.raises(ValueError, match="no runs"):
        tables.quantity_table([], COLUMNS, ReportOptions())
    with pytest.raises(KeyError, match="unknown quantity"):
        tables.quantity_table(load_runs(dirs), ("nope",), ReportOptions())


def test_results_table_csv_and_latex(results):  # noqa: F811
    root, dirs = results
    csv, tex = root / "tables" / "xiang_li.csv", root / "tables" / "xiang_li.tex"
    written = tables.write_study_table(RECONSTRUCTION, "xiang_li", load_runs(dirs), ReportOptions(), TABLE2, csv, tex,
                                       "tab:xiang_li")
    frame = pd.read_csv(csv)
    assert len(frame) == len(written) == 8 + 2 * 2 + 2
    assert set(frame["kind"]) == {"run", "mean", "std", "published"}
    row = frame[(frame["kind"] == "run") & (frame["variant"] == "weight") & (frame["seed"] == 3)].iloc[0]
    assert row["outcome"] == "diverged at 150" and pd.isna(row["final_recon"])
    weight = frame[(frame["kind"] == "mean") & (frame["variant"] == "weight")].iloc[0]
    assert weight["final_recon"] == pytest.approx(np.mean(_finals("weight")), rel=1e-12)  # full precision
    text = tex.read_text()
    for needle in ("\\begin{table}[htbp]", "\\toprule", "\\midrule", "\\bottomrule", "\\label{tab:xiang_li}",
                   "3 of 4 completed", "4 seeds", "(3 of 4)", "published (WN)",
                   "0.013 $\\pm$ 0.002582",  # vanilla: mean and sample std of 0.010, 0.014, 0.012, 0.016
                   "2,500 $\\pm$ 1,291", "463,000", "0.005524", "0.014509", "30,500",
                   "final loss (best)", "best iteration", "per-pixel MSE", "Study \\texttt{xiang\\_li}",
                   "Published: Xiang \\& Li 2017, Table 2", "CelebA 160 px", "bug in their weight-norm gradient"):
        assert needle in text, needle
    assert "diverged at 150" not in text  # the section shows the summary; each run is in the appendix's table
    per_run = tex.with_name("xiang_li_runs.tex").read_text()
    assert "\\label{tab:xiang_li-runs}" in per_run and "Per run: Table~\\ref{tab:xiang_li-runs}" in text
    run_row = next(line for line in per_run.splitlines() if "diverged at 150" in line)
    assert run_row.count("--") == 3  # its first part: outcome and three quantities, no numbers


def test_steep_drop_table_with_published_iterations(tmp_path):
    runs = load_runs(wgan_dirs(tmp_path))
    spec = Table("steep_drop", ("critic_peak", "steep_drop"))
    csv, tex = tmp_path / "t.csv", tmp_path / "t.tex"
    table = tables.write_study_table(spec, "mullery_iwgan", runs, ReportOptions(running_mean=10), STEEP_DROP, csv,
                                     tex, "tab:m")
    rows = table[table["kind"] == "run"].set_index(["variant", "seed"])
    assert rows.loc[("tanh", 0), "steep_drop"] == 66 and math.isnan(rows.loc[("tanh", 1), "steep_drop"])
    assert rows.loc[("bn_tanh", 0), "steep_drop"] == 36 and rows.loc[("bn_tanh", 0), "critic_peak"] == 4.0
    published = table[table["kind"] == "published"].set_index("variant")
    assert published.loc["bn_tanh", "steep_drop"] == 500
    text = tex.read_text()
    assert "& published (BN + tanh) &" in text and "steep drop at" in text
    assert "diverged at 80" in tex.with_name("t_runs.tex").read_text()


def test_steep_drop_table_shows_published_text(tmp_path):
    runs = load_runs(wgan_dirs(tmp_path))
    table = tables.quantity_table(runs, ("critic_peak", "steep_drop"), ReportOptions(running_mean=10), STEEP_DROP)
    assert "tanh" in set(table.loc[table["kind"] == "published", "variant"])
    assert "900-1,500" in tables.quantity_latex(table, ("critic_peak", "steep_drop"), "c", "l", STEEP_DROP)


def test_seed_count_matches_the_mean(tmp_path):
    runs = load_runs(wgan_dirs(tmp_path))  # tanh: critic_peak 10 in both seeds, steep drop only in seed 0
    table = tables.quantity_table(runs, ("critic_peak", "steep_drop"), ReportOptions(running_mean=10))
    tanh = table[(table["kind"] == "mean") & (table["variant"] == "tanh")].iloc[0]
    assert tanh["critic_peak"] == 10.0
    assert tanh["n"] == 2


def test_snapshot_table_numbers(tmp_path):
    table = tables.snapshot_table(load_runs(wgan_dirs(tmp_path)))  # W1 0.1 (seed 0) and 0.2 (seed 1) per channel
    assert list(table.columns) == ["kind", "variant", "seed", "outcome", "n", "iteration", "w1"]
    runs = table[table["kind"] == "run"]
    assert len(runs) == 11  # 4 runs x 3 snapshots, the run diverged at 80 has none at 100
    assert runs.loc[runs["seed"] == 1, "w1"].tolist() == pytest.approx([0.2] * 5)
    assert set(runs.loc[(runs["variant"] == "bn_tanh") & (runs["seed"] == 1), "outcome"]) == {"diverged at 80"}
    stats = table[table["kind"] != "run"].set_index(["kind", "variant", "iteration"])
    assert stats.loc[("mean", "tanh", 50), "w1"] == pytest.approx(0.15)
    assert stats.loc[("std", "tanh", 50), "w1"] == pytest.approx(np.std([0.1, 0.2], ddof=1))
    only = stats.loc[("mean", "bn_tanh", 100)]  # the run diverged at 80 has no snapshot at 100
    assert only["n"] == 1 and only["w1"] == pytest.approx(0.1)
    assert math.isnan(stats.loc[("std", "bn_tanh", 100), "w1"])
    text = tables.snapshot_latex(table, "c", "tab:w1")
    assert " & 0 & 50 & 100 \\\\" in text and "0.15 $\\pm$ 0.07071" in text and "\\label{tab:w1}" in text


def test_snapshot_latex_keeps_first_and_last_of_many_iterations(tmp_path):
    run_dir = write_run(tmp_path, "s", "a", 0, config=GAN_CONFIG, snapshots={i * 100: [0.01 * i] for i in range(12)})
    text = tables.snapshot_latex(tables.snapshot_table(load_runs([run_dir])), "c", "l", max_columns=4)
    header = next(line for line in text.splitlines() if line.startswith(" &  & "))
    assert header == " &  & 0 & 400 & 700 & 1,100 \\\\"


def test_snapshot_table_without_snapshots_and_with_a_corrupt_file(tmp_path, capsys):
    bare = write_run(tmp_path, "s", "a", 0, config=GAN_CONFIG)
    empty = tables.snapshot_table(load_runs([bare]))
    assert empty.empty and "w1" in empty.columns
    assert "No snapshots were saved." in tables.snapshot_latex(empty, "c", "l")
    good = write_run(tmp_path, "s", "b", 0, config=GAN_CONFIG, snapshots={0: [0.3], 10: [0.2]})
    (good / "snapshots" / "iter0000020.npz").write_bytes(b"not a zip file")
    table = tables.snapshot_table(load_runs([good]))
    assert sorted(table.loc[table["kind"] == "run", "iteration"]) == [0, 10]
    err = capsys.readouterr().err
    assert "skipping snapshot" in err and "iter0000020.npz" in err
