import luhn as reference
from hypothesis import given, settings, strategies as st

from cardscan.engine.luhn import luhn_valid
from cardscan.testing import break_luhn, make_pan

digits = st.text(alphabet="0123456789", min_size=1, max_size=40)


@settings(max_examples=2000)
@given(digits)
def test_fast_luhn_agrees_with_the_luhn_package(s: str) -> None:
    assert luhn_valid(s) == bool(reference.verify(s))


def test_agrees_on_every_length_of_generated_pans(rng) -> None:
    for length in range(12, 20):
        for _ in range(200):
            pan = make_pan(str(rng.randint(1, 9)), length, rng)
            bad = break_luhn(pan)
            ok_fast, ok_ref = luhn_valid(pan), bool(reference.verify(pan))
            bad_fast, bad_ref = luhn_valid(bad), bool(reference.verify(bad))
            assert ok_fast and ok_ref, "generated PAN failed Luhn"
            assert not bad_fast and not bad_ref, "broken PAN passed Luhn"


def test_known_values() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")
    assert luhn_valid("0")


def test_the_luhn_package_is_only_the_test_oracle() -> None:
    # python-luhn is in the test extra, not a dependency: no module of cardscan may import it.
    import ast
    from pathlib import Path

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    root = Path(__file__).resolve().parents[2]
    importers = []
    for path in (root / "cardscan").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            if any(n == "luhn" or n.startswith("luhn.") for n in names):
                importers.append(str(path.relative_to(root)))
    assert importers == []
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("luhn") for d in project["dependencies"])
    assert any(d.startswith("luhn") for d in project["optional-dependencies"]["test"])
