"""No import cycle among cardscan's modules, counting imports inside
functions (tools/import_cycles.py), and the checker finds the cycles it must."""
from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_tool():
    spec = importlib.util.spec_from_file_location("import_cycles", ROOT / "tools" / "import_cycles.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("import_cycles", module)
    spec.loader.exec_module(module)
    return module


ic = _load_tool()


@pytest.fixture(scope="module")
def cardscan_graph() -> dict[str, set[str]]:
    return ic.graph(ROOT / "cardscan")


def package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_cardscan_has_no_import_cycle(cardscan_graph: dict[str, set[str]]) -> None:
    found = ic.cycles(cardscan_graph)
    assert found == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_the_graph_sees_imports_inside_functions_of_cardscan(cardscan_graph: dict[str, set[str]]) -> None:
    # A known deferred import: the graph would be blind if this edge were missing.
    edges = cardscan_graph
    deferred = [n for n in ast.walk(ast.parse((ROOT / "cardscan/cli/main.py").read_text()))
                if isinstance(n, ast.FunctionDef) for i in ast.walk(n) if isinstance(i, ast.ImportFrom)]
    assert deferred, "cli/main.py no longer defers an import; pick another module for this check"
    assert len(edges) > 100 and "cardscan.errors" in edges["cardscan.cli.main"]


def test_a_cycle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    root = package(tmp_path, {
        "a.py": "from . import b\n",
        "b.py": "def later():\n    from .a import thing\n    return thing\n",
    })
    assert ic.cycles(ic.graph(root)) == [["pkg.a", "pkg.b", "pkg.a"]]
    assert ic.main([str(root)]) == 1


def test_relative_imports_from_a_subpackage_and_absolute_ones(tmp_path: Path) -> None:
    root = package(tmp_path, {
        "sub/__init__.py": "from .inner import f\n",      # the package's own module
        "sub/inner.py": "import pkg.top\n",
        "top.py": "class C:\n    def m(self):\n        from .sub import inner\n",  # in a method
        "other.py": "from .sub.inner import f\nimport pkg.sub.inner as x\n",
    })
    edges = ic.graph(root)
    assert edges["pkg.sub"] == {"pkg.sub.inner"}
    assert edges["pkg.sub.inner"] == {"pkg.top"}
    assert edges["pkg.other"] == {"pkg.sub.inner"}
    assert edges["pkg.top"] == {"pkg.sub.inner"}
    assert ic.cycles(edges) == [["pkg.sub.inner", "pkg.top", "pkg.sub.inner"]]


def test_a_three_module_cycle_is_reported_once_in_order(tmp_path: Path) -> None:
    root = package(tmp_path, {
        "x.py": "try:\n    from .y import f\nexcept ImportError:\n    pass\n",
        "y.py": "import pkg.z\n",
        "z.py": "from pkg import x\n",
        "w.py": "from . import x\n",   # leads into the cycle, is not part of it
    })
    assert ic.cycles(ic.graph(root)) == [["pkg.x", "pkg.y", "pkg.z", "pkg.x"]]


@pytest.mark.parametrize("guard", ["if TYPE_CHECKING:", "if typing.TYPE_CHECKING:"])
def test_type_checking_imports_are_not_edges_but_their_else_is(tmp_path: Path, guard: str) -> None:
    root = package(tmp_path, {
        "a.py": "from . import b\n",
        "b.py": f"import typing\nfrom typing import TYPE_CHECKING\n{guard}\n    from .a import T\n",
        "c.py": f"from typing import TYPE_CHECKING\nimport typing\n{guard}\n    pass\nelse:\n    from . import d\n",
        "d.py": "from .c import y\n",
    })
    assert ic.cycles(ic.graph(root)) == [["pkg.c", "pkg.d", "pkg.c"]]
    assert "pkg.a" not in ic.graph(root)["pkg.b"]


def test_imports_of_other_packages_and_self_are_ignored(tmp_path: Path) -> None:
    root = package(tmp_path, {
        "a.py": "import os\nimport json.decoder\nfrom collections import abc\nimport pkg.a\n",
    })
    assert ic.graph(root)["pkg.a"] == set()
    assert ic.main([str(root)]) == 0
