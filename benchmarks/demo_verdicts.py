"""Every claim's verdict of a finished run, as the Markdown table the README shows.

    python benchmarks/demo_verdicts.py results/demo --out benchmarks/results/demo_verdicts.md
    python benchmarks/sync_docs.py                  # copy it into the README's measured block

Reads ``tables/<study>_verdicts.csv`` of each study the report wrote (in the config's order) and
writes one row per claim (and architecture): the study, the claim, the verdict and our effect.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

import pandas as pd
import yaml


def table(results: Path, config: Path) -> str:
    """The Markdown table (first line: the command that wrote it)."""
    studies = list((yaml.safe_load(config.read_text()) or {}).get("studies") or {})
    rows = ["| study | claim | verdict | ours: effect [95% CI], seeds |", "|---|---|---|---|"]
    for study in studies:
        path = results / "tables" / f"{study}_verdicts.csv"
        if not path.is_file():
            continue
        frame = pd.read_csv(path, keep_default_na=False)
        several = frame["architecture"].nunique() > 1
        for row in frame.to_dict("records"):
            claim = row["claim"] + (f" (in `{row['architecture']}`)" if several else "")
            cells = [f"`{study}`", claim, f"**{row['verdict'].split(' (')[0]}**", row["ours"]]
            rows.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    return (f"Written by `python benchmarks/demo_verdicts.py {results}` on {when} from the report's "
            f"`tables/<study>_verdicts.csv` ({len(rows) - 2} claims):\n\n" + "\n".join(rows) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, help="results/<name> of a finished run")
    parser.add_argument("--configfile", type=Path, default=Path("config.yaml"))
    parser.add_argument("--out", type=Path, default=None, help="write here (default: print)")
    args = parser.parse_args(argv)
    text = table(args.results, args.configfile)
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
