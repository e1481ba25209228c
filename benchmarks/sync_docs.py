"""Copy the measured results under ``benchmarks/results/`` into the docs pages that show them.

A docs page shows a measured file between the markers

    <!-- measured: benchmarks/results/<file> -->
    ...
    <!-- /measured -->

with the file's text in between (a ``.txt`` file inside a code fence). Each file records the command
that wrote it, so a number in the docs is never retyped: rerun the command, then

    python benchmarks/sync_docs.py          # rewrite the blocks
    python benchmarks/sync_docs.py --check  # exit 1 if a block differs from its file (tests/test_docs.py)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- measured: (?P<file>[^ ]+) -->\n)(?P<body>.*?)(<!-- /measured -->)", re.S)


def rendered(file: str) -> str:
    """The block body of a measured file: its text (a ``.txt`` file fenced)."""
    text = (ROOT / file).read_text()
    return f"```\n{text.rstrip()}\n```\n" if file.endswith(".txt") else text.rstrip() + "\n"


def sync(page: Path, check: bool) -> list[str]:
    """Rewrite (or with ``check`` only compare) the measured blocks of one page; return the stale ones."""
    text = page.read_text()
    stale = [m["file"] for m in BLOCK.finditer(text) if m["body"] != rendered(m["file"])]
    if stale and not check:
        page.write_text(BLOCK.sub(lambda m: m.group(1) + rendered(m["file"]) + m.group(4), text))
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report blocks that differ from their file")
    args = parser.parse_args(argv)
    stale = {str(p.relative_to(ROOT)): s for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
             if (s := sync(p, args.check))}
    for page, files in stale.items():
        print(f"{page}: {'differs from' if args.check else 'updated from'} {', '.join(files)}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
