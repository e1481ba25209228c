"""One study's report section (LaTeX), and the PDF build.

:func:`write_study` is the whole report job of one study: its tables (:mod:`gannorm.report.tables`),
figures (:mod:`gannorm.report.figures`) and ``report/study_<study>.tex``, which holds, in order, the
paper's prose (``paper/studies/<paper>.tex``: the question and the published claims in words), the
methods generated from the resolved config, the tables, a summary of the study's main quantity,
the paper's setting against ours, the verdict of every claim (:mod:`gannorm.report.claims`) and
the figures. :func:`build_pdf` writes ``studies.tex``, ``meta.tex`` and the provenance appendix and
runs latexmk.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from gannorm.config import study_variant
from gannorm.models.configs import ARCHITECTURE_CONFIGS
from gannorm.models.variant import describe
from gannorm.report import claims as claims_engine
from gannorm.report.runs import QUANTITIES, Learning, ReportOptions, learning, measure
from gannorm.report.text import escape_latex, format_number, format_value, latex_caption, latex_to_rst, write_text
from gannorm.studies import Published, Setting, Study, caption_file, table_stem

LATEX_PACKAGES = ("latexmk texlive-latex-base texlive-latex-recommended texlive-latex-extra "
                  "texlive-fonts-recommended")


class LatexError(RuntimeError):
    """latexmk is missing, a study's section is missing, or the LaTeX build failed."""


def store_setting(store_meta: Mapping[str, Any] | None, iterations: int | None) -> Setting | None:
    """Our setting from a store sidecar (``store.json``) and the configured iterations; None if unknown."""
    if not store_meta:
        return None
    source = store_meta.get("source")
    name = source.get("name") if isinstance(source, Mapping) else source
    shape = list(store_meta.get("shape") or [])
    classes = store_meta.get("classes")
    return Setting(str(name or "unknown"), str(name), int(shape[-1]) if len(shape) == 4 else None,
                   int(iterations) if iterations else None, tuple(int(c) for c in classes) if classes else None)


def methods(study: str, spec: Study, config: Mapping[str, Any], store_meta: Mapping[str, Any] | None,
            others: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """The methods paragraph: what was trained and how, from the resolved config recorded in ``run.json``
    (``config``: the first architecture's; ``others``: architecture -> the config of each further
    architecture of a study over several, whose keys that differ are listed after it)."""
    variants, seeds = list(config.get("variants") or []), list(config.get("seeds") or [])
    data = f"dataset \\texttt{{{escape_latex(config.get('dataset'))}}}"
    if store_meta and store_meta.get("shape"):
        shape = store_meta["shape"]
        split = store_meta.get("split") or {}
        dims = " $\\times$ ".join(str(s) for s in shape[1:])
        data += (f" ({format_number(split.get('train_count', shape[0]))} training and "
                 f"{format_number(split.get('test_count', 0))} test items of shape {dims}")
        skipped = int(store_meta.get("skipped_count") or 0)
        if skipped:
            used = int(store_meta.get("count") or shape[0])
            data += (f"; {format_number(used)} of {format_number(used + skipped)} source files used, "
                     f"{format_number(skipped)} unreadable ones skipped, listed in the store's "
                     "\\texttt{store.json}")
        data += ")"
    names = ", ".join(f"\\texttt{{{escape_latex(v)}}} ({escape_latex(describe(study_variant(config, v)))})"
                      for v in variants)
    archs = list(spec.architectures)
    arch_text = ("architecture " if len(archs) == 1 else f"{len(archs)} architectures ") + ", ".join(
        f"\\texttt{{{escape_latex(a)}}}" for a in archs)
    text = (f"\\paragraph{{Methods.}} Study \\texttt{{{escape_latex(study)}}} trains {arch_text} on {data} in "
            f"{len(variants)} variants ({names}; a normalization not named is the architecture's convention) "
            f"with {len(seeds)} seed"
            f"{'s' if len(seeds) != 1 else ''} ({', '.join(map(str, seeds))}): "
            f"{format_number(len(archs) * len(variants) * len(seeds))} runs. The resolved settings (the config with every "
            "default filled in, as each run recorded it; \\texttt{model}: the keys the architecture reads, "
            "\\texttt{train}: every key, including those only other objectives read):\n\\begin{itemize}\n")
    own = {e.key for a in archs for e in ARCHITECTURE_CONFIGS[a].entries() if e.section == "model"}
    for section in ("model", "train", "evaluate", "report"):
        values = {k: v for k, v in (config.get(section) or {}).items()
                  if section != "model" or k in own}
        if values:
            items = ", ".join(f"\\texttt{{{escape_latex(k)}}} {format_number(v)}" for k, v in sorted(values.items()))
            text += f"\\item \\texttt{{{section}}}: {items}\n"
    for arch, other in (others or {}).items():
        for section in ("model", "train", "evaluate"):
            changed = {k: v for k, v in (other.get(section) or {}).items() if (config.get(section) or {}).get(k) != v}
            if changed:
                items = ", ".join(f"\\texttt{{{escape_latex(k)}}} {format_number(v)}" for k, v in sorted(changed.items()))
                text += f"\\item \\texttt{{{section}}} in \\texttt{{{escape_latex(arch)}}} instead: {items}\n"
    return text + "\\end{itemize}\n"


def summary(spec: Study, runs: Sequence[dict[str, Any]], options: ReportOptions) -> str:
    """Per variant the mean $\\pm$ sample std over the measured seeds of the study's main quantity."""
    quantity = QUANTITIES[spec.main_quantity]
    parts = []
    for variant in dict.fromkeys(r["variant"] for r in runs):
        values = [measure(r, spec.main_quantity, options).value for r in runs if r["variant"] == variant]
        finite = [v for v in values if math.isfinite(v)]
        mean = sum(finite) / len(finite) if finite else math.nan
        std = (math.sqrt(sum((v - mean) ** 2 for v in finite) / (len(finite) - 1)) if len(finite) > 1
               else math.nan)
        cell = format_value(mean) + ("" if math.isnan(std) else f" $\\pm$ {format_value(std)}")
        parts.append(f"\\texttt{{{escape_latex(variant)}}} {cell} ({len(finite)} of {len(values)} seeds measured)")
    return (f"\\paragraph{{Summary.}} {escape_latex(quantity.label[0].upper() + quantity.label[1:])}"
            f"{' (' + escape_latex(quantity.unit) + ')' if quantity.unit else ''}, mean $\\pm$ sample standard "
            f"deviation over seeds: " + "; ".join(parts) + ".\n")


def learning_paragraph(checks: Sequence[Learning]) -> str:
    """How many runs learned (best running evaluation below iteration 0's), naming those that did not."""
    failed = [c for c in checks if not c.learned]
    text = (f"\\paragraph{{Learning.}} {len(checks) - len(failed)} of {len(checks)} runs learned: their best running "
            "evaluation is below its value at iteration 0")
    if failed:
        text += "; did not: " + "; ".join(escape_latex(c.text()) for c in failed)
    return text + ".\n"


def setting_paragraph(published: Published | None, ours: Setting | None) -> str:
    """The paper's setting against ours, from the study's one record of it (tables, methods and
    verdicts use the same record)."""
    if published is None:
        return ""
    text = (f"\\paragraph{{Setting.}} {escape_latex(published.source)}: {escape_latex(published.setting.label)}")
    if ours is not None:
        bits = [f"\\texttt{{{escape_latex(ours.dataset)}}}"] + ([f"{ours.size} px"] if ours.size else []) + (
            [f"{format_number(ours.iterations)} iterations"] if ours.iterations else [])
        text += f"; ours: {', '.join(bits)}"
    return text + f" --- {published.setting.relation(ours)}.\n"


_VERDICTS_HEAD = (
    "\\paragraph{{Verdicts.}} Each claim compared seed by seed (effect = how much lower the claim's lower variant "
    "is, in percent of the other's value or in the quantity's units; per-image quantities also get a paired "
    "Wilcoxon test over the test images per seed), then across seeds: the mean effect with a 95\\% Student-t "
    "interval. \\emph{{supported}}: the interval is above zero; \\emph{{contradicted}}: below; "
    "\\emph{{inconclusive}}: it contains zero or fewer than {min_seeds} seeds were measured; \\emph{{not "
    "measured}}: no seed could be compared (e.g.\\ a run diverged). A claim is judged on the variants the study "
    "ran (\\emph{{not run here}} names the others). A claim about the best of $k$ variants (e.g.\\ the best group "
    "count) compares each of them, reports the one whose interval has the highest lower end, and widens every "
    "interval to $1 - 0.05/k$ (Bonferroni), so that $k$ equal variants are not favoured.\n")


def verdicts(spec: Study, runs: Sequence[dict[str, Any]], options: ReportOptions,
             published: Published | None) -> tuple[str, list[claims_engine.Verdict]]:
    """The verdicts paragraph (LaTeX) and the :class:`gannorm.report.claims.Verdict` of every claim;
    in a study over several architectures, every claim is evaluated in each architecture on its own
    runs (one line per claim and architecture, :attr:`gannorm.report.claims.Verdict.architecture`
    set), beside the source's effect where the source measured it in that architecture
    (:attr:`gannorm.studies.Claim.paper_effects`; ``-`` elsewhere)."""
    groups = architecture_groups(runs)
    results, lines = [], []
    for claim in spec.claims:
        for arch, group in groups.items():
            v = claims_engine.evaluate(claim, group, options, published)
            v.architecture = arch
            if claim.paper_effects:
                v.paper_effect = claim.paper_effects.get(arch, "-")
            results.append(v)
            where = f"in \\texttt{{{escape_latex(arch)}}}: " if len(groups) > 1 else ""
            rest = v.text()[len(v.claim.text) + 2 + len(v.verdict):]
            lines.append(f"\\item {where}{escape_latex(v.claim.text)}: \\textbf{{{v.verdict}}}{escape_latex(rest)} "
                         f"\\emph{{({escape_latex(v.claim.source)})}}\n")
    if not results:
        return "\\paragraph{Verdicts.} This study declares no claims.\n", results
    return (_VERDICTS_HEAD.format(min_seeds=claims_engine.MIN_SEEDS) + "\\begin{itemize}\n" + "".join(lines)
            + "\\end{itemize}\n"), results


#: Columns of the verdict table of a study over several architectures.
VERDICT_COLUMNS = ("claim", "architecture", "verdict", "ours", "paper")


def verdict_table(results: Sequence[claims_engine.Verdict], study: str = "") -> "pd.DataFrame":
    """One row per claim and architecture: the claim, the architecture, the verdict (with its
    reason), our effect per pair (mean, interval, seeds; :meth:`gannorm.report.claims.PairResult.short`),
    the source's effect (``-`` where the source did not measure it), the claim's source and the
    ``study``. Plain text (the CSV; the report's opening table is built from every study's)."""
    import pandas as pd

    rows = []
    for v in results:
        verdict = v.verdict + (f" ({v.reason})" if v.reason else "")
        ours = "; ".join(p.short() for p in v.pairs) or "-"
        if v.absent and v.verdict != "not measured":
            ours += f" (not run here: {', '.join(v.absent)})"
        rows.append({"claim": v.claim.text, "architecture": v.architecture or "", "verdict": verdict, "ours": ours,
                     "paper": v.paper_effect or "-", "source": v.claim.source, "study": study})
    return pd.DataFrame(rows, columns=[*VERDICT_COLUMNS, "source", "study"])


def _verdict_cell(text: str) -> str:
    word, _, why = str(text).partition(" (")
    return f"\\textbf{{{escape_latex(word)}}}" + (f" ({escape_latex(why)}" if why else "")


def _longtable(display: "pd.DataFrame", widths: Sequence[str], **kwargs: Any) -> str:
    """``display`` (cells already LaTeX) as a ``longtable`` at 9 pt with ``p{width}`` columns, never scaled."""
    body = display.style.hide(axis="index").to_latex(hrules=True, environment="longtable",
                                                     column_format="".join(f">{{\\raggedright\\arraybackslash}}p{{{w}}}"
                                                                           for w in widths), **kwargs)
    return "{\\footnotesize\\setlength{\\tabcolsep}{3pt}\n" + body + "}\n"


def verdict_latex(table: "pd.DataFrame", caption: str, label: str) -> str:
    """The verdict table of a study over several architectures, the claim written once per group."""
    import pandas as pd

    display = pd.DataFrame({
        "Claim": [escape_latex(c) if i == 0 or c != table["claim"].iloc[i - 1] else ""
                  for i, c in enumerate(table["claim"])],
        "Architecture": [escape_latex(c) for c in table["architecture"]],
        "Verdict": [_verdict_cell(c) for c in table["verdict"]],
        "Ours: effect [95\\% CI], seeds": [escape_latex(c) for c in table["ours"]],
        "Source": [escape_latex(c) for c in table["paper"]]})
    return _longtable(display, ("3.2cm", "2.0cm", "2.2cm", "4.5cm", "3.5cm"), caption=caption, label=label)


def architecture_groups(runs: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The runs by architecture, in run order (one group for a study over one architecture)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault(str(run.get("architecture")), []).append(run)
    return groups


def labelled_by_architecture(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs for tables, figures and the summary: in a study over several architectures each
    run's ``variant`` becomes ``<architecture>/<variant>``, so the same variant in two architectures
    forms two rows and two curves; runs of one architecture are returned as they are."""
    if len(architecture_groups(runs)) < 2:
        return list(runs)
    return [{**run, "variant": f"{run['architecture']}/{run['variant']}"} for run in runs]


def _figure(study: str, name: str, options: ReportOptions) -> str:
    from gannorm.report.figures import FIGURES

    _, width, caption = FIGURES[name]  # bounded in height too: a tall figure keeps all its rows on the page
    caption = caption.replace("{window}", format_number(int(options.running_mean)))
    for key, value in options.as_dict().items():
        caption = caption.replace(f"{{{key}}}", format_number(value))
    return ("\\begin{figure}[htbp]\n\\centering\n"
            f"\\includegraphics[width={width},height=0.8\\textheight,keepaspectratio]{{figures/{study}_{name}.pdf}}\n"
            f"\\caption{{{caption} (Study \\texttt{{{escape_latex(study)}}}.)}}\n\\label{{fig:{study}-{name}}}\n"
            "\\end{figure}\n")


def write_study(study: str, spec: Study, runs: Sequence[dict[str, Any]], results_dir: str | os.PathLike,
                store_meta: Mapping[str, Any] | None = None, title: str | None = None,
                prose_dir: str | os.PathLike = "paper/studies",
                study_config: Mapping[str, Any] | None = None) -> list[claims_engine.Verdict]:
    """Write a study's report files and captions (:meth:`Study.report_files`, ``caption_files``) to ``results_dir``.

    Args:
        study: the study's name in the config. spec: its :class:`gannorm.studies.Study`.
        runs: its run records (:func:`gannorm.report.runs.load_runs`), in configured order.
        store_meta: the dataset store's ``store.json`` (sizes, source: which published setting).
        title: section title (default: the config's ``title``, else the study's).
        prose_dir: folder of ``<paper>.tex`` (the paper's question and claims in words); none = no prose.
        study_config: the study's resolved config as the workflow passes it (title, variants,
            seeds, report options, each architecture's keys); default: the config the first run of
            each architecture recorded (training jobs record only the keys they read).

    Returns:
        The verdicts (also in the section).
    """
    from gannorm.report.figures import plot_figure
    from gannorm.report.tables import write_study_table

    root = Path(results_dir)
    groups = architecture_groups(runs)
    if study_config is not None:
        from gannorm.config import cell_study

        configs = {arch: cell_study(dict(study_config), arch) if "architectures" in study_config else study_config
                   for arch in groups}
    else:
        configs = {arch: group[0]["config"] for arch, group in groups.items()}
    config = next(iter(configs.values()))
    options = ReportOptions.from_config(config.get("report"))
    ours = store_setting(store_meta, (config.get("train") or {}).get("iterations"))
    published = spec.published_for(ours.dataset if ours else None)
    parts = [f"\\section{{{escape_latex(title or config.get('title') or spec.title)}}}\n\\label{{sec:{study}}}\n"]
    prose = Path(prose_dir) / f"{spec.paper}.tex"
    if prose.is_file():  # the paper's question and claims in words, copied in as written
        parts.append(prose.read_text() + "\n")
    others = dict(list(configs.items())[1:])
    parts.append(methods(study, spec, config, store_meta, others))
    shown = labelled_by_architecture(runs)
    captions = {}  # report file -> its caption in LaTeX, written as reStructuredText at the end
    for table in spec.tables:
        stem = table_stem(study, table.name)
        write_study_table(table, study, shown, options, published, root / "tables" / f"{stem}.csv",
                          root / "tables" / f"{stem}.tex", f"tab:{stem}")
        parts.append(f"\\input{{tables/{stem}}}\n")
        for part in (stem, f"{stem}_runs"):  # the section's summary and the appendix's per-run table
            captions[f"tables/{part}.tex"] = latex_caption((root / "tables" / f"{part}.tex").read_text())
    parts.append(summary(spec, shown, options))
    parts.append(learning_paragraph([learning(run) for run in runs]))
    parts.append(setting_paragraph(published, ours))
    text, results = verdicts(spec, runs, options, published)
    parts.append(text)
    if results:  # every claim's verdict: the report's opening table; a section over architectures opens with it
        from gannorm.report.tables import write_table

        stem = table_stem(study, "verdicts")
        table = verdict_table(results, study)
        caption = (f"Each claim in each architecture (study \\texttt{{{escape_latex(study)}}}): the verdict, our effect "
                   "per compared pair (positive = the claim's direction; mean over seeds, 95\\% Student-t interval, "
                   "Bonferroni-widened for a best-of claim) and the source's own effect where it measured one.")
        write_table(table, verdict_latex(table, caption, f"tab:{stem}"), root / "tables" / f"{stem}.csv",
                    root / "tables" / f"{stem}.tex")
        captions[f"tables/{stem}.tex"] = caption
        if len(spec.architectures) > 1:
            parts.insert(1, f"\\input{{tables/{stem}}}\n")
    runs_tex = "".join(f"\\input{{tables/{table_stem(study, t.name)}_runs}}\n" for t in spec.tables)
    write_text(root / "report" / f"runs_{study}.tex",
               f"\\subsection{{Study \\texttt{{{escape_latex(study)}}}}}\n" + runs_tex + "\\clearpage\n")
    for name in spec.figures:
        plot_figure(name, shown, root / "figures" / f"{study}_{name}.pdf", options)
        parts.append(_figure(study, name, options))
        captions[f"figures/{study}_{name}.pdf"] = latex_caption(parts[-1])
    for path, caption in captions.items():  # the same captions for Snakemake's HTML report
        write_text(root / caption_file(path), latex_to_rst(caption))
    write_text(root / "report" / f"study_{study}.tex", "\n".join(parts) + "\\clearpage\n")
    return results


def overview(results_dir: str | os.PathLike, studies: Sequence[str]) -> str:
    """The report's opening page: every claim of every study (``tables/<study>_verdicts.csv``, written
    by :func:`write_study`) with its source, the source's effect, ours (effect, interval, seeds), the
    verdict and the section it is argued in, as one ``longtable`` at 9 pt."""
    import pandas as pd

    rows = []
    for study in studies:
        path = Path(results_dir) / "tables" / f"{table_stem(study, 'verdicts')}.csv"
        frame = pd.read_csv(path, keep_default_na=False) if path.is_file() else pd.DataFrame()
        several = not frame.empty and frame["architecture"].nunique() > 1
        rows += [{"Claim": escape_latex(r["claim"]) + (f" (in \\texttt{{{escape_latex(r['architecture'])}}})"
                                                      if several else ""),
                  "Source": escape_latex(r["source"]), "Source's effect": escape_latex(r["paper"]),
                  "Ours": escape_latex(r["ours"]), "Verdict": _verdict_cell(r["verdict"]),
                  "Sec.": f"\\ref{{sec:{study}}}"} for r in frame.to_dict("records")]
    head = ("\\section*{Verdicts at a glance}\n\\addcontentsline{toc}{section}{Verdicts at a glance}\n"
            "Every claim of every study, judged as its section explains (mean effect over seeds, positive = the "
            "claim's direction, with its 95\\% Student-t interval; Bonferroni-widened for a best-of claim).\n")
    if not rows:
        return head + "No study declares a claim.\n\\clearpage\n"
    return head + _longtable(pd.DataFrame(rows), ("3.4cm", "2.0cm", "2.9cm", "3.7cm", "1.9cm", "0.6cm")) + "\\clearpage\n"


def build_pdf(tex: str | os.PathLike, results_dir: str | os.PathLike, studies: Sequence[str],
              out_pdf: str | os.PathLike, run_name: str | None = None, log_lines: int = 60) -> Path:
    """Compile the report with latexmk and copy the PDF atomically to ``out_pdf``.

    Writes ``studies.tex`` (one ``\\input{study_<s>}`` per study), ``verdicts.tex`` (:func:`overview`),
    ``runs.tex`` (the per-run tables of each study, for the appendix), ``meta.tex`` (``\\gannormrun``),
    the provenance appendix and a copy of ``tex`` into ``<results_dir>/report/`` and runs
    ``latexmk -pdf -interaction=nonstopmode -halt-on-error`` there with ``TEXINPUTS`` = that
    folder, ``results_dir`` and ``tex``'s folder (so ``studies/<paper>.tex`` resolves in ``paper/``).

    Raises:
        LatexError: latexmk is missing (the message names the Debian packages), a study section is
            missing, or the build failed (the tail of the ``.log`` goes to stderr).
    """
    from gannorm.report.provenance import write_appendix

    if shutil.which("latexmk") is None:
        raise LatexError(f"latexmk not found; install it, e.g. on Debian/Ubuntu: sudo apt-get install {LATEX_PACKAGES}")
    tex, results_dir = Path(tex).resolve(), Path(results_dir).resolve()
    build_dir = results_dir / "report"
    missing = [str(build_dir / f"study_{s}.tex") for s in studies if not (build_dir / f"study_{s}.tex").exists()]
    if missing:
        raise LatexError("study sections missing (run `python -m gannorm report study` first): " + ", ".join(missing))
    write_text(build_dir / "studies.tex", "".join(f"\\input{{study_{s}}}\n" for s in studies))
    write_text(build_dir / "verdicts.tex", overview(results_dir, studies))
    write_text(build_dir / "runs.tex", "".join(f"\\input{{runs_{s}}}\n" for s in studies
                                               if (build_dir / f"runs_{s}.tex").exists()))
    write_text(build_dir / "meta.tex", f"\\newcommand{{\\gannormrun}}{{{escape_latex(run_name or results_dir.name)}}}\n")
    write_appendix(results_dir, studies, build_dir / "provenance.tex", build_dir / "provenance.csv")
    shutil.copyfile(tex, build_dir / "report.tex")
    env = {**os.environ, "TEXINPUTS": os.pathsep.join([str(build_dir), str(results_dir), str(tex.parent), ""])}
    proc = subprocess.run(["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "report.tex"],
                          cwd=build_dir, env=env, capture_output=True, text=True)
    pdf = build_dir / "report.pdf"
    if proc.returncode != 0 or not pdf.exists():
        log = build_dir / "report.log"
        tail = ("\n".join(log.read_text(errors="replace").splitlines()[-log_lines:]) if log.exists()
                else (proc.stdout + proc.stderr)[-4000:])
        print(f"--- last {log_lines} lines of {log} ---\n{tail}", file=sys.stderr)
        raise LatexError(f"latexmk failed with exit status {proc.returncode} in {build_dir}; see the log tail above")
    from gannorm.io import atomic_path

    with atomic_path(out_pdf) as tmp:
        shutil.copyfile(pdf, tmp)
    return Path(out_pdf)
