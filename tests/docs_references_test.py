"""The documentation cites only files that are in the repository: relative
links resolve, and no page, docstring or benchmark cites the measurement
notes that were never part of it (their facts are in docs/design.md)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([*ROOT.glob("*.md"), *ROOT.glob("docs/*.md"), *ROOT.glob("benchmarks/**/*.md"),
                *ROOT.glob("cardscan/**/*.md")])
# [text](target) with a relative target; `](?!...)` inside code is not a link
LINK = re.compile(r"\]\((?![a-z][a-z0-9+.-]*:|#|\?)([^)\s#]+)")


def test_the_pages_exist() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in PAGES}
    assert {"README.md", "CHANGELOG.md", "CONTRIBUTING.md", "docs/design.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_name_files_of_the_repository(page: Path) -> None:
    broken = [t for t in LINK.findall(page.read_text("utf-8")) if not (page.parent / t).exists()]
    assert broken == []


def test_the_link_pattern_sees_links_and_skips_the_rest() -> None:
    text = "[a](docs/x.md) [b](../y.md#part) [c](https://e.org/z) [d](#top) `(?![0-9])` [e](mailto:x@y)"
    assert LINK.findall(text) == ["docs/x.md", "../y.md"]


def test_nothing_cites_notes_outside_the_repository() -> None:
    citing = []
    for base in ("docs", "cardscan", "benchmarks", "tests", "tools"):
        for path in (ROOT / base).rglob("*"):
            if path.suffix in (".md", ".py", ".c", ".toml", ".txt") and path != Path(__file__):
                if "PERF-NOTES" in path.read_text("utf-8", "replace"):
                    citing.append(path.relative_to(ROOT).as_posix())
    citing += [p.name for p in PAGES if p.parent == ROOT and "PERF-NOTES" in p.read_text("utf-8")]
    assert citing == []
