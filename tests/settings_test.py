"""Tests for cardscan/settings.py: settings files, sizes, the key file."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from cardscan.errors import ConfigError
from cardscan.findings import FingerprintKey
from cardscan.settings import find_config, load_config, load_key, normalise, parse_size


@pytest.mark.parametrize("text,value", [
    ("0", 0), (1024, 1024), ("64MiB", 64 << 20), ("2GB", 2_000_000_000), ("1.5k", 1500), ("10 kib", 10240),
    ("3G", 3_000_000_000), ("7b", 7),
])
def test_parse_size(text, value) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["lots", "-1", "1.2.3M", "", True, "5 XB"])
def test_parse_size_rejects(text) -> None:
    with pytest.raises(ConfigError):
        parse_size(text)


def test_nearest_file_wins_and_dot_file_beats_pyproject(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.cardscan]\njobs = 3\n')
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    (tmp_path / "a" / "pyproject.toml").write_text('[project]\nname = "no cardscan table here"\n')
    monkeypatch.chdir(sub)
    assert find_config() == tmp_path / "pyproject.toml"
    assert load_config() == ({"jobs": 3}, str(tmp_path / "pyproject.toml"))
    (tmp_path / ".cardscan.toml").write_text('jobs = 4\nkey-file = "keys/k"\n')
    settings, where = load_config()
    assert where == str(tmp_path / ".cardscan.toml")
    assert settings == {"jobs": 4, "key_file": str(tmp_path / "keys" / "k")}  # relative to the file


def test_dot_file_may_use_the_tool_table(tmp_path: Path) -> None:
    p = tmp_path / ".cardscan.toml"
    p.write_text('[tool.cardscan]\nexclude = "*.iso"\nmax-file-size = "1GiB"\n')
    assert load_config(p)[0] == {"exclude": ("*.iso",), "max_file_size": 1 << 30}  # lists: tuples (frozen options)


@pytest.mark.parametrize("text,message", [
    ('min-confidence = 101\n', "between 0 and 100"),
    ('jobs = "many"\n', "whole number"),
    ('gitignore = "yes"\n', "true or false"),
    ('exclude = [1, 2]\n', "list of strings"),
    ('min_confidance = 50\n', "did you mean 'min-confidence'"),
    ('jobs = \n', "not valid TOML"),
])
def test_bad_settings_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / ".cardscan.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert message in str(exc.value) and str(p) in str(exc.value)


def test_missing_named_file_and_no_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_config(tmp_path / "nope.toml")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    with pytest.raises(ConfigError):
        load_config(tmp_path / "pyproject.toml")


def test_no_file_no_settings(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config(search=False) == ({}, None)


def test_normalise_keeps_dash_manifest() -> None:
    assert normalise({"manifest": "-"}, "x", Path("/base")) == {"manifest": "-"}
    assert normalise({"manifest": "m.jsonl"}, "x", Path("/base")) == {"manifest": "/base/m.jsonl"}


def test_key_file_rules(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY", raising=False)
    k = tmp_path / "key"
    k.write_bytes(b"  secret-key-bytes, 32 or more of them \n")
    for mode in (0o644, 0o640, 0o604, 0o620):
        os.chmod(k, mode)
        with pytest.raises(ConfigError) as exc:
            load_key(k)
        assert "chmod 600" in str(exc.value)
    os.chmod(k, 0o400)
    key, source = load_key(k)
    assert source == "file" and key.key_id == FingerprintKey(b"secret-key-bytes, 32 or more of them").key_id
    k.write_bytes(b"\n")
    with pytest.raises(ConfigError):
        load_key(k)
    with pytest.raises(ConfigError):
        load_key(tmp_path / "missing")
    with pytest.raises(ConfigError):
        load_key(tmp_path)  # a directory


def test_key_from_env_or_random(monkeypatch) -> None:
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", "env-key, 32 bytes or longer.....")
    key, source = load_key(None)
    assert source == "env" and key.key_id == FingerprintKey(b"env-key, 32 bytes or longer.....").key_id
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY")
    key, source = load_key(None)
    assert source == "random" and key.random


@pytest.mark.parametrize("text", [
    '[tool.cardscan]\nexclude = ["*.iso"\n',                      # unclosed list
    '[project]\nname = "x"\n[tool.cardscan]\njobs = = 2\n',
    '[tool.cardscan.extra]\nx = \n',
    '[tool]\ncardscan = { jobs = 2 \n',
    'tool.cardscan.jobs = 2\n[broken\n',
])
def test_broken_pyproject_with_our_table_is_an_error_naming_it(tmp_path: Path, monkeypatch, text) -> None:
    # On main it was skipped silently, and its excludes silently stopped working.
    (tmp_path / "pyproject.toml").write_text(text)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as exc:
        load_config()
    assert str(tmp_path / "pyproject.toml") in str(exc.value) and "not valid TOML" in str(exc.value)


def test_broken_pyproject_without_our_table_is_not_ours(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.black]\nline-length = = 1\n'
                                             '# [tool.cardscan] in a comment is not a table\n')
    sub = tmp_path / "a"
    sub.mkdir()
    monkeypatch.chdir(sub)
    assert load_config() == ({}, None)
    (tmp_path / ".cardscan.toml").write_text("jobs = 2\n")  # the broken one is skipped on the way up
    assert load_config()[0] == {"jobs": 2}


def test_a_pyproject_that_cannot_hold_our_table_is_not_parsed(tmp_path: Path, monkeypatch) -> None:
    import cardscan.settings as settings

    parsed: list[Path] = []
    real = settings._toml
    monkeypatch.setattr(settings, "_toml", lambda p: parsed.append(p) or real(p))
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.black]\nline-length = 99\n')
    monkeypatch.chdir(tmp_path)
    assert find_config() is None and parsed == []
    # A quoted key may spell the name with an escape: that file is read as TOML.
    (tmp_path / "pyproject.toml").write_text('[tool."\\u0063ardscan"]\njobs = 3\n')
    assert find_config() == tmp_path / "pyproject.toml" and parsed
    assert load_config()[0] == {"jobs": 3}


def test_broken_pyproject_with_our_table_stops_the_scan(tmp_path: Path, monkeypatch, capsys) -> None:
    from cardscan.cli.main import main

    (tmp_path / "pyproject.toml").write_text('[tool.cardscan]\nexclude = ["*.iso"\n')
    (tmp_path / "a.txt").write_text("nothing\n")
    monkeypatch.chdir(tmp_path)
    for argv in (["scan", ".", "-j", "1", "--no-progress"], ["hook", "a.txt"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "pyproject.toml" in err and "not valid TOML" in err, argv


def test_settings_the_scan_command_adds_are_known_without_importing_it(tmp_path: Path) -> None:
    p = tmp_path / ".cardscan.toml"
    p.write_text('state = "run.state"\nexecutor = "dask"\nscheduler = "tcp://h:8786"\ns3-profile = "audit"\n')
    assert load_config(p)[0] == {"state": str(tmp_path / "run.state"), "executor": "dask",
                                 "scheduler": "tcp://h:8786", "s3_profile": "audit"}


@pytest.mark.parametrize("content,refused", [
    (b"0123456789abcdef0123456789abcde", True),          # 31 bytes
    (b"  0123456789abcdef0123456789abcde  \n", True),    # 31 once trimmed: padding does not count
    (b"0123456789abcdef0123456789abcdef", False),         # 32
    (b"0123456789abcdef0123456789abcdef\n", False),
])
def test_key_file_under_32_bytes_is_refused(tmp_path: Path, monkeypatch, content, refused) -> None:
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY", raising=False)
    k = tmp_path / "key"
    k.write_bytes(content)
    os.chmod(k, 0o600)
    if refused:
        with pytest.raises(ConfigError) as exc:
            load_key(k)
        assert str(k) in str(exc.value) and "cardscan keygen" in str(exc.value)
        assert content.strip().decode() not in str(exc.value)
    else:
        key, source = load_key(k)
        assert source == "file" and not key.weak


def test_env_key_under_32_bytes_is_refused_by_load_key(monkeypatch) -> None:
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", "x" * 31)
    with pytest.raises(ConfigError, match="CARDSCAN_FINGERPRINT_KEY is 31 bytes"):
        load_key(None)
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", "x" * 32)
    assert load_key(None)[1] == "env"


def test_settings_compile_no_pattern_at_import() -> None:
    # The patterns that find our table in a broken pyproject.toml are compiled
    # when one is met, not by every start-up (where none is).
    import subprocess
    import sys

    code = ("import re\ncompiled = []\noriginal = re._compile\n"
            "def spy(pattern, flags):\n    compiled.append(pattern)\n    return original(pattern, flags)\n"
            "re._compile = spy\nimport cardscan.settings\n"
            "print([p for p in compiled if b'cardscan' in (p if isinstance(p, bytes) else p.encode())])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}).stdout.strip()
    assert out == "[]"


def test_a_broken_pyproject_naming_our_table_is_still_an_error(tmp_path: Path, monkeypatch) -> None:
    for text in ("[tool.cardscan]\njobs = [\n", "[tool]\ncardscan.jobs = = 4\n", "[[tool.cardscan.x]]\n= 1\n"):
        (tmp_path / "pyproject.toml").write_text(text)
        monkeypatch.chdir(tmp_path)
        with pytest.raises(ConfigError, match="not valid TOML"):
            find_config()
    (tmp_path / "pyproject.toml").write_text("[tool.other]\nname = 'cardscan' = \n")
    assert find_config() is None  # somebody else's broken file
