"""The docs' examples and claims, executed."""
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


def python_blocks(name: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / name).read_text(), flags=re.S)


def test_api_guide_examples_run(monkeypatch) -> None:
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY", raising=False)
    blocks = python_blocks("api.md")
    assert len(blocks) >= 4
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "docs/api.md", "exec"), namespace)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("4556737586899855", 60),
        ("card=4556737586899855", 85),
        ("order_id=4556737586899855", None),
        ("card 4556 7375 8689 9855 exp 04/29", 100),
        ("4556737586899856", None),
        ("455673758689985", None),
        ("7556737586899851", None),
        ("12345678901234567890", None),
        ("4556 7375-8689 9855", None),
        ("4556  7375  8689  9855", None),
        ("455 67375 8689 9855", None),
        ("455673******9855", None),
        ("x4556737586899855y", 60),
        ("+4556737586899855", None),
    ],
)
def test_detection_doc_examples(text, expected) -> None:
    import cardscan

    found = cardscan.scan_bytes(f"value: {text} .".encode())
    got = found[0].confidence if found else None
    assert got == expected


def test_modules_doctests() -> None:
    import doctest

    import cardscan.engine.scanner
    import cardscan.privacy

    for module in (cardscan.engine.scanner, cardscan.privacy):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0
