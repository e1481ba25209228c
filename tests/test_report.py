"""The report stage end to end on fake run folders in the real on-disk formats.

The builders here (``write_run`` and the per-kind ``*_dirs``) are shared by test_claims,
test_report_tables and test_provenance_report. ``gan_dirs``: two variants x four seeds of a DCGAN
study, ``weight`` seed 3 diverged at iteration 150; the final losses are chosen so that the
expected means, standard deviations and verdicts are known.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gannorm.report import figures, latex, plotting
from gannorm.report.cli import main
from gannorm.report.runs import ReportOptions, load_runs
from gannorm.studies import RECONSTRUCTION, Claim, Study, Table
from gannorm.studies import get as get_study
from gannorm.studies.xiang_li import TABLE2, TABLE7

REPO = Path(__file__).resolve().parents[1]
STUDY = "xiang_li"
BINS = 16
#: per-image factors with mean exactly 1: per_image = mean * FACTORS
FACTORS = np.array([0.8, 0.9, 1.0, 1.0, 1.1, 1.2])

GAN_CONFIG = {
    "title": "Batch vs weight normalization (test_study)", "dataset": "my_digits", "architecture": "dcgan",
    "variants": ["vanilla", "weight"], "seeds": [0, 1, 2, 3],
    "model": {"width": 32, "latent": 24},
    "train": {"iterations": 3000, "batch_size": 32, "lr": 1.0e-4, "log_every": 50, "eval_every": 100},
    "evaluate": {"images": 6, "steps": 2000, "lr": 0.01, "batch_size": 512, "reconstructions": 4},
}
# (variant, seed) -> (final loss of the best checkpoint or None = diverged at 150, best running loss)
GAN_RUNS = {
    ("vanilla", 0): (0.010, 0.020), ("vanilla", 1): (0.014, 0.030), ("vanilla", 2): (0.012, 0.025),
    ("vanilla", 3): (0.016, 0.035),
    ("weight", 0): (0.008, 0.015), ("weight", 1): (0.011, 0.031), ("weight", 2): (0.009, 0.027),
    ("weight", 3): (None, 0.050),
}
STORE = {"source": "digits", "shape": [1797, 1, 16, 16], "split": {"seed": 0, "train_count": 1500, "test_count": 297}}


# --- builders ----------------------------------------------------------------------------------------

def write_run(root: Path, study: str, variant: str, seed: int, *, config: dict, outcome: str = "completed",
              iterations_done: int | None = None, run: dict | None = None, final: dict | None = None,
              metrics: dict | None = None, snapshots: dict | None = None, recon: dict | None = None,
              samples=()) -> Path:
    """One run folder ``runs/<study>/<arch>-<variant>/seed<k>``: ``run.json`` always; ``final_eval.json``
    when ``final`` (outcome added), ``metrics.csv`` from ``metrics`` (column -> values, NaN = empty
    cell), ``snapshots/iter%07d.npz`` from ``snapshots`` ({iteration: per-channel W1 list}),
    ``reconstructions.npz`` from ``recon`` and ``samples/iter%07d.png`` at ``samples``."""
    run_dir = root / "runs" / study / f"{config['architecture']}-{variant}" / f"seed{seed}"
    run_dir.mkdir(parents=True)
    done = iterations_done if iterations_done is not None else config["train"]["iterations"]
    (run_dir / "run.json").write_text(json.dumps({
        "study": study, "dataset": config["dataset"], "architecture": config["architecture"], "variant": variant,
        "seed": seed, "outcome": outcome, "iterations_done": done, "wall_seconds": 12.5, "config": config,
        "git": {"sha": None, "dirty": None}, "versions": {"python": "3.11", "torch": "2.0"}, "device": "cpu",
        **(run or {})}))
    if final is not None:
        (run_dir / "final_eval.json").write_text(json.dumps({"outcome": outcome, **final}))
    if metrics is not None:
        pd.DataFrame(metrics).to_csv(run_dir / "metrics.csv", index=False, na_rep="")
    rng = np.random.default_rng(seed)
    for it, w1 in (snapshots or {}).items():
        channels = len(w1)
        (run_dir / "snapshots").mkdir(exist_ok=True)
        hist, data = rng.random((channels, BINS)), rng.random((channels, BINS))
        np.savez(run_dir / "snapshots" / f"iter{it:07d}.npz", histogram=hist / hist.sum(1, keepdims=True),
                 data_histogram=data / data.sum(1, keepdims=True), bin_edges=np.linspace(0, 1, BINS + 1),
                 w1=np.asarray(w1, float), images=rng.random((4, channels, 8, 8)).astype(np.float32),
                 iteration=np.asarray(it))
    if recon is not None:
        np.savez(run_dir / "reconstructions.npz", **recon)
    if samples:
        import matplotlib.pyplot as plt

        (run_dir / "samples").mkdir()
        for it in samples:
            plt.imsave(run_dir / "samples" / f"iter{it:07d}.png", rng.random((18, 18, 3)))
    return run_dir


def recon_final(best, last=None, indices=None) -> dict:
    """``final_eval.json`` of an image GAN: per-image losses of the best (and last) checkpoint;
    ``best`` None = a diverged generator (no numbers)."""
    def entry(values, iteration):
        values = None if values is None else [float(v) for v in values]
        return {"iteration": iteration, "mean": None if values is None else float(np.mean(values)),
                "per_image": values or []}

    n = 0 if best is None else len(best)
    return {"images": n, "steps": 10, "lr": 0.01, "test_indices": list(indices if indices is not None else range(n)),
            "checkpoints": {"best": entry(best, 100), "last": entry(best if last is None else last, 200)}}


def gan_dirs(root: Path, runs: dict = GAN_RUNS, config: dict = GAN_CONFIG, study: str = STUDY) -> list[Path]:
    dirs = []
    for (variant, seed), (final, running) in runs.items():
        diverged = final is None
        last = 150 if diverged else config["train"]["iterations"]
        its = np.arange(50, last + 1, 50)
        rng = np.random.default_rng(seed)
        targets = rng.random((4, 1, 8, 8), dtype=np.float32)
        dirs.append(write_run(
            root, study, variant, seed, config=config, outcome="diverged" if diverged else "completed",
            iterations_done=last, run={"best_iteration": 1000 * (seed + 1), "best_running_recon": running},
            final=recon_final(None if diverged else final * FACTORS),
            metrics={"iteration": its, "d_loss": np.where(its == last, np.inf, 1.3) if diverged else 1.3 - its / 1e4,
                     "running_recon": np.where(its % 100 == 0, running * (1 + 1000 / (its + 100)), np.nan)},
            snapshots={0: [0.3], 1000: [0.1 if variant == "weight" else 0.2]} if not diverged else {0: [0.3]},
            recon={"targets": targets, "best": np.full_like(targets, np.nan) if diverged else targets * 0.9},
            samples=() if diverged else (500, 3000)))
    return dirs


# WGAN-GP (Mullery & Whelan): critic loss -A up to iteration D, -A/10 after; with a 10-iteration
# running mean and fraction 0.5 the steep drop is at D + 6.
WGAN_CONFIG = {"dataset": "frogs", "architecture": "iwgan", "variants": ["tanh", "bn_tanh"], "seeds": [0, 1],
               "train": {"iterations": 100, "log_every": 1}, "report": {"running_mean": 10}}
# (variant, seed) -> (A, D or None = no drop, diverged at or None)
WGAN_RUNS = {("tanh", 0): (10.0, 60, None), ("tanh", 1): (10.0, None, None),
             ("bn_tanh", 0): (4.0, 30, None), ("bn_tanh", 1): (4.0, 20, 80)}


def wgan_dirs(root: Path, study: str = "mullery_iwgan") -> list[Path]:
    dirs = []
    for (variant, seed), (amplitude, drop, diverged_at) in WGAN_RUNS.items():
        last = diverged_at or 100
        its = np.arange(1, last + 1)
        critic = np.where((drop is None) | (its <= (drop or 0)), -amplitude, -amplitude / 10)
        if diverged_at:
            critic[-1] = np.inf
        targets = np.random.default_rng(seed).random((4, 3, 8, 8), dtype=np.float32)
        dirs.append(write_run(
            root, study, variant, seed, config=WGAN_CONFIG, outcome="diverged" if diverged_at else "completed",
            iterations_done=last, metrics={"iteration": its, "critic_loss": critic,
                                           "running_recon": np.where(its % 50 == 0, 0.05 - its / 1e4, np.nan)},
            final=recon_final(None if diverged_at else 0.02 * FACTORS),
            snapshots={it: [0.1 * (1 + seed)] * 3 for it in (0, 50, 100) if it <= last},
            recon={"targets": targets, "best": targets}, samples=(0, 50)))
    return dirs


SR_CONFIG = {"dataset": "patches", "architecture": "sr", "variants": ["tanh", "bn_clip"], "seeds": [0],
             "train": {"iterations": 40, "log_every": 1}, "report": {"running_mean": 5}}


def sr_dirs(root: Path) -> list[Path]:
    dirs = []
    for variant, level in (("tanh", 9.0), ("bn_clip", 3.0)):
        its = np.arange(1, 41)
        targets = np.random.default_rng(1).random((4, 3, 16, 16), dtype=np.float32)
        checkpoint = {"iteration": 40, "perceptual": 1.0, "mse": 0.004, "w1": [0.01, 0.02, 0.03],
                      "per_image": {"perceptual": [0.9, 1.1], "mse": [0.004, 0.004]}}
        dirs.append(write_run(
            root, "mullery_sr", variant, 0, config=SR_CONFIG, run={"best_running": level},
            metrics={"iteration": its, "perceptual_loss": np.where(its <= 10, level, 2.0 - its / 100),
                     "running_perceptual": np.where(its % 20 == 0, level, np.nan)},
            final={"test_indices": [0, 1], "checkpoints": {"best": checkpoint, "last": checkpoint}},
            snapshots={0: [0.3] * 3, 10: [0.1] * 3, 40: [0.05] * 3},
            recon={"inputs": targets[:, :, ::4, ::4], "targets": targets, "best": targets * 0.9}))
    return dirs


TOY_CONFIG = {"dataset": "toy", "architecture": "toy2d", "variants": ["no_bn_shift", "split_shift"], "seeds": [0],
              "train": {"iterations": 50}}


def toy_run(root: Path, variant: str, seed: int, shift: float, outcome: str = "completed") -> Path:
    real = np.random.default_rng(seed).normal(size=(64, 2))
    final = {"d_loss": 0.69, "g_loss": 0.70, "abs_d_loss_minus_ln2": abs(0.69 - math.log(2)),
             "mean_shift_norm_std_units": shift, "energy_distance": shift / 10}
    return write_run(root, "johannsmeier", variant, seed, config=TOY_CONFIG, outcome=outcome, final=final,
                     recon={"real": real, "fake": real + [shift, 0.0]})


#: cross_architecture's fake runs: final loss factor per variant (weight best, spectral below none,
#: group 8 below layer); per architecture the variants its study record runs.
CROSS_FACTORS = {"vanilla": 1.0, "batch": 1.2, "weight": 0.7, "d_none": 1.0, "d_layer": 1.0, "d_group4": 1.01,
                 "d_group8": 0.6, "d_spectral": 0.8}


def cross_dirs(root: Path, study: str = "cross_architecture") -> list[Path]:
    spec = get_study("cross_architecture")
    dirs = []
    for arch in spec.architectures:
        variants = list(spec.variants_in.get(arch, spec.variants))
        config = {**GAN_CONFIG, "architecture": arch, "variants": variants, "seeds": [0, 1, 2]}
        for variant in variants:
            for seed in range(3):
                noise = 1 + 0.01 * np.random.default_rng(seed + 10 * len(variant)).random(len(FACTORS))
                dirs.append(write_run(root, study, variant, seed, config=config,
                                      final=recon_final(0.01 * CROSS_FACTORS[variant] * FACTORS * noise)))
    return dirs


def toy_dirs(root: Path) -> list[Path]:
    return [toy_run(root, "no_bn_shift", 0, 0.05), toy_run(root, "split_shift", 0, 3.0)]


@pytest.fixture
def results(tmp_path: Path) -> tuple[Path, list[Path]]:
    """``results/test_run`` with the GAN runs and the dataset's ``store.json``."""
    root = tmp_path / "results" / "test_run"
    dirs = gan_dirs(root)
    (root / "data" / "my_digits").mkdir(parents=True)
    (root / "data" / "my_digits" / "store.json").write_text(json.dumps(STORE))
    return root, dirs


# --- figures -----------------------------------------------------------------------------------------

#: a kind of fake runs each figure is drawn for; every name of FIGURES must be here
FIGURE_KINDS = {"running_loss": gan_dirs, "samples": gan_dirs, "reconstructions": gan_dirs, "critic_loss": wgan_dirs,
                "histograms": wgan_dirs, "w1": wgan_dirs, "perceptual_loss": sr_dirs, "monitor": sr_dirs,
                "outputs": sr_dirs, "scatter": toy_dirs, "sample_evolution": gan_dirs, "sample_evolution_early": gan_dirs,
                "collapse": gan_dirs,
                "weight_vs_affine": gan_dirs, "heads": wgan_dirs, "ln_vs_gn": gan_dirs}


def _is_pdf(path: Path) -> bool:
    data = path.read_bytes()
    return data.startswith(b"%PDF") and len(data) > 1000


def test_every_figure_is_tested():
    assert set(FIGURE_KINDS) == set(figures.FIGURES)


@pytest.mark.parametrize("name", sorted(FIGURE_KINDS))
def test_figure_writes_a_pdf(name, tmp_path):
    runs = load_runs(FIGURE_KINDS[name](tmp_path))
    out = tmp_path / "figures" / f"s_{name}.pdf"
    figures.plot_figure(name, runs, out, ReportOptions(running_mean=10))
    assert _is_pdf(out)
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary file left behind


@pytest.mark.parametrize("name", sorted(FIGURE_KINDS))
def test_figure_of_runs_without_files_is_empty_panels(name, tmp_path, monkeypatch):
    """Runs with only ``run.json`` (no metrics, samples, snapshots or reconstructions): empty panels
    with a note, never an exception."""
    dirs = [write_run(tmp_path, "s", v, 0, config=GAN_CONFIG) for v in ("vanilla", "weight")]
    captured = {}
    monkeypatch.setattr(plotting, "_save", lambda fig, out: captured.setdefault("fig", fig))
    figures.plot_figure(name, load_runs(dirs), tmp_path / "x.pdf", ReportOptions())
    texts = [t.get_text() for ax in captured["fig"].axes for t in ax.texts]
    plotting.plt.close(captured["fig"])  # the patched _save does not close it
    assert any(re.search(r"no |missing", t) for t in texts), texts


def test_unknown_figure_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="unknown figure 'nope'"):
        figures.plot_figure("nope", [], tmp_path / "x.pdf", ReportOptions())


def test_critic_loss_figure_marks_steep_drops_and_divergence(tmp_path, monkeypatch):
    captured = {}
    monkeypatch.setattr(plotting, "_save", lambda fig, out: captured.setdefault("fig", fig))
    figures.plot_critic_loss(load_runs(wgan_dirs(tmp_path)), tmp_path / "x.pdf", ReportOptions(running_mean=10))
    ax = captured["fig"].axes[0]
    drops = sorted(float(line.get_xdata()[0]) for line in ax.lines if line.get_gid() == "steep_drop")
    assert drops == [26, 36, 66]  # D + 6; tanh seed 1 never drops
    assert [float(line.get_xdata()[0]) for line in ax.lines if line.get_gid() == "diverged"] == [79]
    assert any("bn_tanh seed 1 at 80" in t.get_text() for t in ax.texts)


# --- one study's section ----------------------------------------------------------------------------------

# A study of its own (prose of xiang_li) with one claim of every verdict.
CLAIMS = (
    Claim("weight has a lower final loss than vanilla", "final_recon", ("weight",), ("vanilla",), "Test, Table 1"),
    Claim("vanilla has a lower final loss than weight", "final_recon", ("vanilla",), ("weight",), "Test, Table 1"),
    Claim("weight has a lower running loss than vanilla", "running_recon", ("weight",), ("vanilla",), "Test, Fig. 2"),
    Claim("batch has a lower final loss than vanilla", "final_recon", ("batch",), ("vanilla",), "Test, Table 1"),
)
VERDICTS = ("supported", "contradicted", "inconclusive", "not measured")
FAKE = Study(paper="xiang_li", title="A fake study", citation="Test 2024", architecture="dcgan",
             variants=("vanilla", "weight", "batch"), claims=CLAIMS, published=(TABLE2,),
             tables=(RECONSTRUCTION, Table("w1", snapshots=True)), figures=("running_loss", "samples", "w1"))


#: the other studies of the report built below, with the real study records and fake runs of their kind
OTHERS = {"mullery_iwgan": wgan_dirs, "mullery_sr": sr_dirs, "johannsmeier": toy_dirs,
          "cross_architecture": cross_dirs}


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, list]:
    """The report files of the fake study and of OTHERS, written once (tests that change them copy
    the folder); returns the results folder and the fake study's verdicts."""
    root = tmp_path_factory.mktemp("results") / "test_run"
    prose = REPO / "paper" / "studies"
    verdicts = latex.write_study(STUDY, FAKE, load_runs(gan_dirs(root)), root, STORE, prose_dir=prose)
    for study, make in OTHERS.items():
        latex.write_study(study, get_study(study), load_runs(make(root)), root, prose_dir=prose)
    return root, verdicts


def test_write_study_writes_exactly_its_report_files(written):
    root, verdicts = written
    made = sorted(str(p.relative_to(root)) for sub in ("tables", "figures", "report") for p in (root / sub).iterdir())
    expected = FAKE.report_files(STUDY) + [f for s in OTHERS for f in get_study(s).report_files(s)]
    assert made == sorted(expected)
    assert "figures/xiang_li_running_loss.pdf" in made and "tables/mullery_iwgan_steep_drop.tex" in made
    assert all(_is_pdf(root / f) for f in made if f.endswith(".pdf"))
    assert [v.verdict for v in verdicts] == list(VERDICTS)


def test_each_table_and_figure_has_the_pdfs_caption_as_rst_for_the_html_report(written):
    from docutils.core import publish_parts

    root, _ = written
    captions = {**FAKE.caption_files(STUDY), **{k: v for s in OTHERS for k, v in get_study(s).caption_files(s).items()}}
    assert sorted(str(p.relative_to(root)) for p in (root / "captions").iterdir()) == sorted(set(captions.values()))
    assert captions["tables/cross_architecture_verdicts.csv"] == "captions/table_cross_architecture_verdicts.rst"
    assert captions[f"figures/{STUDY}_running_loss.pdf"] == f"captions/figure_{STUDY}_running_loss.rst"
    for path, caption in captions.items():
        text = (root / caption).read_text()
        assert text.startswith("{% raw %}") and text.endswith("{% endraw %}\n"), caption
        html = publish_parts(text[len("{% raw %}"):-len("{% endraw %}\n")], writer_name="html",
                             settings_overrides={"report_level": 5})["body"]
        assert "problematic" not in html and "$" not in text and "\\texttt" not in text, (caption, text)
    # the PDF's caption, its LaTeX markup made rST: the filled-in window, a literal, Unicode math
    figure = (root / f"captions/figure_{STUDY}_running_loss.rst").read_text()
    assert "one colour per variant, one line per seed; × marks a diverged run's last value. (Study ``xiang_li``.)" \
        in figure
    table = (root / f"captions/table_{STUDY}.rst").read_text()
    assert table.startswith("{% raw %}Study ``xiang_li``: mean ± sample standard deviation") and "Xiang & Li" in table


@pytest.mark.parametrize("tex, rst", [
    ("Loss $D(\\text{fake}) - D(\\text{real})$, $W_1$ 3 $\\pm$ 1; $1 \\times 10^{-4}$", "Loss D(fake) - D(real), W1 3 ± 1; 1 × 10^-4"),
    ("\\texttt{weight\\_affine} and a\\texttt{b}c, 95\\% \\& 1--2", "``weight_affine`` and a\\ ``b``\\ c, 95% & 1–2"),
    ("\\textbf{bold \\emph{x}} a_b *c* |d| \\textbackslash{} \\{e\\} $\\$$", "bold x a\\_b \\*c\\* \\|d\\| \\\\ {e} $"),
])
def test_latex_captions_become_rst(tex, rst):
    from gannorm.report.text import latex_caption, latex_to_rst

    assert latex_to_rst(tex) == "{% raw %}" + rst + "{% endraw %}\n"
    assert latex_caption(f"\\begin{{figure}}\\caption{{{tex} {{x}}}}\\label{{y}}") == f"{tex} {{x}}"


def test_a_study_over_several_architectures_opens_with_its_claim_by_architecture_table(written):
    import pandas as pd

    root, _ = written
    table = pd.read_csv(root / "tables" / "cross_architecture_verdicts.csv")
    spec = get_study("cross_architecture")
    assert list(table.columns) == ["claim", "architecture", "verdict", "ours", "paper", "source", "study"]
    assert list(zip(table["claim"], table["architecture"])) == [(c.text, a) for c in spec.claims for a in spec.architectures]
    rows = {(c[:2], a): r for c, a, r in zip(table["claim"], table["architecture"], table.to_dict("records"))}
    wn, gn, sn = (c.text[:2] for c in spec.claims)
    # WN: supported in every architecture; in the WGAN-GP critic without batch (not run there), no source effect
    assert all(rows[(wn, a)]["verdict"] == "supported" for a in spec.architectures)
    assert "not run here: batch" in rows[(wn, "wgan_resnet")]["ours"] and rows[(wn, "wgan_resnet")]["paper"] == "-"
    assert rows[(wn, "dcgan")]["ours"].startswith("weight vs batch: +") and "3 seeds" in rows[(wn, "dcgan")]["ours"]
    assert "Table 7" in rows[(wn, "dcgan")]["paper"]
    # GroupNorm: the best of two group counts, Bonferroni 97.5%; Wu et al.'s effect only in the critic
    assert rows[(gn, "dcgan")]["ours"].startswith("d_group8 vs d_layer: +") and "97.5% CI, best of 2" in \
        rows[(gn, "dcgan")]["ours"]
    assert rows[(gn, "dcgan")]["paper"] == "-" and "3.841" in rows[(gn, "wgan_resnet")]["paper"]
    assert rows[(sn, "wgan_resnet")]["verdict"] == "supported" and rows[(sn, "wgan_resnet")]["paper"] == "-"
    section = (root / "report" / "study_cross_architecture.tex").read_text()
    assert section.index("\\input{tables/cross_architecture_verdicts}") < section.index("\\paragraph{Question.}")
    assert "in \\texttt{wgan\\_resnet}: WN (weight) has a lower" in section


def test_section_has_prose_tables_figures_and_bold_verdicts(written):
    root, _ = written
    section = (root / "report" / f"study_{STUDY}.tex").read_text()
    assert section.startswith("\\section{Batch vs weight normalization (test\\_study)}\n\\label{sec:xiang_li}")
    assert "\\paragraph{Question (Xiang \\& Li 2017).}" in section  # paper/studies/xiang_li.tex, copied in
    included = set(re.findall(r"\\(?:input|includegraphics(?:\[[^]]*\])?)\{([^}]*)\}", section))
    expected = {f.removesuffix(".tex") for f in FAKE.report_files(STUDY) if f.endswith((".tex", ".pdf"))
                and not f.startswith("report/") and not f.endswith(("_runs.tex", "_verdicts.tex"))}
    assert included == expected
    # the per-run rows are in the appendix's part of the study, every table's
    appendix = (root / "report" / f"runs_{STUDY}.tex").read_text()
    assert set(re.findall(r"\\input\{([^}]*)\}", appendix)) == {
        f.removesuffix(".tex") for f in FAKE.report_files(STUDY) if f.endswith("_runs.tex")}
    for claim, word in zip(CLAIMS, VERDICTS):
        assert f"\\item {latex.escape_latex(claim.text)}: \\textbf{{{word}}}" in section, word
    assert "seed 3: weight diverged at iteration 150" in section
    assert "\\textbf{not measured} (the study has no run of batch)" in section
    # the paper's effect from Table 2 beside ours, the setting against ours, the summary of the main quantity
    assert "Xiang \\& Li 2017, Table 2" in section and "another dataset and scale" in section
    assert "\\texttt{weight} 0.009333 $\\pm$ 0.001528 (3 of 4 seeds measured)" in section
    for needle in ("\\texttt{my\\_digits}", "1,500 training and 297 test items", "8 runs", "\\texttt{lr} $10^{-4}$",
                   "\\texttt{iterations} 3,000"):
        assert needle in section, needle


def test_study_cli_prints_verdicts_and_rejects_unknown_paper(results, capsys):
    root, dirs = results
    args = ["study", "--study", STUDY, "--runs", *map(str, dirs), "--results-dir", str(root),
            "--store", str(root / "data" / "my_digits" / "store.json"), "--prose-dir", str(root / "none")]
    assert main([*args, "--paper", "xiang_li"]) == 0
    out = capsys.readouterr().out
    assert "outcome diverged" in out
    assert ("xiang_li: BN (batch) has a higher final reconstruction loss than vanilla: not measured (the study has no "
            "run of batch).") in out
    section = (root / "report" / f"study_{STUDY}.tex").read_text()
    assert "\\input{studies/" not in section  # no prose file in --prose-dir
    assert all((root / f).exists() for f in get_study("xiang_li").report_files(STUDY))
    with pytest.raises(SystemExit, match=r"unknown paper 'nope'; known: \[.*'xiang_li'"):
        main([*args, "--paper", "nope"])


def test_store_setting_picks_the_published_table(results):
    root, dirs = results
    assert latex.store_setting({"source": {"name": "cifar10"}, "shape": [10, 3, 32, 32], "classes": [6]}, 500) == \
        latex.Setting("cifar10", "cifar10", 32, 500, (6,))
    assert latex.store_setting(None, 500) is None
    spec = dataclasses.replace(FAKE, published=(TABLE2, TABLE7))
    latex.write_study(STUDY, spec, load_runs(dirs), root, {**STORE, "source": "cifar10"}, prose_dir=root)
    section = (root / "report" / f"study_{STUDY}.tex").read_text()
    assert "Xiang \\& Li 2017, Table 7" in section and "Table 2" not in section
    assert "the same dataset at another scale" in section  # CIFAR-10, 16 px for 3,000 iterations


# --- the PDF -------------------------------------------------------------------------------------------------

def _needs_latexmk():
    if shutil.which("latexmk") is None:
        pytest.skip("latexmk not installed")


def _build(root: Path, studies=(STUDY, *OTHERS)) -> Path:
    return latex.build_pdf(REPO / "paper" / "report.tex", root, list(studies), root / "report.pdf", run_name="t_1")


def test_report_pdf_builds_with_latexmk(written):
    _needs_latexmk()
    root, _ = written
    paper = sorted(p.relative_to(REPO) for p in (REPO / "paper").rglob("*"))
    assert _build(root) == root / "report.pdf"
    assert (root / "report.pdf").read_bytes().startswith(b"%PDF") and (root / "report.pdf").stat().st_size > 20_000
    assert sorted(p.relative_to(REPO) for p in (REPO / "paper").rglob("*")) == paper  # nothing written into paper/
    log = (root / "report" / "report.log").read_text(errors="replace")
    assert "Output written on report.pdf" in log and "undefined references" not in log
    assert "t\\_1" in (root / "report" / "meta.tex").read_text()
    provenance = pd.read_csv(root / "report" / "provenance.csv")  # every run of the studies' tables
    cross = get_study("cross_architecture")
    cross_runs = 3 * sum(len(cross.variants_in.get(a, cross.variants)) for a in cross.architectures)
    assert len(provenance) == len(GAN_RUNS) + len(WGAN_RUNS) + 2 + 2 + cross_runs
    assert list(dict.fromkeys(provenance["study"])) == [STUDY, *OTHERS]


def test_latex_error_prints_log_tail_and_keeps_old_pdf(written, tmp_path, capsys):
    _needs_latexmk()
    root = tmp_path / "test_run"
    shutil.copytree(written[0], root)
    (root / "report.pdf").write_bytes(b"old")
    for leftover in (root / "report").glob("report.*"):
        leftover.unlink()
    (root / "tables" / f"{STUDY}.tex").write_text("\\thismacroisundefined\n")
    with pytest.raises(latex.LatexError, match="latexmk failed"):
        _build(root)
    assert "Undefined control sequence" in capsys.readouterr().err
    assert (root / "report.pdf").read_bytes() == b"old"


def test_build_names_a_missing_section(written, tmp_path, monkeypatch):
    monkeypatch.setattr(latex.shutil, "which", lambda name: "/usr/bin/" + name)
    with pytest.raises(latex.LatexError, match=r"study sections missing.*study_other\.tex"):
        _build(written[0], (STUDY, "other"))
    with pytest.raises(SystemExit, match=r"gannorm report build: error: study sections missing.*study_other\.tex"):
        main(["build", "--results-dir", str(written[0]), "--tex", str(REPO / "paper" / "report.tex"),
              "--studies", STUDY, "other", "--out", str(written[0] / "x.pdf")])
    assert not (written[0] / "report" / "study_other.tex").exists()


def test_build_without_latexmk_names_packages(written, monkeypatch):
    monkeypatch.setattr(latex.shutil, "which", lambda name: None)
    with pytest.raises(latex.LatexError, match="latexmk not found.*texlive-latex-extra"):
        _build(written[0])


def test_learning_says_per_run_whether_the_best_running_evaluation_beat_iteration_0(tmp_path):
    from gannorm.report.runs import learning

    dirs = [write_run(tmp_path, STUDY, "batch", 0, config=GAN_CONFIG,
                      metrics={"iteration": [0, 50, 100], "running_recon": [0.2, 0.1, 0.15]}),
            write_run(tmp_path, STUDY, "weight", 1, config=GAN_CONFIG,
                      metrics={"iteration": [0, 50, 100], "running_recon": [0.2, 0.25, np.nan]}),
            write_run(tmp_path, STUDY, "vanilla", 2, config=GAN_CONFIG, metrics={"iteration": [50], "d_loss": [1.0]})]
    checks = [learning(run) for run in load_runs(dirs)]
    assert [c.learned for c in checks] == [True, False, False]
    assert (checks[0].first, checks[0].best) == (0.2, 0.1)
    assert math.isnan(checks[2].first)
    paragraph = latex.learning_paragraph(checks)
    assert paragraph.startswith("\\paragraph{Learning.} 1 of 3 runs learned")
    assert "weight seed 1: best 0.2 vs 0.2 at iteration 0" in paragraph and "vanilla seed 2" in paragraph
    assert "batch seed 0" not in paragraph


def _tables(text: str) -> list[tuple[str, str]]:
    """(column specification, body) of every tabular and longtable (braces matched)."""
    out = []
    for match in re.finditer(r"\\begin\{(tabular|longtable)\}\{", text):
        depth, i = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        end = text.index(f"\\end{{{match.group(1)}}}", i)
        out.append((text[match.end():i - 1], text[i:end]))
    return out


def _visible(cell: str) -> str:
    """The printed characters of a LaTeX cell, roughly: commands and braces dropped, arguments kept."""
    cell = re.sub(r"\\multirow\[[^]]*\]\{[^}]*\}\{[^}]*\}|\\multirow\{[^}]*\}\{[^}]*\}", "", cell)
    cell = re.sub(r"\\(?:[a-zA-Z]+)\*?", "", cell)
    return re.sub(r"[{}$\\]", "", cell).strip()


def _width_cm(spec: str, body: str, separation: float = 0.42) -> float:
    """A table's width: its p{..cm} columns, and for each l/r/c column its longest cell at 0.19 cm a
    character (10 pt upright text), plus 0.42 cm of column separation per column."""
    columns = re.findall(r"p\{([\d.]+)cm\}|([lrc])", re.sub(r">\{[^}]*\}", "", spec))
    rows = [re.split(r"(?<!\\)&", row) for row in re.split(r"\\\\", body)]
    width = 0.0
    for k, (p_width, letter) in enumerate(columns):
        if p_width:
            width += float(p_width)
        else:
            width += 0.19 * max((len(_visible(r[k])) for r in rows if len(r) > k), default=0)
    return width + separation * len(columns)


def test_no_table_is_scaled_or_set_below_9_pt_and_every_figure_is_bounded(written):
    """Readable at print size: the generated LaTeX of every study (sections, tables, the appendix
    parts) never scales a table, never uses a font below \\footnotesize (9 pt in the 11 pt report),
    keeps the wrapped columns of each table within the text width (16.6 cm: A4 less 2 x 2.2 cm), and
    bounds every figure in width and height."""
    root, _ = written
    files = sorted((root / "tables").glob("*.tex")) + sorted((root / "report").glob("*.tex"))
    assert len(files) > 10 and sum(len(_tables(p.read_text())) for p in files) > 10
    for path in files:
        text = path.read_text()
        for banned in ("\\resizebox", "\\scalebox", "adjustbox", "\\tiny", "\\scriptsize"):
            assert banned not in text, (path.name, banned)
        separation = 0.21 if "\\setlength{\\tabcolsep}{3pt}" in text else 0.42  # 2 x \\tabcolsep
        for spec, body in _tables(text):
            width = _width_cm(spec, body, separation)
            assert width <= 16.6, (path.name, spec, round(width, 1))
        for options in re.findall(r"\\includegraphics\[([^]]*)\]", text):
            assert "width=" in options and "height=" in options and "keepaspectratio" in options, (path.name, options)
