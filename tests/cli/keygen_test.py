"""``cardscan keygen``: a random key, created 0600 and exclusively (issue 12, Keys)."""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from cardscan.cli.main import main
from cardscan.findings import MIN_KEY_BYTES
from cardscan.settings import load_key


@pytest.fixture
def open_umask():
    """The most permissive umask: the mode must come from the create call, not the umask."""
    old = os.umask(0)
    yield
    os.umask(old)


def test_writes_a_random_32_byte_key_0600_that_cardscan_loads(tmp_path: Path, capsys, open_umask,
                                                               monkeypatch) -> None:
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY", raising=False)
    a, b = tmp_path / "new" / "dir" / "a.key", tmp_path / "b.key"
    assert main(["keygen", str(a)]) == 0 and main(["keygen", str(b)]) == 0
    err = capsys.readouterr().err
    for p in (a, b):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
        text = p.read_text()
        assert re.fullmatch(r"[0-9a-f]{%d}\n" % (2 * MIN_KEY_BYTES), text)
        assert text.strip() not in err  # the key itself is never printed
    # Missing parents are made private too, not 0777 under umask 0.
    for d in (tmp_path / "new", tmp_path / "new" / "dir"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert a.read_text() != b.read_text()
    key, source = load_key(a)
    assert source == "file" and not key.weak
    assert "--key-file" in err and "card data" in err


def test_refuses_to_overwrite_an_existing_file(tmp_path: Path, capsys) -> None:
    k = tmp_path / "key"
    assert main(["keygen", str(k)]) == 0
    before = k.read_bytes()
    capsys.readouterr()
    assert main(["keygen", str(k)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert k.read_bytes() == before
    # Any file, not just a key: an empty one, or one with other content.
    other = tmp_path / "notes.txt"
    other.write_text("keep me\n")
    assert main(["keygen", str(other)]) == 2 and other.read_text() == "keep me\n"


@pytest.mark.parametrize("target_exists", [False, True])
def test_never_follows_a_symlink(tmp_path: Path, capsys, target_exists) -> None:
    target = tmp_path / "elsewhere"
    if target_exists:
        target.write_text("someone else's file\n")
    link = tmp_path / "key"
    link.symlink_to(target)
    assert main(["keygen", str(link)]) == 2
    assert link.is_symlink()
    if target_exists:
        assert target.read_text() == "someone else's file\n"
    else:
        assert not target.exists()  # a dangling link is not a way to plant a key elsewhere


def test_default_path_is_the_users_config_dir(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    assert main(["keygen", "-q"]) == 0
    assert (tmp_path / "home" / ".config" / "cardscan" / "key").is_file()
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert main(["keygen", "-q"]) == 0
    assert (tmp_path / "xdg" / "cardscan" / "key").is_file()


def test_an_uncreatable_path_is_a_clear_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "file").write_text("x")
    assert main(["keygen", str(tmp_path / "file" / "key")]) == 2
    err = capsys.readouterr().err
    assert "cannot create key file" in err and "internal" not in err


def test_help_says_how_sensitive_the_key_is_with_exit_status_and_examples(capsys) -> None:
    assert main(["keygen", "--help"]) == 0
    out = capsys.readouterr().out
    assert "as sensitive as the card data" in out and "exit status:" in out and "examples:" in out
    assert main(["--help"]) == 0
    assert "keygen" in capsys.readouterr().out
