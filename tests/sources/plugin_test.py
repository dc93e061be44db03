"""A third-party source, installed the light way and found through a real entry point.

The plugin is docs/examples/memory_source.py, copied into a temporary
directory as module ``cardscan_memory`` next to a ``.dist-info`` directory whose
``entry_points.txt`` registers it in the ``cardscan.sources`` group. With the
directory on ``sys.path``, ``importlib.metadata`` sees an installed
distribution, exactly as after ``pip install`` (without the minutes pip takes).
A second plugin imports a package that does not exist, to show the install hint.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from cardscan import registry
from cardscan.errors import ConfigError, MissingDependency
from cardscan.findings import FingerprintKey
from cardscan.testing import SourceCase, SourceContract, make_pan, scan_source

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "memory_source.py"

BROKEN = '''
import cardscan_no_such_dependency  # the plugin's own dependency, not installed

class BrokenSource:
    name = "broken"
'''


@pytest.fixture(scope="module")
def plugin_dist(tmp_path_factory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("site")
    shutil.copy(EXAMPLE, root / "cardscan_memory.py")
    (root / "cardscan_broken.py").write_text(BROKEN)
    info = root / "cardscan_memory_example-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cardscan-memory-example\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[cardscan.sources]\n"
        "memory = cardscan_memory:MemorySource\n"
        "broken = cardscan_broken:BrokenSource\n"
    )
    sys.path.insert(0, str(root))
    registry.refresh()
    try:
        yield root
    finally:
        sys.path.remove(str(root))
        for mod in ("cardscan_memory", "cardscan_broken"):
            sys.modules.pop(mod, None)
        registry.refresh()


def _plugin(plugin_dist: Path) -> Any:
    return registry.load("cardscan.sources", "memory")


def test_registry_finds_the_plugin_by_its_entry_point(plugin_dist) -> None:
    assert "memory" in registry.names("cardscan.sources")
    cls = _plugin(plugin_dist)
    assert cls.__name__ == "MemorySource" and cls.__module__ == "cardscan_memory"
    assert registry.source_for_url("memory://bucket/key") == "memory"
    # built-ins are found the same way, and unknown schemes are a clear error
    assert registry.source_for_url("s3://b/k") == "s3" and registry.source_for_url("/srv/share") == "file"
    with pytest.raises(ConfigError):
        registry.source_for_url("nosuchscheme://x")


def test_plugin_gone_from_the_path_is_gone_from_the_registry(plugin_dist) -> None:
    sys.path.remove(str(plugin_dist))
    registry.refresh()
    try:
        assert "memory" not in registry.names("cardscan.sources")
    finally:
        sys.path.insert(0, str(plugin_dist))
        registry.refresh()


def test_missing_dependency_of_a_plugin_is_an_install_hint(plugin_dist) -> None:
    assert registry.source_for_url("broken://anything") == "broken"
    with pytest.raises(MissingDependency) as exc:
        registry.load("cardscan.sources", "broken")
    message = str(exc.value)
    assert "cardscan_no_such_dependency" in message and "install the plugin's dependencies" in message


def test_missing_dependency_of_a_builtin_names_the_extra() -> None:
    registry.register("cardscan.sources", "gcs-demo", "cardscan_no_such_gcs_module:GCSSource", extra="gcs")
    try:
        with pytest.raises(MissingDependency) as exc:
            registry.load("cardscan.sources", "gcs-demo")
        assert "pip install 'cardscan[gcs]'" in str(exc.value)
    finally:
        del registry.BUILTIN["cardscan.sources"]["gcs-demo"]
        del registry.EXTRAS["cardscan.sources:gcs-demo"]
        registry.refresh()


def test_plugin_findings_carry_its_uris(plugin_dist, rng) -> None:
    cls = _plugin(plugin_dist)
    store = sys.modules[cls.__module__].STORE
    pan = make_pan("4", 16, rng)
    store["memory://t1/a.txt"] = f"card {pan}".encode()
    key = FingerprintKey(b"k")
    from cardscan.engine.scanner import Scanner

    scan = scan_source(cls.from_url("memory://t1/"), Scanner(key=key))
    assert [(f.location.uri, f.fingerprint) for f in scan.findings] == [("memory://t1/a.txt", key.fingerprint(pan))]


class TestMemoryPluginContract(SourceContract):
    @pytest.fixture(scope="class")
    @classmethod
    def source_case(cls, plugin_dist) -> SourceCase:
        import random

        plugin = registry.load("cardscan.sources", "memory")
        store = sys.modules[plugin.__module__].STORE
        rng = random.Random(3)
        pans = [make_pan("4", 16, rng), make_pan("2221", 16, rng)]
        store["memory://contract/a-locked.txt"] = PermissionError("denied by the store")
        store["memory://contract/b.csv"] = f"id,card\n1,{pans[0]}\n".encode()
        store["memory://contract/c/notes.txt"] = f"mastercard {pans[1]} exp 02/31".encode()
        return SourceCase(plugin.from_url("memory://contract/"), pans,
                          unreadable=["memory://contract/a-locked.txt"])
