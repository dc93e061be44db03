"""Tests for cardscan/run/__init__.py: sweep(options), the one composition root."""
from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

import cardscan
from cardscan.cli import main as cli_main
from cardscan.engine.config import ScanConfig
from cardscan.errors import ConfigError
from cardscan.options import SweepOptions
from cardscan.run import distinct_roots, run_sweep, sweep
from cardscan.sinks.base import ListSink
from cardscan.testing import assert_no_pan
from tests.treegen import write_planted


@pytest.fixture(autouse=True)
def _cwd(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no settings file from the repository
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY", raising=False)


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_cardscan_sweep_is_the_composition_root() -> None:
    import cardscan.run
    import cardscan.run.sweep as loop_module  # importing the loop's module does not hide the function

    assert cardscan.sweep is sweep is cardscan.run.sweep and callable(loop_module)
    from cardscan.run.sweep import Sweep  # the submodule still imports by name

    assert Sweep.__module__ == "cardscan.run.sweep"


def test_distinct_roots_drop_a_root_inside_another(tmp_path: Path) -> None:
    (tmp_path / "share" / "hr").mkdir(parents=True)
    (tmp_path / "share" / "a.txt").write_text("x")
    (tmp_path / "other").mkdir()
    os.symlink(tmp_path / "share" / "hr", tmp_path / "hr-link")
    urls = ["share", "share/hr", "other", "./share/", "hr-link", "share/a.txt", (tmp_path / "share").as_uri(),
            "s3://b/data", "s3://b/data/2024/", "s3://b/database/", "s3://c/", "s3://c/x",
            "sqlite:///x.db", "sqlite:///x.db", "sqlite:///y.db"]
    got = [(u, holder) for u, _, holder in distinct_roots(urls)]
    kept = [u for u, holder in got if holder is None]
    assert kept == ["share", "other", "s3://b/data", "s3://b/database/", "s3://c/", "sqlite:///x.db",
                    "sqlite:///y.db"]
    assert dict(got)["share/hr"] == "share" and dict(got)["hr-link"] == "share"
    assert dict(got)["s3://b/data/2024/"] == "s3://b/data"  # s3://b/data names data and data/...
    assert dict(got)["s3://c/x"] == "s3://c/"


def test_library_and_command_line_record_the_same_settings(tmp_path: Path, rng, capsys) -> None:
    # On main the library's scan record had no selection, config_file or file key_source.
    from cardscan.options import SweepOptions

    share = tmp_path / "share"
    share.mkdir()
    write_planted(share / "a.log", rng, 1)
    key = tmp_path / "key"
    key.write_bytes(b"a key for both, 32 bytes or longer")
    key.chmod(0o600)
    (tmp_path / ".cardscan.toml").write_text('exclude = ["*.iso"]\nkey-file = "key"\n')
    m1, m2 = tmp_path / "cli.jsonl", tmp_path / "lib.jsonl"
    assert cli_main.main(["scan", "share", "--manifest", str(m1), "-j", "1", "--no-progress", "-q"]) == 1
    options = SweepOptions(sources=("share",), manifest=str(m2), jobs=1, exclude=("*.iso",),
                           key_file=str(key), config_file=str(tmp_path / ".cardscan.toml"))
    summary = cardscan.sweep(options)
    assert summary["findings"] == 1
    a, b = records(m1)[0], records(m2)[0]
    assert a["settings"] == b["settings"]
    assert a["settings"]["selection"]["exclude"] == ["*.iso"]
    assert a["settings"]["config_file"] == str(tmp_path / ".cardscan.toml")
    assert a["key_source"] == b["key_source"] == "file" and a["key_id"] == b["key_id"]
    assert a["sources"] == b["sources"]


def test_sweep_keyword_convenience_builds_the_same_options(tmp_path: Path, rng) -> None:
    from cardscan.sinks.base import ListSink

    write_planted(tmp_path / "a.log", rng, 2)
    sink = ListSink()
    summary = cardscan.sweep([tmp_path], jobs=1, key=b"k", sinks=[sink], min_confidence=0)
    assert summary["findings"] == 2 and len(sink.findings) == 2
    assert sink.scan_info["key_source"] == "argument" and sink.scan_info["settings"]["engine"]["min_confidence"] == 0
    with pytest.raises(Exception, match="min_confidence"):
        cardscan.sweep([tmp_path], jobs=1, key=b"k", min_confidence="high")


def test_a_key_settings_loaded_keeps_its_source_in_the_scan_record(tmp_path: Path, rng, monkeypatch) -> None:
    # The CLI loads the key before the sweep (to derive its id meanwhile) and passes it
    # in: the record still says where it came from; any other key passed is an argument.
    from cardscan.findings import FingerprintKey
    from cardscan.settings import load_key
    from cardscan.sinks.base import ListSink

    write_planted(tmp_path / "a.log", rng, 1)
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", "an env key, 32 bytes or longer...")
    for key, source in ((load_key()[0], "env"), (FingerprintKey(b"a key of 32 bytes or longer, too"), "argument")):
        sink = ListSink()
        cardscan.sweep([tmp_path], jobs=1, key=key, sinks=[sink])
        assert sink.scan_info["key_source"] == source and sink.scan_info["key_id"] == key.key_id
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY")
    sink = ListSink()
    cardscan.sweep([tmp_path], jobs=1, key=load_key()[0], sinks=[sink])
    assert sink.scan_info["key_source"] == "random"


def test_run_sweep_turns_config_limits_and_source_options_into_options(tmp_path: Path, rng) -> None:
    from cardscan.decoders import Limits

    write_planted(tmp_path / "a.log", rng, 1)
    (tmp_path / "skip.iso").write_text("x")
    sink = ListSink()
    summary = run_sweep([tmp_path], key=b"k", jobs=1, sinks=[sink], config=ScanConfig(min_confidence=10),
                        limits=Limits(max_depth=1), source_options={"file": {"exclude": ["*.iso"]}})
    assert summary["findings"] == 1
    settings = sink.scan_info["settings"]
    assert settings["engine"]["min_confidence"] == 10 and settings["limits"]["max_depth"] == 1
    assert settings["selection"]["exclude"] == ["*.iso"] and summary["objects_scanned"] == 1
    with pytest.raises(ConfigError, match="no option feeds file 'colour'"):
        run_sweep([tmp_path], key=b"k", source_options={"file": {"colour": "red"}})
    with pytest.raises(ConfigError, match="max_buffer"):
        run_sweep([tmp_path], key=b"k", limits=Limits(max_buffer=7))


def test_notices_go_where_asked_and_nowhere_by_default(tmp_path: Path, rng, capsys) -> None:
    (tmp_path / "share").mkdir()
    pans = write_planted(tmp_path / "share" / "a.log", rng, 1)
    notes = io.StringIO()
    sweep(["share", "share"], jobs=1, notices=notes)
    text = notes.getvalue()
    assert "no fingerprint key" in text and "scanned once" in text
    assert_no_pan(text, pans, "notices")
    sweep(["share", "share"], jobs=1)
    c = capsys.readouterr()
    assert c.out == c.err == ""


def test_combinations_the_table_cannot_express_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--full"):
        sweep(["."], full=True)
    with pytest.raises(ConfigError, match="--state without FILE"):
        sweep(SweepOptions(sources=(".",), state="\0next-to-manifest"))
    with pytest.raises(ConfigError, match="nothing to scan"):
        sweep(SweepOptions())


def test_a_library_sweep_writing_a_manifest_refuses_a_short_key(tmp_path: Path, rng) -> None:
    # The key argument bypasses the key file and env var checks: a manifest written under a
    # short key would hold masked numbers beside fingerprints that give them back.
    from cardscan.findings import WeakKeyError

    share = tmp_path / "share"
    share.mkdir()
    write_planted(share / "a.log", rng, 1)
    m = tmp_path / "m.jsonl"
    with pytest.raises(WeakKeyError, match="manifest is 9 bytes"):
        cardscan.sweep([share], jobs=1, key=b"short key", manifest=str(m))
    assert not m.exists()
    assert cardscan.sweep([share], jobs=1, key=b"k" * 32, manifest=str(m))["findings"] == 1
    # Without a manifest (findings in memory only) a throwaway key is still fine.
    assert cardscan.sweep([share], jobs=1, key=b"short key")["findings"] == 1


def test_the_key_id_made_beside_the_start_up_is_the_keys(tmp_path: Path, rng) -> None:
    # The PBKDF2 key id is computed on a thread while sources and engine are built.
    from cardscan.findings import FingerprintKey

    write_planted(tmp_path / "a.log", rng, 1)
    key = b"the key of this test, 32 bytes or more"
    m = tmp_path / "m.jsonl"
    cardscan.sweep([str(tmp_path / "a.log")], manifest=str(m), jobs=1, key=key)
    assert records(m)[0]["key_id"] == FingerprintKey(key).key_id


def test_a_manifest_on_stdout_keeps_each_objects_records_next_to_its_messages(tmp_path: Path, rng) -> None:
    # ``--manifest -`` with stderr on the same file (2>&1): an object's
    # records come right after its messages, as the console sink keeps its
    # own lines (not a batch's messages first, then the batch's records),
    # and a reader that goes away stops the sweep at the object it missed.
    import gzip
    import subprocess
    import sys

    from cardscan.testing.pans import make_pan

    root = tmp_path / "share"
    root.mkdir()
    for i in range(6):
        pan = make_pan("4", 16, rng)
        (root / f"f{i}.log").write_text(f"paid by card {pan}\n")
        (root / f"g{i}.gz").write_bytes(gzip.compress(f"card {pan}\n".encode())[:-6])  # truncated: a message
    env = {**os.environ, "CARDSCAN_FINGERPRINT_KEY": "k" * 64}
    out = subprocess.run([sys.executable, "-m", "cardscan", "scan", "--no-progress", "--jobs", "1", "--manifest", "-",
                          str(root)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                         timeout=120).stdout.splitlines()
    told = [i for i, line in enumerate(out) if line.startswith("cardscan: ") and "truncated gzip" in line]
    assert len(told) == 6
    for i in told:
        uri = (root / out[i].split(": ")[1].rsplit("/", 1)[1]).as_uri()
        after = out[i + 1]  # the object's records, at once
        assert after.startswith("{") and json.loads(after)["location"]["uri"] == uri, (out[i], after)
