"""Command line of the report stage: ``python -m gannorm report <subcommand> ...``.

Subcommands (every output is written atomically; ``S`` = study, ``K`` = report kind, default: the
kind of the runs' architecture, :mod:`gannorm.report.kinds`):

``table``    --study S --name T --runs DIR [DIR ...] --csv OUT.csv --tex OUT.tex [--kind K]
             [--published SRC] [--store store.json] [options]
             one table T of the kind (``results``, ``steep_drop``, ``w1``)
``figure``   --study S --name F --runs DIR [DIR ...] --out OUT.pdf [--kind K] [--title T] [options]
             one figure F of the kind (``running_loss``, ``critic_loss``, ``histograms``, ...)
``summary``  --study S --runs DIR [DIR ...] --out summary_S.tex [--kind K] [--published SRC]
             [--store store.json] [options]
             summary paragraph, the paper's published claim beside ours, and the computed verdicts
``methods``  --study S --runs DIR [DIR ...] --out methods_S.tex --section study_S.tex
             [--store store.json] [--title T] [--published SRC] [options]
``study``    --study S --runs DIR [DIR ...] --results-dir results/<name> [--store store.json]
             [--title T] [--published SRC] [options]
             every file of the study (:func:`gannorm.report.latex.study_files`) in one call
``build``    --results-dir results/<name> --tex paper/report.tex --studies S [S ...] [--kinds K [K ...]]
             --out results/<name>/report.pdf [--name NAME]

``options``: ``--running-mean N`` (generator iterations), ``--steep-drop-fraction F``,
``--early-fraction F``, ``--max-snapshots N``; each defaults to the study config's ``report`` section
as recorded in the runs' ``run.json``, then to :class:`gannorm.report.curves.ReportOptions`.
``--published``: a source of :data:`gannorm.report.papers.PUBLISHED_SOURCES` or ``auto`` (default:
:func:`gannorm.report.papers.default_published` for the study's architecture and dataset).

``--runs`` are run folders ``results/<name>/runs/<study>/<arch>-<variant>/seed<k>`` in the
configured order (variant, then seed). Errors exit with status 1 and a one-line message.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from gannorm.io import read_json


def _parser() -> argparse.ArgumentParser:
    from gannorm.report.kinds import KINDS
    from gannorm.report.papers import PUBLISHED_SOURCES

    parser = argparse.ArgumentParser(prog="python -m gannorm report",
                                     description="Tables, figures and the PDF report of gannorm studies.")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, kind: bool = True) -> None:
        p.add_argument("--study", required=True, help="study name")
        p.add_argument("--runs", nargs="+", required=True, metavar="DIR", help="run folders of the study")
        if kind:
            p.add_argument("--kind", choices=KINDS, default=None,
                           help="report kind (default: from the runs' architecture)")
        p.add_argument("--running-mean", type=int, default=None,
                       help="running-mean window in generator iterations (config report.running_mean, 100)")
        p.add_argument("--steep-drop-fraction", type=float, default=None,
                       help="steep drop: |running mean| below this fraction of its peak (report.steep_drop_fraction, 0.5)")
        p.add_argument("--early-fraction", type=float, default=None,
                       help="'early in training' = this fraction of the iterations (report.early_fraction, 0.25)")
        p.add_argument("--max-snapshots", type=int, default=None,
                       help="most snapshot iterations per histogram figure (report.max_snapshots, 8)")

    def published(p: argparse.ArgumentParser) -> None:
        p.add_argument("--published", choices=("auto", *PUBLISHED_SOURCES), default="auto",
                       help="published reconstruction losses beside ours (default auto: by architecture and dataset)")
        p.add_argument("--store", default=None, help="the dataset store's store.json (sizes, dataset source)")

    p = sub.add_parser("table", help="one table of a study as CSV + LaTeX")
    common(p)
    published(p)
    p.add_argument("--name", required=True, help="table name (results, steep_drop, w1)")
    p.add_argument("--csv", required=True)
    p.add_argument("--tex", required=True)

    p = sub.add_parser("figure", help="one figure of a study as PDF")
    common(p)
    p.add_argument("--name", required=True, help="figure name (running_loss, critic_loss, histograms, ...)")
    p.add_argument("--out", required=True)
    p.add_argument("--title", default=None)

    p = sub.add_parser("summary", help="summary paragraph, published claim and verdicts (LaTeX)")
    common(p)
    published(p)
    p.add_argument("--out", required=True)

    p = sub.add_parser("methods", help="methods paragraph and the study's LaTeX section")
    common(p)
    published(p)
    p.add_argument("--out", required=True, help="methods paragraph (.tex)")
    p.add_argument("--section", required=True, help="study section (.tex)")
    p.add_argument("--title", default=None, help="section title (default: the study config's title)")

    p = sub.add_parser("study", help="every report file of one study (tables, figures, summary, methods)")
    common(p)
    published(p)
    p.add_argument("--results-dir", required=True, help="results/<name>")
    p.add_argument("--title", default=None)

    p = sub.add_parser("build", help="compile paper/report.tex with latexmk into the report PDF")
    p.add_argument("--results-dir", required=True, help="results/<name>")
    p.add_argument("--tex", required=True, help="paper/report.tex")
    p.add_argument("--studies", nargs="+", required=True)
    p.add_argument("--kinds", nargs="+", default=None, choices=KINDS,
                   help="report kind per study (default: from each study's run.json)")
    p.add_argument("--out", required=True, help="results/<name>/report.pdf")
    p.add_argument("--name", default=None, help="run name for the title (default: results dir name)")
    return parser


@dataclass
class Context:
    """What every per-study subcommand needs, read once from the arguments and the runs."""

    runs: list[dict[str, Any]]
    kind: str
    architecture: str
    config: dict[str, Any]
    options: Any
    store: dict[str, Any] | None
    setting: Any
    published: str


def _context(args: argparse.Namespace) -> Context:
    from gannorm.report import tables
    from gannorm.report.curves import ReportOptions
    from gannorm.report.kinds import report_kind
    from gannorm.report.papers import default_published, store_setting

    runs = tables.load_runs(args.runs)
    config = runs[0]["config"]
    architecture = runs[0]["architecture"]
    kind = args.kind or report_kind(architecture)
    options = ReportOptions.from_config(config.get("report"), running_mean=args.running_mean,
                                        steep_drop_fraction=args.steep_drop_fraction,
                                        early_fraction=args.early_fraction, max_snapshots=args.max_snapshots)
    store = read_json(args.store) if getattr(args, "store", None) else None
    setting = store_setting(store, (config.get("train") or {}).get("iterations"))
    published = getattr(args, "published", "none")
    if published == "auto":
        source = setting.dataset if setting is not None else None
        published = default_published({**config, "architecture": architecture}, source)
    if kind not in ("gan", "wgan"):
        published = "none"
    return Context(runs, kind, architecture, config, options, store, setting, published)


def _table(args: argparse.Namespace, ctx: Context | None = None) -> None:
    from gannorm.report import tables

    ctx = ctx or _context(args)
    tables.write_study_table(args.name, ctx.kind, args.study, ctx.runs, args.csv, args.tex,
                             published=ctx.published, setting=ctx.setting, options=ctx.options)
    for run in ctx.runs:
        if run["outcome"] != "completed":
            print(f"note: {run['run_dir']}: outcome {run['outcome']}", file=sys.stderr)


def _figure(args: argparse.Namespace, ctx: Context | None = None) -> None:
    from gannorm.report import figures

    ctx = ctx or _context(args)
    figures.plot_figure(args.name, ctx.kind, ctx.runs, args.out, ctx.options, title=getattr(args, "title", None))


def _summary(args: argparse.Namespace, ctx: Context | None = None) -> None:
    from gannorm.report.latex import write_text
    from gannorm.report.summary import study_summary

    ctx = ctx or _context(args)
    write_text(args.out, study_summary(ctx.kind, ctx.architecture, ctx.runs, ctx.options, ctx.published, ctx.setting))


def _methods(args: argparse.Namespace, ctx: Context | None = None) -> None:
    from gannorm.report import latex

    ctx = ctx or _context(args)
    text = latex.methods_paragraph(args.study, ctx.config, ctx.runs[0]["dataset"], ctx.store,
                                   published=ctx.published, options=ctx.options)
    latex.write_text(args.out, text)
    title = args.title or ctx.config.get("title") or args.study
    latex.write_text(args.section, latex.study_section(args.study, title, ctx.kind, ctx.architecture, ctx.options))


def _study(args: argparse.Namespace) -> None:
    from gannorm.report.kinds import KIND_FIGURES, KIND_TABLES
    from gannorm.report.latex import study_files, table_keys

    ctx = _context(args)
    root = Path(args.results_dir)
    files = {k: str(root / v) for k, v in study_files(args.study, ctx.kind).items()}
    for name in KIND_TABLES[ctx.kind]:
        csv_key, tex_key = table_keys(name)
        _table(argparse.Namespace(**{**vars(args), "name": name, "csv": files[csv_key], "tex": files[tex_key]}), ctx)
    for name in KIND_FIGURES[ctx.kind]:
        _figure(argparse.Namespace(**{**vars(args), "name": name, "out": files[name]}), ctx)
    _summary(argparse.Namespace(**{**vars(args), "out": files["summary"]}), ctx)
    _methods(argparse.Namespace(**{**vars(args), "out": files["methods"], "section": files["section"]}), ctx)


def _build(args: argparse.Namespace) -> None:
    from gannorm.report import latex

    out = latex.build_pdf(args.tex, args.results_dir, args.studies, args.out, run_name=args.name, kinds=args.kinds)
    print(f"wrote {out}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one report subcommand.

    Args:
        argv: arguments after ``report`` (e.g. ``["table", "--study", ...]``); default ``sys.argv[1:]``.

    Returns:
        0 on success.

    Raises:
        SystemExit: bad arguments (status 2) or a failed step (status 1, message on stderr:
            missing/invalid input files, missing config keys, unknown table/figure/kind, latexmk
            missing or failing, the toy study's report module missing).
    """
    args = _parser().parse_args(list(argv) if argv is not None else None)
    handlers = {"table": _table, "figure": _figure, "summary": _summary, "methods": _methods, "study": _study,
                "build": _build}
    from gannorm.report.latex import LatexError

    try:
        handlers[args.command](args)
    except (LatexError, FileNotFoundError, KeyError, ValueError, ImportError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        raise SystemExit(f"gannorm report {args.command}: error: {message}") from err
    return 0


if __name__ == "__main__":
    sys.exit(main())
