"""Tests of the report stage on fake run folders in the real on-disk formats.

Two variants (vanilla, weight) x two seeds (0, 1); weight seed 1 diverged (NaN losses, null
final means). The numbers are chosen so the expected means and standard deviations are known.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gannorm.report import figures, latex, tables
from gannorm.report.cli import main

REPO = Path(__file__).resolve().parents[1]
STUDY = "xiang_li"

STUDY_CONFIG = {
    "title": "Batch vs weight normalization (test_study)",
    "dataset": "my_digits",
    "architecture": "dcgan",
    "variants": ["vanilla", "weight"],
    "seeds": [0, 1],
    "model": {"width": 32, "latent": 24},
    "train": {"iterations": 3000, "batch_size": 32, "lr": 1.0e-4, "rmsprop_alpha": 0.9, "rmsprop_eps": 1.0e-6,
              "log_every": 50, "eval_every": 100, "eval_images": 77, "eval_steps": 50, "eval_lr": 0.01,
              "sample_every": 500, "samples": 64},
    "evaluate": {"images": 297, "steps": 2000, "lr": 0.01, "batch_size": 512, "reconstructions": 4},
}

# (variant, seed) -> (outcome, best_iteration, running loss, final mean best, final mean last)
RUNS = {
    ("vanilla", 0): ("completed", 1000, 0.020, 0.010, 0.012),
    ("vanilla", 1): ("completed", 2000, 0.030, 0.014, 0.016),
    ("weight", 0): ("completed", 3000, 0.015, 0.008, 0.009),
    ("weight", 1): ("diverged", 100, 0.050, None, None),
}


def _write_run(root: Path, variant: str, seed: int) -> Path:
    outcome, best_it, running, final_best, final_last = RUNS[(variant, seed)]
    run_dir = root / "runs" / STUDY / f"dcgan-{variant}" / f"seed{seed}"
    (run_dir / "samples").mkdir(parents=True)
    diverged = outcome == "diverged"
    (run_dir / "run.json").write_text(json.dumps({
        "study": STUDY, "dataset": "my_digits", "architecture": "dcgan", "variant": variant, "seed": seed,
        "outcome": outcome, "iterations_done": 150 if diverged else 3000, "best_iteration": best_it,
        "best_running_recon": running, "wall_seconds": 12.5, "config": STUDY_CONFIG,
        "git": {"sha": None, "dirty": None}, "versions": {"python": "3.11", "torch": "2.0"}, "device": "cpu"}))
    lines = ["iteration,wall_seconds,d_loss,g_loss,running_recon"]
    last = 150 if diverged else 3000
    for it in range(50, last + 1, 50):
        recon = f"{running * (1 + 1000 / (it + 100)):.6f}" if it % 100 == 0 else ""
        d_loss, g_loss = ("nan", "inf") if diverged and it == last else (f"{1.3 - it / 1e4:.4f}", "0.7")
        lines.append(f"{it},{it / 10:.1f},{d_loss},{g_loss},{recon}")
    (run_dir / "metrics.csv").write_text("\n".join(lines) + "\n")
    per_image = lambda m: [] if m is None else [m * 0.9, m * 1.1]  # noqa: E731
    (run_dir / "final_eval.json").write_text(json.dumps({
        "outcome": outcome, "images": 297, "steps": 2000, "lr": 0.01,
        "checkpoints": {
            "best": {"iteration": best_it, "running_recon": running, "mean": final_best,
                     "per_image": per_image(final_best)},
            "last": {"iteration": last, "running_recon": None, "mean": final_last, "per_image": per_image(final_last)},
        }}))
    rng = np.random.default_rng(seed)
    targets = rng.random((4, 1, 8, 8), dtype=np.float32)
    best = np.full_like(targets, np.nan) if diverged else np.clip(targets + 0.1, 0, 1)
    np.savez(run_dir / "reconstructions.npz", targets=targets, best=best, last=best)
    if not diverged:
        import matplotlib.pyplot as plt

        for it in (500, 3000):
            plt.imsave(run_dir / "samples" / f"iter{it:07d}.png", rng.random((18, 18, 3)))
    return run_dir


@pytest.fixture
def results(tmp_path: Path) -> tuple[Path, list[Path]]:
    root = tmp_path / "results" / "test_run"
    dirs = [_write_run(root, v, s) for v in STUDY_CONFIG["variants"] for s in STUDY_CONFIG["seeds"]]
    store = {"shape": [1797, 1, 16, 16], "split": {"seed": 0, "train_count": 1500, "test_count": 297}}
    (root / "data" / "my_digits").mkdir(parents=True)
    (root / "data" / "my_digits" / "store.json").write_text(json.dumps(store))
    return root, dirs


def test_table_numbers_and_diverged_row(results):
    _, dirs = results
    table = tables.build_table(tables.load_runs(dirs), published="xiang_li_table2")
    runs = table[table["kind"] == "run"]
    assert list(zip(runs["variant"], runs["seed"])) == [("vanilla", 0), ("vanilla", 1), ("weight", 0), ("weight", 1)]
    diverged = runs[(runs["variant"] == "weight") & (runs["seed"] == 1)].iloc[0]
    assert diverged["outcome"] == "diverged"
    assert math.isnan(diverged["final_loss_best"]) and math.isnan(diverged["final_loss_last"])
    mean = table[table["kind"] == "mean"].set_index("variant")
    std = table[table["kind"] == "std"].set_index("variant")
    assert mean.loc["vanilla", "final_loss_best"] == pytest.approx(0.012)
    assert std.loc["vanilla", "final_loss_best"] == pytest.approx(np.std([0.010, 0.014], ddof=1))
    assert mean.loc["vanilla", "final_loss_last"] == pytest.approx(0.014)
    assert mean.loc["vanilla", "best_iteration"] == pytest.approx(1500)
    assert mean.loc["vanilla", "running_loss"] == pytest.approx(0.025)
    # weight: the diverged seed has no final loss; its running loss still counts
    assert mean.loc["weight", "final_loss_best"] == pytest.approx(0.008)
    assert math.isnan(std.loc["weight", "final_loss_best"])
    assert mean.loc["weight", "running_loss"] == pytest.approx(0.0325)
    assert mean.loc["weight", "outcome"] == "1 of 2 diverged"
    assert mean.loc["weight", "n"] == 2
    published = table[table["kind"] == "published"].set_index("variant")
    assert list(published.index) == ["vanilla", "weight"]  # batch is not in this study
    assert published.loc["weight", "best_iteration"] == 463_000
    assert published.loc["weight", "final_loss_best"] == pytest.approx(0.005524)
    summary = tables.variant_summary(table)
    assert tables.lowest_mean_variant(summary) == "weight"


def test_table_and_summary_cli_write_csv_tex_summary(results):
    root, dirs = results
    csv, tex, summary = root / "tables" / f"{STUDY}.csv", root / "tables" / f"{STUDY}.tex", root / "report" / "s.tex"
    runs = ["--study", STUDY, "--runs", *map(str, dirs)]
    store = ["--store", str(root / "data" / "my_digits" / "store.json")]
    assert main(["table", *runs, "--name", "results", "--csv", str(csv), "--tex", str(tex),
                 "--published", "xiang_li_table2", *store]) == 0
    assert main(["summary", *runs, "--out", str(summary), "--published", "xiang_li_table2", *store]) == 0
    frame = pd.read_csv(csv)
    assert set(frame["kind"]) == {"run", "mean", "std", "published"}
    row = frame[(frame["kind"] == "run") & (frame["variant"] == "weight") & (frame["seed"] == 1)].iloc[0]
    assert row["outcome"] == "diverged" and pd.isna(row["final_loss_best"])
    assert frame.loc[frame["kind"] == "published", "running_loss"].tolist() == pytest.approx([0.014509, 0.013010])
    text = tex.read_text()
    for needle in ("\\toprule", "\\midrule", "\\bottomrule", "diverged", "0.012000 $\\pm$ 0.002828",
                   "463,000", "0.013010", "0.005524", "30,500", "0.014509", "0.006171", "CelebA",
                   "another dataset and scale", "\\label{tab:xiang_li}"):
        assert needle in text, needle
    assert "xiang_li}" not in text.replace("\\label{tab:xiang_li}", "")  # study names escaped elsewhere
    para = summary.read_text()
    assert "\\texttt{weight}" in para and "lowest mean final loss is that of \\texttt{weight}" in para
    assert "0.012000 $\\pm$ 0.002828" in para and "1 diverged" in para
    # the paper's claim beside ours, labelled with its setting, and the computed verdict
    assert "\\paragraph{Published.}" in para and "10.5\\%" in para and "another dataset and scale" in para
    # weight beats vanilla at seed 0; seed 1 is not measured because weight diverged there
    assert ("WN (weight) has the lowest final reconstruction loss: \\textbf{yes}, 1 of 1 measured seed "
            "(not measured: seed 1: weight diverged)") in para


def test_published_source_follows_the_dataset():
    from gannorm.report.papers import default_published

    assert default_published({"architecture": "dcgan"}, "cifar10") == "xiang_li_table7"
    assert default_published({"architecture": "dcgan"}, "lsun") == "xiang_li_table8"
    assert default_published({"architecture": "dcgan"}, "digits") == "xiang_li_table2"
    assert default_published({"architecture": "resnet"}, "celeba") == "xiang_li_resnet"
    assert default_published({"architecture": "dcgan", "report": {"published": "none"}}, "celeba") == "none"
    for arch in ("mlp", "iwgan", "wgan_resnet", "sr", "toy2d"):
        assert default_published({"architecture": arch}, "cifar10") == "none"


def test_published_label_says_same_or_another_setting(results):
    from gannorm.report.papers import PUBLISHED_TABLES, Setting, published_label

    table7 = PUBLISHED_TABLES["xiang_li_table7"]
    assert published_label(table7, Setting("cifar10", "", 32, 500_000)).endswith("the same dataset and scale)")
    assert published_label(table7, Setting("cifar10", "", 32, 3_000)).endswith("the same dataset at another scale)")
    assert published_label(table7, Setting("digits", "", 16, 3_000)).endswith("another dataset and scale)")
    assert published_label(table7, None).endswith("another dataset and scale)")
    _, dirs = results
    table = tables.build_table(tables.load_runs(dirs), published="xiang_li_table7",
                               setting=Setting("cifar10", "", 32, 500_000))
    published = table[table["kind"] == "published"].set_index("variant")
    assert published.loc["weight", "final_loss_last"] == pytest.approx(0.003269)  # their 500k model
    assert "Table 7" in published.loc["weight", "source"] and "same dataset and scale" in published.loc["weight", "source"]


def test_published_rows_use_table2_numbers():
    assert tables.PUBLISHED_XIANG_LI_TABLE2 == {
        "vanilla": ("vanilla", 30_500, 0.014509, 0.006171),
        "batch": ("BN", 30_500, 0.017199, 0.006355),
        "weight": ("WN", 463_000, 0.013010, 0.005524),
    }


def test_figures_are_nonempty_pdfs(results):
    root, dirs = results
    for name in ("running_loss", "samples", "reconstructions"):
        out = root / "figures" / f"{STUDY}_{name}.pdf"
        assert main(["figure", "--study", STUDY, "--runs", *map(str, dirs), "--name", name, "--out", str(out)]) == 0
        data = out.read_bytes()
        assert data.startswith(b"%PDF") and len(data) > 1000, out
    assert not list((root / "figures").glob(".*"))  # no temporary files left behind


def test_unknown_figure_or_table_of_a_kind_is_an_error(results):
    root, dirs = results
    with pytest.raises(SystemExit, match="has no figure 'critic_loss'"):
        main(["figure", "--study", STUDY, "--runs", *map(str, dirs), "--name", "critic_loss",
              "--out", str(root / "x.pdf")])
    with pytest.raises(SystemExit, match="has no table 'w1'"):
        main(["table", "--study", STUDY, "--runs", *map(str, dirs), "--name", "w1", "--csv", str(root / "x.csv"),
              "--tex", str(root / "x.tex")])


def test_last_sample_grid_picks_largest_iteration(results):
    _, dirs = results
    path, iteration = figures.last_sample_grid(dirs[0])
    assert iteration == 3000 and path.name == "iter0003000.png"
    assert figures.last_sample_grid(dirs[3]) is None  # the diverged run saved no grid


def test_methods_text_has_config_numbers_and_escapes(results):
    root, dirs = results
    out, section = root / "report" / f"methods_{STUDY}.tex", root / "report" / f"study_{STUDY}.tex"
    main(["methods", "--study", STUDY, "--runs", *map(str, dirs), "--out", str(out), "--section", str(section),
          "--store", str(root / "data" / "my_digits" / "store.json"), "--published", "xiang_li_table2"])
    text = out.read_text()
    for needle in ("xiang\\_li", "my\\_digits", "3,000 iterations", "batch size 32", "$10^{-4}$",
                   "$\\alpha$ = 0.9", "$10^{-6}$", "Every 100 iterations", "77 test images", "50 RMSProp steps",
                   "2,000 steps", "on 297 test", "1,797 images", "1,500 for training", "297 held out",
                   "latent dimension 24", "\\texttt{vanilla} and \\texttt{weight}",
                   "bug in their weight-normalization"):
        assert needle in text, needle
    assert "_" not in text.replace("\\_", "").replace("\\min_z", "")  # only escaped or math subscripts
    sec = section.read_text()
    assert "\\section{Batch vs weight normalization (test\\_study)}" in sec
    assert "\\input{tables/xiang_li}" in sec and "figures/xiang_li_reconstructions.pdf" in sec


def test_escape_latex():
    assert latex.escape_latex("a_b & 50% #1 $x {y} ~ ^") == (
        "a\\_b \\& 50\\% \\#1 \\$x \\{y\\} \\textasciitilde{} \\textasciicircum{}")
    assert latex.format_number(3000) == "3,000" and latex.format_number(0.9) == "0.9"
    assert latex.format_number(2.5e-5) == "$2.5 \\times 10^{-5}$"


def _report_inputs(root: Path, dirs: list[Path]) -> dict[str, Path]:
    """Run the ``study`` subcommand (every table, figure, summary and methods file); return the files."""
    files = {k: root / v for k, v in latex.study_files(STUDY).items()}
    assert main(["study", "--study", STUDY, "--runs", *map(str, dirs), "--results-dir", str(root),
                 "--store", str(root / "data" / "my_digits" / "store.json"), "--published", "xiang_li_table2"]) == 0
    assert all(path.exists() for path in files.values())
    return files


def _build(root: Path) -> list[str]:
    return ["build", "--results-dir", str(root), "--tex", str(REPO / "paper" / "report.tex"), "--studies", STUDY,
            "--out", str(root / "report.pdf")]


def test_report_pdf_builds_with_latexmk(results):
    if shutil.which("latexmk") is None:
        pytest.skip("latexmk not installed")
    root, dirs = results
    _report_inputs(root, dirs)
    paper = REPO / "paper"
    before = sorted(p.name for p in paper.iterdir())
    assert main(_build(root)) == 0
    pdf = root / "report.pdf"
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 10_000
    assert sorted(p.name for p in paper.iterdir()) == before  # nothing written into paper/
    log = (root / "report" / "report.log").read_text(errors="replace")
    assert "Output written on report.pdf" in log and "undefined references" not in log


def test_latex_error_prints_log_tail_and_keeps_old_pdf(results, capsys):
    if shutil.which("latexmk") is None:
        pytest.skip("latexmk not installed")
    root, dirs = results
    files = _report_inputs(root, dirs)
    (root / "report.pdf").write_bytes(b"old")
    files["table"].write_text("\\thismacroisundefined\n")
    with pytest.raises(SystemExit, match="latexmk failed"):
        main(_build(root))
    assert "Undefined control sequence" in capsys.readouterr().err
    assert (root / "report.pdf").read_bytes() == b"old"


def test_build_reports_missing_inputs(results):
    root, _ = results
    if shutil.which("latexmk") is None:
        pytest.skip("latexmk not installed")
    with pytest.raises(SystemExit, match="report inputs missing"):
        main(_build(root))
    assert not (root / "report.pdf").exists()


def test_build_without_latexmk_names_packages(results, monkeypatch):
    root, _ = results
    monkeypatch.setattr(latex.shutil, "which", lambda name: None)
    with pytest.raises(latex.LatexError, match="texlive-latex-extra"):
        latex.build_pdf(REPO / "paper" / "report.tex", root, [STUDY], root / "report.pdf")


def test_summary_orders_variants_like_the_paper(results):
    _, dirs = results
    text = tables.summary_latex(tables.build_table(tables.load_runs(dirs), published="xiang_li_table2"))
    # paper: WN 0.005524 < vanilla 0.006171; ours: weight 0.008 < vanilla 0.012
    assert "orders the final losses \\texttt{weight} $<$ \\texttt{vanilla}" in text
    assert "here the order is \\texttt{weight} $<$ \\texttt{vanilla}" in text
    assert "Xiang" not in tables.summary_latex(tables.build_table(tables.load_runs(dirs), published="none"))


def test_default_published():
    assert tables.default_published({"architecture": "dcgan"}) == "xiang_li_table2"
    assert tables.default_published({"architecture": "dcgan", "report": {"published": "auto"}}) == "xiang_li_table2"
    assert tables.default_published({"architecture": "mlp"}) == "none"
    assert tables.default_published({"architecture": "dcgan", "published": "none"}) == "none"
    with pytest.raises(ValueError, match="unknown published source"):
        tables.default_published({"published": "table9"})
