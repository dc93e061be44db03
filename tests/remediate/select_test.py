"""Selecting findings for a reviewed batch."""
from __future__ import annotations

from pathlib import Path

import pytest

from cardscan.errors import ConfigError
from cardscan.findings import Cell, Finding, Location
from cardscan.remediate.select import build, read_ids, target_names


def finding(uri: str = "file:///srv/share/hr/a.csv", brand: str = "visa", kind: str = "pan", confidence: int = 85,
            test_card: bool = False, member: tuple[str, ...] = (), cell: Cell | None = None, offset: int = 5) -> Finding:
    return Finding(Location(uri=uri, member=member, offset=offset, length=16, cell=cell), kind, brand,
                   "411111******1111", "hmac-sha256:" + "0" * 64, confidence, test_card=test_card)


def test_every_criterion_must_hold_and_repeats_are_alternatives() -> None:
    s = build(brands=["visa", "mastercard"], kinds=["pan"], min_confidence=80, paths=["/srv/share/hr/*"], test_card="no")
    assert s(finding())
    assert s(finding(brand="mastercard"))
    assert not s(finding(brand="amex"))
    assert not s(finding(kind="track2"))
    assert not s(finding(confidence=79))
    assert not s(finding(uri="file:///srv/share/it/a.csv"))
    assert not s(finding(test_card=True))


def test_paths_match_members_and_exclusions_win() -> None:
    f = finding(uri="file:///srv/x/book.xlsx", member=("xl/sharedStrings.xml",))
    assert build(paths=["*.xlsx"])(f)
    assert build(paths=["*!xl/*"])(f)
    assert not build(paths=["*.xlsx"], exclude_paths=["/srv/x/*"])(f)


def test_sql_cells_match_table_and_column() -> None:
    cell = Cell("orders", "note", (("id", 7),), "public")
    f = finding(uri="postgresql://app@db/shop", cell=cell)
    assert target_names(f) == ["postgresql://app@db/shop", "postgresql://app@db/shop#public.orders",
                               "postgresql://app@db/shop#public.orders.note"]
    assert build(paths=["*#public.orders.*"])(f)
    assert not build(paths=["*#public.users*"])(f)


def test_ids_from_files_and_select_keys(tmp_path: Path) -> None:
    a, b = finding(offset=1), finding(offset=2)
    ids = tmp_path / "batch-1.txt"
    ids.write_text(f"# reviewed by ana\n{a.id}  visa notes.txt\n\n")
    assert read_ids(str(ids)) == {a.id}
    s = build(ids_files=[str(ids)])
    assert s(a) and not s(b)
    s = build(select=[f"ids={ids}", "brand=visa", "min_confidence=50", "test_card=no", "path=/srv/*", "kind=pan"])
    assert s(a) and not s(b)
    assert build(select=[f"id={b.id}"])(b)


def test_bad_selections_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        build(select=["colour=red"])
    with pytest.raises(ConfigError, match="unknown kind"):
        build(kinds=["cvv"])
    with pytest.raises(ConfigError, match="yes or no"):
        build(select=["test_card=maybe"])
    bad = tmp_path / "ids.txt"
    bad.write_text("not-an-id\n")
    with pytest.raises(ConfigError, match="line 1"):
        read_ids(str(bad))
    with pytest.raises(ConfigError, match="cannot read"):
        read_ids(str(tmp_path / "missing.txt"))
