"""Command line of the report stage: ``python -m gannorm report <subcommand> ...``.

``study``  --study S --paper P --runs DIR [DIR ...] --results-dir results/<name> [--store store.json]
           [--title T] [--prose-dir paper/studies]
           every report file of one study: its tables, figures and ``report/study_S.tex`` (one
           Snakemake job per study); prints each claim's verdict
``build``  --results-dir results/<name> --tex paper/report.tex --studies S [S ...] --out report.pdf [--name N]
           the PDF from the studies' sections (latexmk)

``--runs`` are the study's run folders in configured order (variant, then seed); ``--paper`` names
its :class:`gannorm.studies.Study`. Errors exit with status 1 and a one-line message. This stage
imports no torch.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gannorm report",
                                     description="Tables, figures and the PDF report of gannorm studies.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("study", help="every report file of one study (tables, figures, section with verdicts)")
    p.add_argument("--study", required=True, help="study name in the config")
    p.add_argument("--paper", required=True, help="the study's paper (gannorm.studies registry key)")
    p.add_argument("--runs", nargs="+", required=True, metavar="DIR", help="run folders of the study")
    p.add_argument("--results-dir", required=True, help="results/<name>")
    p.add_argument("--store", default=None, help="the dataset store's store.json (sizes, dataset source)")
    p.add_argument("--title", default=None, help="section title (default: the config's, else the study's)")
    p.add_argument("--prose-dir", default="paper/studies", help="folder of <paper>.tex (default paper/studies)")
    p.add_argument("--spec", default=None, type=json.loads, metavar="JSON",
                   help="the study's resolved config (title, variants, seeds, report options, per-architecture "
                        "keys); default: the config each run recorded")
    p = sub.add_parser("build", help="compile paper/report.tex with latexmk into the report PDF")
    p.add_argument("--results-dir", required=True, help="results/<name>")
    p.add_argument("--tex", required=True, help="paper/report.tex")
    p.add_argument("--studies", nargs="+", required=True)
    p.add_argument("--out", required=True, help="results/<name>/report.pdf")
    p.add_argument("--name", default=None, help="run name for the title (default: results dir name)")
    return parser


def _study(args: argparse.Namespace) -> None:
    from gannorm.config import load_plugins
    from gannorm.io import read_json
    from gannorm.report.latex import architecture_groups, write_study
    from gannorm.report.runs import learning, load_runs
    from gannorm.studies import get

    runs = load_runs(args.runs)
    load_plugins(args.spec or runs[0]["config"])  # a study or normalization registered by a plug-in (gannorm.plugins)
    store = read_json(args.store) if args.store else None
    results = write_study(args.study, get(args.paper), runs, args.results_dir, store, args.title, args.prose_dir,
                          study_config=args.spec)
    for run in runs:
        if run["outcome"] != "completed":
            print(f"note: {run['run_dir']}: outcome {run['outcome']}")
    groups = architecture_groups(runs)
    several = len(groups) > 1
    checks = [(run["architecture"], learning(run)) for run in runs]
    failed = [f"{arch}/" * several + c.text() for arch, c in checks if not c.learned]
    print(f"{args.study}: {len(checks) - len(failed)} of {len(checks)} runs learned (best running evaluation below "
          f"iteration 0's)" + ("; did not: " + "; ".join(failed) if failed else ""))
    where = [f" ({arch})" * several for _ in get(args.paper).claims for arch in groups]  # the order of write_study
    for verdict, arch in zip(results, where):
        print(f"{args.study}{arch}: {verdict.text()}")


def _build(args: argparse.Namespace) -> None:
    from gannorm.report.latex import build_pdf

    print(f"wrote {build_pdf(args.tex, args.results_dir, args.studies, args.out, run_name=args.name)}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one report subcommand (``argv``: the arguments after ``report``).

    Raises:
        SystemExit: bad arguments (status 2) or a failed step (status 1, one-line message on stderr:
            missing or invalid input files, an unknown paper, latexmk missing or failing).
    """
    from gannorm.report.latex import LatexError

    args = _parser().parse_args(list(argv) if argv is not None else None)
    try:
        {"study": _study, "build": _build}[args.command](args)
    except (LatexError, FileNotFoundError, KeyError, ValueError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        raise SystemExit(f"gannorm report {args.command}: error: {message}") from err
    return 0


if __name__ == "__main__":
    sys.exit(main())
