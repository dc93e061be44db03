"""Tests for cardscan/registry.py: plugin tables, entry points found cheaply and correctly."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cardscan import registry


def dist(root: Path, name: str, entry_points: str | None) -> None:
    info = root / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    if entry_points is not None:
        (info / "entry_points.txt").write_text(entry_points)


@pytest.fixture
def on_path(monkeypatch):
    """Put a path first on sys.path for one test, with the registry refreshed around it."""
    def add(path: Path) -> None:
        monkeypatch.syspath_prepend(str(path))
        registry.refresh()

    yield add
    monkeypatch.undo()
    registry.refresh()


def test_no_plugin_declared_means_importlib_metadata_is_not_imported(tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist(site, "unrelated", "[console_scripts]\nunrelated = unrelated:main\n")
    dist(site, "plain", None)
    (site / "legacy.egg-info").write_text("Metadata-Version: 1.0\nName: legacy\n")  # an egg-info *file*
    code = ("import sys\nfrom cardscan import registry\n"
            "print(registry.names('cardscan.decoders') == sorted(registry.DECODERS), "
            "'importlib.metadata' in sys.modules)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, cwd=tmp_path)
    assert out.stdout.split() == ["True", "False"]


def test_a_declared_entry_point_is_found(tmp_path: Path, on_path) -> None:
    dist(tmp_path, "cardscan-gcs", "[cardscan.sources]\ngcs = cardscan_gcs:GCSSource\n")
    on_path(tmp_path)
    declared = registry._declared_groups()  # None where another finder of distributions is installed
    assert declared is None or "cardscan.sources" in declared
    assert "gcs" in registry.names("cardscan.sources")
    assert registry.source_for_url("gcs://bucket/x") == "gcs"


def test_a_zip_on_the_path_is_left_to_importlib_metadata(tmp_path: Path, on_path) -> None:
    z = tmp_path / "plugins.zip"
    with zipfile.ZipFile(z, "w") as out:
        out.writestr("zipped_sink-0.1.dist-info/METADATA", "Metadata-Version: 2.1\nName: zipped-sink\nVersion: 0.1\n")
        out.writestr("zipped_sink-0.1.dist-info/entry_points.txt", "[cardscan.sinks]\nzipped = zipped_sink:Sink\n")
    on_path(z)
    assert registry._declared_groups() is None  # cannot tell by listing directories
    assert "zipped" in registry.names("cardscan.sinks")


def test_builtins_win_over_an_entry_point_of_the_same_name(tmp_path: Path, on_path) -> None:
    dist(tmp_path, "shadow", "[cardscan.decoders]\ngzip = shadow:Gzip\n")
    on_path(tmp_path)
    assert registry._table("cardscan.decoders")["gzip"] == registry.DECODERS["gzip"]["target"]


def test_a_finder_of_distributions_of_its_own_is_left_to_importlib_metadata(monkeypatch) -> None:
    # (importlib_metadata, the backport some libraries import, installs one.)
    class Finder:
        def find_spec(self, *args: object) -> None:
            return None

        def find_distributions(self, *args: object) -> list:
            return []

    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, Finder()])
    registry.refresh()
    try:
        assert registry._declared_groups() is None
    finally:
        monkeypatch.undo()
        registry.refresh()


def test_may_declare_fresh_sees_a_plugin_added_since_the_answer_was_cached(tmp_path: Path, monkeypatch) -> None:
    registry.refresh()
    try:
        before = registry._declared_groups()
        if before is None:  # another finder of distributions: always "maybe", nothing to compare
            assert registry.may_declare("cardscan.sinks", fresh=True)
            return
        assert not registry.may_declare("cardscan.test-only-group")
        dist(tmp_path, "late-sink", "[cardscan.test-only-group]\nlate = late_sink:Sink\n")
        monkeypatch.syspath_prepend(str(tmp_path))
        assert not registry.may_declare("cardscan.test-only-group")  # cached until refresh()
        assert registry.may_declare("cardscan.test-only-group", fresh=True)
    finally:
        monkeypatch.undo()
        registry.refresh()

