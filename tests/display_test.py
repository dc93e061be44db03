"""cardscan/display.py: one way to show a location, path or size to people.
Names cannot forge output (control characters escaped, unambiguously) and
card numbers in names are masked."""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from cardscan.display import (
    format_location,
    human_bytes,
    is_terminal,
    local_path,
    printable,
    relative_path,
    uri_display,
)
from cardscan.findings import Cell, Location
from cardscan.testing import assert_no_pan, make_pan, masked

PAN = make_pan("455673", 16)


@pytest.mark.parametrize("raw, shown", [
    ("plain name.csv", "plain name.csv"),
    ("line\nforged: 4 findings", "line\\x0aforged: 4 findings"),    # a newline cannot start an output line
    ("\x1b[2Jcleared", "\\x1b[2Jcleared"),                          # nor can a terminal escape run
    ("tab\there\r", "tab\\x09here\\x0d"),
    ("del\x7f", "del\\x7f"),
    ("bad\udcffbyte", "bad\\xffbyte"),                              # an undecodable byte (surrogateescape)
    ("back\\x0aslash", "back\\\\x0aslash"),                         # a literal backslash stays distinguishable
    ("café ünïcode", "café ünïcode"),
])
def test_printable_escapes_what_could_forge_output(raw: str, shown: str) -> None:
    assert printable(raw) == shown
    assert "\n" not in printable(raw) and "\x1b" not in printable(raw)


def test_printable_is_one_to_one_on_its_escapes() -> None:
    # "\n" in a name and a name that really contains backslash-x-0-a differ once shown
    assert printable("a\nb") != printable("a\\x0ab")


@pytest.mark.parametrize("uri, shown", [
    ("file:///srv/share/a%20b.csv", "/srv/share/a b.csv"),
    ("file://localhost/srv/x.log", "/srv/x.log"),
    ("s3://bucket/key%20name", "s3://bucket/key%20name"),     # other schemes as they are
    ("postgresql://app@db/shop", "postgresql://app@db/shop"),
])
def test_uri_display(uri: str, shown: str) -> None:
    assert uri_display(uri) == shown


def test_format_location_for_each_form() -> None:
    f = "file:///srv/share/exports.zip"
    assert format_location(Location(uri=f, member=("2024/orders.csv",), line=3, column=7)) == \
        "/srv/share/exports.zip!2024/orders.csv:3:7"
    assert format_location(Location(uri="s3://b/k.bin", version="v1", offset=10)) == "s3://b/k.bin?versionId=v1@10"
    cell = Cell(table="payments", column="note", row_key=(("id", 7), ("part", "a")), schema="public")
    assert format_location(Location(uri="postgresql://app@db/shop", cell=cell)) == \
        "postgresql://app@db/shop#public.payments.note[id=7,part=a]"
    sheet = Location(uri="file:///r.xlsx", member=("xl/sharedStrings.xml",), line=1, column=40, ref="Sheet1!B2")
    assert format_location(sheet) == "/r.xlsx!Sheet1!B2"
    bare = Location(uri="file:///r.xlsx", member=("xl/sharedStrings.xml",), ref="B2")
    assert format_location(bare) == "/r.xlsx!xl/sharedStrings.xml!B2"
    assert format_location(Location(uri="file:///x")) == "/x"


def test_card_numbers_in_names_are_masked_and_control_characters_escaped() -> None:
    loc = Location(uri=f"file:///exports/{PAN}.csv", member=(f"cards/{PAN}\n.txt",), line=1, column=1)
    shown = format_location(loc)
    assert_no_pan(shown, [PAN])
    assert masked(PAN) in shown and "\\x0a" in shown and "\n" not in shown


def test_local_path(tmp_path: Path, monkeypatch) -> None:
    assert local_path("file:///srv/a%20b.txt") == "/srv/a b.txt"
    monkeypatch.chdir(tmp_path)
    assert local_path("notes.txt") == os.path.join(str(tmp_path), "notes.txt")
    assert local_path("s3://b/k") is None and local_path("") is None


def test_relative_path_inside_and_outside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    assert relative_path(str(root / "src" / "a.py"), root) == "src/a.py"
    assert relative_path(str(tmp_path / "other" / "b.py"), root) == (tmp_path / "other" / "b.py").as_posix()
    assert relative_path(str(tmp_path / "repo.bak"), root) == (tmp_path / "repo.bak").as_posix()  # not ../repo.bak


@pytest.mark.parametrize("n, shown", [
    (0, "0 B"), (999, "999 B"), (1000, "1.0 KB"), (1_500_000, "1.5 MB"), (3 * 10**12, "3.0 TB"),
    (5 * 10**15, "5000.0 TB"),
])
def test_human_bytes(n: int, shown: str) -> None:
    assert human_bytes(n) == shown


def test_is_terminal_says_no_for_a_pipe_a_closed_stream_and_a_non_stream() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert is_terminal(Tty())
    assert not is_terminal(io.StringIO())
    closed = io.StringIO()
    closed.close()
    assert not is_terminal(closed)  # isatty() of a closed stream raises ValueError
    assert not is_terminal(object())
    r, w = os.pipe()
    with open(w, "w") as pipe:
        assert not is_terminal(pipe)
    os.close(r)
