"""cardscan/sources/base.py: Item and the source protocols, optional capabilities included."""
from __future__ import annotations

import pickle
import subprocess
from pathlib import Path

import pytest

from cardscan.sources.base import (
    ByteSource,
    CountableSource,
    DescribedSource,
    Item,
    RootedSource,
    RoutedSource,
    RowSource,
    Source,
    StatsSource,
)
from cardscan.sources.fs import FileSource
from cardscan.sources.git import GitSource


def _caps(src: object) -> set[str]:
    protocols = (Source, ByteSource, RowSource, RoutedSource, RootedSource, DescribedSource, CountableSource,
                 StatsSource)
    return {p.__name__ for p in protocols if isinstance(src, p)}


def test_built_in_sources_declare_their_capabilities(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    assert _caps(FileSource.from_url(str(tmp_path))) == {
        "Source", "ByteSource", "RootedSource", "DescribedSource", "CountableSource", "StatsSource"}
    assert _caps(GitSource.from_url(str(repo))) == {
        "Source", "ByteSource", "RootedSource", "DescribedSource", "StatsSource"}
    sql = pytest.importorskip("cardscan.sources.sql", reason="the sql extra is not installed")
    assert _caps(sql.SQLSource(f"sqlite:///{tmp_path / 'x.db'}")) == {
        "Source", "RowSource", "RoutedSource", "DescribedSource"}


def test_a_plain_object_has_no_capability() -> None:
    class Minimal:
        name = "minimal"

        def items(self):  # type: ignore[no-untyped-def]
            return iter(())

    assert _caps(Minimal()) == {"Source"}


def test_an_item_range_is_the_same_object_limited_to_bytes_and_pickles() -> None:
    item = Item("file:///srv/big.log", "file", size=100, ukey="100:1:2:3", meta={"owner": "root"})
    part = item.range(10, 60)
    assert part.byte_range == (10, 60) and part.uri == item.uri and part.meta == item.meta
    assert item.byte_range is None
    assert pickle.loads(pickle.dumps(part)) == part
