"""Tests for cardscan/options.py: the one option table (SweepOptions)."""
from __future__ import annotations

import inspect
import subprocess
import sys
from dataclasses import fields

import pytest

from cardscan.decoders import Limits
from cardscan.engine.config import ScanConfig
from cardscan.errors import ConfigError
from cardscan.options import PARTS, SOURCES, SweepOptions, settings_schema, spec, table


def test_every_field_is_a_row_of_the_table() -> None:
    flags: list[str] = []
    for f, s in table():
        assert s.help, f.name
        assert all(feed in SOURCES + PARTS for feed in s.feeds), f.name
        flags += s.flags
        if s.action in ("append",):
            assert s.parse is not None and f.default in ((), None), f.name
    assert len(flags) == len(set(flags)), "a flag is declared twice"
    assert len(list(table())) == len(fields(SweepOptions))


@pytest.mark.parametrize("source", ["file", "s3", "sql", "git"])
def test_source_keywords_derived_from_the_table_are_accepted_by_the_source(source) -> None:
    # The table, not hand-written functions, makes from_url's keyword arguments:
    # each one must be a parameter of the source's constructor.
    from cardscan import registry

    cls = registry.load("cardscan.sources", source)
    params = inspect.signature(cls.__init__).parameters
    kwargs = SweepOptions(sources=("x",)).feeding(source)
    assert kwargs, f"no option feeds {source}"
    assert set(kwargs) <= set(params), set(kwargs) - set(params)


def test_engine_and_limits_fields_cover_their_components() -> None:
    engine = {s.kwarg or f.name for f, s in table() if "engine" in s.feeds}
    assert engine == {f.name for f in fields(ScanConfig)}
    limits = {s.kwarg or f.name for f, s in table() if "limits" in s.feeds}
    assert limits <= {f.name for f in fields(Limits)}
    # Unset engine fields leave the engine's defaults alone.
    assert SweepOptions().feeding("engine") == {}
    assert ScanConfig(**SweepOptions(min_confidence=70, inline=False).feeding("engine")) == \
        ScanConfig(min_confidence=70, inline=False)


def test_library_values_are_checked_and_normalised() -> None:
    o = SweepOptions(sources=["a", "b"], max_file_size="2GB", include="*.log", min_confidence="60")
    assert (o.sources, o.max_file_size, o.include, o.min_confidence) == (("a", "b"), 2_000_000_000, ("*.log",), 60)
    assert o.feeding("file")["include"] == ["*.log"]  # plain lists for the workers' specs
    with pytest.raises(ConfigError, match="option min_confidence: expected a whole number, got 'high'"):
        SweepOptions(min_confidence="high")
    with pytest.raises(ConfigError, match="option min_confidence: must be between 0 and 100"):
        SweepOptions(min_confidence=101)
    with pytest.raises(ConfigError, match="option executor"):
        SweepOptions(executor="spark")
    with pytest.raises(TypeError):
        SweepOptions(no_such_option=1)  # type: ignore[call-arg]


def test_min_confidence_high_is_a_clear_error_in_the_library() -> None:
    import cardscan

    with pytest.raises(ConfigError, match="min_confidence must be a whole number"):
        cardscan.scan_bytes(b"4556737586899855", min_confidence="high")


@pytest.mark.parametrize("value", ["notaurl", "s3.example.com", "ftp://host/", "http://", "http://h:port/"])
def test_endpoint_url_must_be_an_http_url(value) -> None:
    with pytest.raises(ConfigError, match="s3_endpoint_url"):
        SweepOptions(s3_endpoint_url=value)
    assert SweepOptions(s3_endpoint_url="http://127.0.0.1:9000").s3_endpoint_url == "http://127.0.0.1:9000"


def test_settings_schema_is_the_table() -> None:
    schema = settings_schema()
    assert {"state", "executor", "scheduler", "baseline", "report_test_cards", "s3_profile", "utf16"} <= set(schema)
    # What only makes sense for one run is not a setting.
    assert not {"sources", "config_file", "full", "git_history", "git_range"} & set(schema)
    assert {n for n, s in schema.items() if s.path} == {"manifest", "key_file", "state", "baseline"}


def test_nothing_registers_options_at_import_time() -> None:
    # On main, whether a settings file could say `state = ...` depended on
    # whether cardscan.cli.scan had been imported.
    code = (
        "import cardscan.settings as s, cardscan.options as o\n"
        "before = sorted(s.schema()); n = len(list(o.table()))\n"
        "import cardscan.cli.main, cardscan.cli.scan, cardscan.cli.hook, cardscan.cli.baseline, cardscan.run\n"
        "assert sorted(s.schema()) == before and len(list(o.table())) == n\n"
        "assert 'state' in before and 'executor' in before\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_spec_lookup() -> None:
    assert spec("s3_endpoint_url").flags == ("--endpoint-url",) and spec("s3_endpoint_url").kwarg == "endpoint_url"
    assert spec("git_range").feeds == ("git",)


def test_docs_cli_lists_every_option_and_settings_key() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text()
    table_text = text[text.index("### Options"):text.index("### Sources that overlap")]
    for f, s in table():
        if f.name == "sources":
            continue
        for flag in s.flags:
            assert f"`{flag}" in table_text or f"{flag}`" in table_text, flag
        if s.setting:
            assert f"`{f.name.replace('_', '-')}`" in table_text, f.name
