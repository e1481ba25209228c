"""The documentation stands on its own: the README is short and links to docs/, every relative link
of the README and docs/ resolves (file and heading), the defaults page is the code's, and no file of
the project names a design file or folder outside the repository or an issue number."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gannorm.models.configs import DEFAULTS_PAGE, defaults_markdown, defaults_section

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

#: The pages the README must link to (the issue's list: running and outputs, datasets, GPU and
#: SLURM, studies and verdicts, extending, configuration, performance, papers, figures, reliability).
REQUIRED_PAGES = ("running", "datasets", "gpu-and-slurm", "studies-and-verdicts", "extending", "configuration",
                  "performance", "papers", "figures", "reliability")

#: Where the project's own text lives: these may not point outside the repository.
SCANNED = ("src", "workflow", "docs", "configs", "paper", "benchmarks", "README.md", "Snakefile", "Makefile")
FORBIDDEN = {"DESIGN.md": re.compile(r"DESIGN\.md"),
             "a shared/ path": re.compile(r"\bshared/"),
             "an issue number": re.compile(r"\bissues? #?\d+\b|\bissue-\d+\b", re.I)}

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def prose(text: str) -> str:
    """``text`` without fenced code blocks and inline code (where ``[...](...)`` is not a link)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces -> hyphens."""
    text = re.sub(r"`", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M)}


def relative_links(page: Path) -> list[str]:
    return [target for target in LINK.findall(prose(page.read_text()))
            if not re.match(r"[a-z][a-z0-9+.-]*:", target)]  # http:, https:, mailto:


def test_slug_matches_githubs_anchors():
    assert slug("Inception score, FID and KID (optional)") == "inception-score-fid-and-kid-optional"
    assert slug("The demo's verdicts") == "the-demos-verdicts"
    assert slug("After a crash, kill or preemption") == "after-a-crash-kill-or-preemption"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page):
    assert page.exists()
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.exists(), f"{page.relative_to(REPO)}: link {target!r} -> missing {resolved}"
        if anchor and resolved.suffix == ".md":
            assert anchor in anchors(resolved), \
                f"{page.relative_to(REPO)}: link {target!r}: no heading #{anchor} in {resolved.name}"


def test_the_readme_is_short_and_links_every_docs_page():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 250, f"README.md has {len(text.splitlines())} lines (at most 250)"
    assert "make test" in text and "make demo" in text
    linked = {Path(t.partition("#")[0]).stem for t in relative_links(REPO / "README.md") if t.startswith("docs/")}
    assert set(REQUIRED_PAGES) <= linked, f"README links no docs page for {sorted(set(REQUIRED_PAGES) - linked)}"
    pages = {p.stem for p in (REPO / "docs").glob("*.md")}
    assert pages <= linked, f"docs pages the README does not list: {sorted(pages - linked)}"


def test_the_defaults_page_is_the_codes():
    page = (REPO / DEFAULTS_PAGE).read_text()
    assert defaults_section(page) == defaults_markdown(), f"run: python -m gannorm defaults --write {DEFAULTS_PAGE}"


def scanned_files():
    for name in SCANNED:
        root = REPO / name
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in paths:
            if "__pycache__" in path.parts or any(part.endswith(".egg-info") for part in path.parts):
                continue  # generated: the package metadata copies an installed README
            try:
                yield path, path.read_text()
            except UnicodeDecodeError:  # figures, PDFs
                continue


def test_no_file_points_outside_the_repository_or_at_an_issue():
    problems = [f"{path.relative_to(REPO)}:{text.count(chr(10), 0, m.start()) + 1}: names {what} ({m.group(0)!r})"
                for path, text in scanned_files()
                for what, pattern in FORBIDDEN.items()
                for m in pattern.finditer(text)]
    assert not problems, "\n".join(problems)


def test_measured_numbers_come_from_the_files_the_benchmarks_write():
    """Every measured block of the docs is the text of its file under benchmarks/results/, and each
    such file begins with the command that wrote it (benchmarks/sync_docs.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("sync_docs", REPO / "benchmarks" / "sync_docs.py")
    sync_docs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sync_docs)
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    blocks = [m["file"] for p in pages for m in sync_docs.BLOCK.finditer(p.read_text())]
    assert "benchmarks/results/paper_cost.txt" in blocks
    assert sync_docs.main(["--check"]) == 0
    for file in sorted((REPO / "benchmarks" / "results").iterdir()):
        first = file.read_text().splitlines()[0]
        assert first.startswith(("$ python ", "Written by `python ")), (file.name, first)
        assert f"benchmarks/results/{file.name}" in blocks, f"{file.name} is shown on no docs page"
