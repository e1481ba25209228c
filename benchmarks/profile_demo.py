"""Where a workflow run's time goes, per study: process start-up and imports, data, training
steps, running evaluation, final evaluation and report.

    python benchmarks/profile_demo.py results/demo                 # profile a finished run
    python benchmarks/profile_demo.py --run [--cores 2] [--configfile config.yaml] [--results DIR]
                                    # run Snakemake from scratch into the config's results folder
                                    # (removed first), time it, then profile it
    ... --json profile.json        # also write the table as JSON

Sources: Snakemake's benchmark file of every job (``results/<name>/benchmarks/<rule>/...tsv``,
column ``s``: the job's wall seconds, from the shell's start to its end) and the ``timings`` that
each training and final-evaluation process records in ``run.json`` / ``final_eval.json``
(:mod:`gannorm.timing`: ``imports`` = the process's age when the work started; ``setup``,
``steps``, ``running_eval``, ``samples``, ``writes``, ``evaluate``; ``other``). Columns (seconds
of job time, summed over the study's jobs; divide by the cores for wall time):

* ``jobs``: training + final-evaluation jobs (+ the study's report job),
* ``startup`` = job wall - the process's own total + its ``imports`` (shell, interpreter, imports),
* ``setup`` (model, data to the device), ``steps`` (training iterations), ``running_eval``,
  ``samples`` (sample grids, snapshots), ``writes`` (checkpoints, metrics, resume),
* ``final_eval``: the final evaluation's own computation,
* ``report``: the study's report job; ``other``: everything else of the jobs.

Data preparation and the PDF build are rows of their own. With ``--run`` the first line gives
Snakemake's elapsed wall time.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

COLUMNS = ("jobs", "job_seconds", "startup", "setup", "steps", "running_eval", "samples", "writes",
           "final_eval", "report", "other")


def _benchmark_seconds(path: Path) -> float:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return sum(float(row["s"]) for row in rows) / max(1, len(rows))


def _timings(path: Path) -> dict[str, float]:
    try:
        return dict(json.loads(path.read_text()).get("timings") or {})
    except (OSError, ValueError):
        return {}


def profile(results: Path) -> dict[str, dict[str, float]]:
    """``{row: {column: seconds}}``: one row per study, plus ``data``, ``pdf`` and ``total``."""
    bench = results / "benchmarks"
    table: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(COLUMNS, 0.0))
    for rule in ("train", "final_eval"):
        for path in sorted((bench / rule).glob("*/*/seed*.tsv")):
            study, cell, seed = path.parent.parent.name, path.parent.name, path.stem
            row = table[study]
            wall = _benchmark_seconds(path)
            name = "run.json" if rule == "train" else "final_eval.json"
            timings = _timings(results / "runs" / study / cell / seed / name)
            row["jobs"] += 1
            row["job_seconds"] += wall
            if not timings:
                row["other"] += wall
                continue
            row["startup"] += max(0.0, wall - timings.get("total", wall)) + timings.get("imports", 0.0)
            for key, value in timings.items():
                if key in ("imports", "total"):
                    continue
                column = "final_eval" if key == "evaluate" else key
                row[column if column in COLUMNS else "other"] += value
    for path in sorted((bench / "report").glob("*.tsv")):
        wall = _benchmark_seconds(path)
        row = table["pdf" if path.stem == "report" else path.stem]
        row["jobs"] += 1
        row["job_seconds"] += wall
        row["report"] += wall
    for path in sorted((bench / "prepare_dataset").glob("*.tsv")):
        wall = _benchmark_seconds(path)
        table["data"]["jobs"] += 1
        table["data"]["job_seconds"] += wall
        table["data"]["other"] += wall
    total = dict.fromkeys(COLUMNS, 0.0)
    for row in table.values():
        for key in COLUMNS:
            total[key] += row[key]
    out = {name: table[name] for name in sorted(table, key=lambda n: (n in ("data", "pdf"), n))}
    out["total"] = total
    return out


def markdown(table: dict[str, dict[str, float]]) -> str:
    lines = ["| " + " | ".join(("row",) + COLUMNS) + " |", "|" + "---|" * (len(COLUMNS) + 1)]
    for name, row in table.items():
        cells = [f"{int(row['jobs'])}"] + [f"{row[k]:.0f}" for k in COLUMNS[1:]]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _results_dir(configfile: str) -> Path:
    import yaml

    with open(configfile) as handle:
        name = (yaml.safe_load(handle) or {}).get("name", "demo")
    return Path("results") / str(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="?", help="a finished run's results folder (results/<name>)")
    parser.add_argument("--run", action="store_true", help="run Snakemake from scratch first")
    parser.add_argument("--configfile", default="config.yaml")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--json", default=None, help="also write the table to this JSON file")
    parser.add_argument("--markdown", default=None, metavar="FILE",
                        help="also write the table, the command, the elapsed time and the machine to this "
                             "Markdown file (benchmarks/results/demo_profile.md is the one docs/performance.md shows)")
    parser.add_argument("--snakemake-log", default=None, metavar="LOG",
                        help="with a finished run: take Snakemake's elapsed time from its log (.snakemake/log/...)")
    args = parser.parse_args(argv)
    elapsed = None
    if args.snakemake_log:
        import re

        found = re.findall(r"Elapsed time: (\d+):(\d+):([\d.]+)", Path(args.snakemake_log).read_text())
        if found:
            h, m, sec = found[-1]
            elapsed = 3600 * int(h) + 60 * int(m) + float(sec)
    results = Path(args.results) if args.results else _results_dir(args.configfile)
    if args.run:
        if results.exists():
            shutil.rmtree(results)
        started = time.perf_counter()
        command = ["snakemake", "--cores", str(args.cores), "--configfile", args.configfile, "--quiet", "rules"]
        subprocess.run(command, check=True)
        elapsed = time.perf_counter() - started
        print(f"snakemake --cores {args.cores} --configfile {args.configfile}: {elapsed:.0f} s elapsed")
    elif not (results / "benchmarks").is_dir():
        parser.error(f"{results}/benchmarks not found: run the workflow first (or pass --run)")
    table = profile(results)
    print(markdown(table))
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=1) + "\n")
    if args.markdown:
        import datetime
        import os
        import platform

        done = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        said = (f"Snakemake's elapsed time **{int(elapsed // 60)} min {elapsed % 60:.0f} s**; " if elapsed else "")
        Path(args.markdown).write_text(
            f"Written by `python benchmarks/profile_demo.py {' '.join(argv if argv is not None else sys.argv[1:])}` "
            f"on {done}, {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}). {said}"
            f"{table['total']['job_seconds']:,.0f} job-seconds. Seconds of job time per phase:\n\n"
            + markdown(table) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
