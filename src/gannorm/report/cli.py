"""Command line of the report stage: ``python -m gannorm report <subcommand> ...``.

Subcommands (every output is written atomically):

``tables``   --study S --runs DIR [DIR ...] --csv OUT.csv --tex OUT.tex --summary OUT.tex
             [--published {xiang_li_table2,none}]
``figures``  --study S --runs DIR [DIR ...] --running-loss OUT.pdf --samples OUT.pdf
             --reconstructions OUT.pdf [--title T]
``methods``  --study S --runs DIR [DIR ...] --out methods_S.tex --section study_S.tex
             [--store store.json] [--title T] [--published {xiang_li_table2,none}]
``build``    --results-dir results/<name> --tex paper/report.tex --studies S [S ...]
             --out results/<name>/report.pdf [--name NAME]

``--runs`` are run folders ``results/<name>/runs/<study>/<arch>-<variant>/seed<k>`` in the
configured order (variant, then seed). Errors exit with status 1 and a one-line message.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from gannorm.io import read_json


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gannorm report",
                                     description="Tables, figures and the PDF report of gannorm studies.")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--study", required=True, help="study name")
        p.add_argument("--runs", nargs="+", required=True, metavar="DIR", help="run folders of the study")

    published = dict(choices=("xiang_li_table2", "none"), default="none",
                     help="published numbers to set beside ours (default: none)")

    p = sub.add_parser("tables", help="per-run and mean +- std table as CSV + LaTeX, and a summary paragraph")
    common(p)
    p.add_argument("--csv", required=True)
    p.add_argument("--tex", required=True)
    p.add_argument("--summary", required=True, help="LaTeX summary paragraph")
    p.add_argument("--published", **published)

    p = sub.add_parser("figures", help="running loss, sample grids and reconstructions as PDF")
    common(p)
    p.add_argument("--running-loss", required=True)
    p.add_argument("--samples", required=True)
    p.add_argument("--reconstructions", required=True)
    p.add_argument("--title", default=None)

    p = sub.add_parser("methods", help="methods paragraph and the study's LaTeX section")
    common(p)
    p.add_argument("--out", required=True, help="methods paragraph (.tex)")
    p.add_argument("--section", required=True, help="study section (.tex)")
    p.add_argument("--store", default=None, help="the dataset store's store.json (image count, shape, split)")
    p.add_argument("--title", default=None, help="section title (default: the study config's title)")
    p.add_argument("--published", **published)

    p = sub.add_parser("build", help="compile paper/report.tex with latexmk into the report PDF")
    p.add_argument("--results-dir", required=True, help="results/<name>")
    p.add_argument("--tex", required=True, help="paper/report.tex")
    p.add_argument("--studies", nargs="+", required=True)
    p.add_argument("--out", required=True, help="results/<name>/report.pdf")
    p.add_argument("--name", default=None, help="run name for the title (default: results dir name)")
    return parser


def _tables(args: argparse.Namespace) -> None:
    from gannorm.report import tables
    from gannorm.report.latex import write_text

    runs = tables.load_runs(args.runs)
    table = tables.build_table(runs, published=args.published)
    caption = tables.default_caption(args.study, runs[0]["dataset"], args.published != "none")
    tables.write_table_files(table, args.csv, args.tex, caption, label=f"tab:{args.study}")
    write_text(args.summary, tables.summary_latex(table))
    for run in runs:
        if run["outcome"] != "completed":
            print(f"note: {run['run_dir']}: outcome {run['outcome']}", file=sys.stderr)


def _figures(args: argparse.Namespace) -> None:
    from gannorm.report import figures, tables

    runs = tables.load_runs(args.runs)
    figures.plot_all(runs, args.running_loss, args.samples, args.reconstructions, title=args.title)


def _methods(args: argparse.Namespace) -> None:
    from gannorm.report import latex, tables

    runs = tables.load_runs(args.runs)
    config = runs[0]["config"]
    store = read_json(args.store) if args.store else None
    text = latex.methods_paragraph(args.study, config, runs[0]["dataset"], store,
                                   published=args.published != "none")
    latex.write_text(args.out, text)
    title = args.title or config.get("title") or args.study
    latex.write_text(args.section, latex.study_section(args.study, title))


def _build(args: argparse.Namespace) -> None:
    from gannorm.report import latex

    out = latex.build_pdf(args.tex, args.results_dir, args.studies, args.out, run_name=args.name)
    print(f"wrote {out}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one report subcommand.

    Args:
        argv: arguments after ``report`` (e.g. ``["tables", "--study", ...]``); default ``sys.argv[1:]``.

    Returns:
        0 on success.

    Raises:
        SystemExit: bad arguments (status 2) or a failed step (status 1, message on stderr:
            missing/invalid input files, missing config keys, latexmk missing or failing).
    """
    args = _parser().parse_args(list(argv) if argv is not None else None)
    handlers = {"tables": _tables, "figures": _figures, "methods": _methods, "build": _build}
    from gannorm.report.latex import LatexError

    try:
        handlers[args.command](args)
    except (LatexError, FileNotFoundError, KeyError, ValueError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        raise SystemExit(f"gannorm report {args.command}: error: {message}") from err
    return 0


if __name__ == "__main__":
    sys.exit(main())
