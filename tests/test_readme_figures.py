"""The figure map's table (docs/figures.md, "Paper figures and tables -> our files") against the sources and the pipeline:
every numbered figure and table of a source has a row, and every file a row names as reproduced is
one that the demo (config.yaml) or the smoke run (configs/smoke.yaml) writes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from gannorm.studies import get as get_study

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO.parent / "shared" / "seeds"
PAGE = REPO / "docs" / "figures.md"
SECTION = "# Paper figures and tables -> our files"
#: the table's source column -> (the source file's prefix under ../shared/seeds, the study records of it)
SOURCES = {"Xiang & Li": ("001", ("xiang_li", "xiang_li_resnet")),
           "Mullery & Whelan": ("000", ("mullery_iwgan", "mullery_sr")),
           "Johannsmeier": ("002", ("johannsmeier",)),
           "Wu et al.": ("004", ("wu_critic_norm",)),
           "tutorial": ("003", ("tutorial_mlp",))}


#: The numbered figures and tables of each source (their captions in ../shared/seeds; checked
#: against those files where they are beside the checkout).
CAPTIONS = {"Xiang & Li": {"Figure": set(range(1, 31)), "Table": set(range(1, 9))},
            "Mullery & Whelan": {"Figure": {1, 2, 3}, "Table": set()},
            "Wu et al.": {"Figure": {1, 2, 3, 4}, "Table": set()}}


def table_rows() -> list[tuple[str, str, str]]:
    """(source, figure / table, ours) of every row of the figure map's table."""
    text = PAGE.read_text()
    assert SECTION in text, f"docs/figures.md has no section {SECTION!r}"
    body = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 3 and cells[0] not in ("source", "---"):
            rows.append(tuple(cells))
    return rows


def numbers(text: str, kind: str) -> set[int]:
    """The numbers of ``kind`` ("Figure" or "Table") a cell names: "Figures 3, 4, 10", "Tables 3-4"."""
    found: set[int] = set()
    item = r"\d+(?:-\d+)?(?:\s*\([^)]*\))?"  # a number or range, maybe with a parenthesis: "24 (CIFAR-10)"
    for match in re.finditer(rf"\b{kind}s?\s+({item}(?:(?:,\s*|\s+and\s+){item})*)", text):
        for part in re.findall(r"\d+(?:-\d+)?", re.sub(r"\([^)]*\)", "", match.group(1))):
            first, _, last = part.partition("-")
            found.update(range(int(first), int(last or first) + 1))
    return found


def produced() -> dict[str, set[str]]:
    """Per source, every report file (``<s>`` for the study name) of its studies in the demo and smoke configs."""
    out: dict[str, set[str]] = {source: set() for source in SOURCES}
    for path in ("config.yaml", "configs/smoke.yaml"):
        config = yaml.safe_load((REPO / path).read_text())
        for name, study in config["studies"].items():
            for source, (_, papers) in SOURCES.items():
                if study["paper"] in papers:
                    out[source].update(f.replace(name, "<s>", 1) for f in get_study(study["paper"]).report_files(name))
    return out


def test_the_table_has_rows_of_every_source():
    assert {source for source, _, _ in table_rows()} == set(SOURCES)


@pytest.mark.parametrize("source", sorted(CAPTIONS))
def test_the_caption_list_is_the_sources_own(source):
    seed = next(SEEDS.glob(f"{SOURCES[source][0]}_*.txt"), None)
    if seed is None:
        pytest.skip(f"the source documents are not beside this checkout ({SEEDS})")
    text = seed.read_text()
    for kind in ("Figure", "Table"):
        assert {int(n) for n in re.findall(rf"^{kind} (\d+):", text, flags=re.M)} == CAPTIONS[source][kind]


@pytest.mark.parametrize("source", sorted(CAPTIONS))
def test_every_numbered_figure_and_table_of_a_source_has_a_row(source):
    rows = [figure for s, figure, _ in table_rows() if s == source]
    for kind in ("Figure", "Table"):
        listed = set().union(*(numbers(figure, kind) for figure in rows))
        missing = CAPTIONS[source][kind] - listed
        assert not missing, f"{source}: {kind}s {sorted(missing)} have no row"


def test_every_reproduced_entry_names_files_the_demo_or_smoke_run_writes():
    files = produced()
    for source, figure, ours in table_rows():
        named = re.findall(r"`((?:figures|tables)/[^`]+)`", ours)
        if ours.startswith("not "):
            assert ":" in ours, f"{figure}: 'not reproduced' without its reason"
            continue
        assert named, f"{source} {figure}: names no file of results/<name>/"
        for path in named:
            assert path in files[source], f"{source} {figure}: {path} is not written by the demo or smoke run"
