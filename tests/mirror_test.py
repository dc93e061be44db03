"""Tests mirror the package: cardscan/engine/luhn.py is tested in
tests/engine/luhn_test.py. A new module comes with its mirror, or with a
line below saying where it is tested instead."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Modules tested under another name, and where.
ELSEWHERE = {
    "cardscan/__main__.py": "tests/cli (python -m cardscan runs cli.main)",
    "cardscan/_files.py": "tests/files_test.py",
    "cardscan/_version.py": "tests/cli/options_test.py (equals the installed distribution's version)",
    "cardscan/errors.py": "every test of an error path (exception classes only)",
    "cardscan/access/events.py": "tests/access/s3log_test.py, cloudtrail_test.py, pgaudit_test.py",
    "cardscan/access/objects.py": "tests/access/atime_test.py, join_test.py",
    "cardscan/remediate/base.py": "tests/remediate/*_test.py",
    "cardscan/report/page.py": "tests/report/render_test.py, browser_test.py",
    "cardscan/report/text.py": "tests/report/render_test.py",
    "cardscan/run/state/policy.py": "tests/run/state_test.py",
    "cardscan/run/state/store.py": "tests/run/state_test.py",
    "cardscan/sinks/staged.py": "tests/run/state_test.py, tests/sinks/jsonl_test.py (SinkContract)",
    "cardscan/sources/smb_rpc.py": "tests/sources/smb_test.py",
    "cardscan/sources/sql/bulk.py": "tests/sources/sql_bulk_test.py (bulk equals the cell reader)",
    "cardscan/sources/sql/catalog.py": "tests/sources/sql_test.py",
    "cardscan/sources/sql/dialect.py": "tests/sources/sql_test.py, tests/remediate/sql_test.py",
    "cardscan/sources/sql/rows.py": "tests/sources/sql_test.py",
    "cardscan/sources/sql/source.py": "tests/sources/sql_test.py",
    "cardscan/sources/sql/split.py": "tests/sources/sql_bulk_test.py (key ranges: every row once)",
    "cardscan/sources/sql/values.py": "tests/sources/sql_test.py",
    "cardscan/testing/scan.py": "tests/testing/contracts_test.py (the contracts scan through it)",
}


def mirror(module: Path) -> Path:
    """tests/<package path>/<module>_test.py; a package's __init__: tests/<package>/init_test.py."""
    rel = module.relative_to(ROOT / "cardscan")
    stem = "init" if rel.name == "__init__.py" else rel.stem
    return ROOT / "tests" / rel.parent / f"{stem}_test.py"


def modules() -> list[Path]:
    # cardscan/__init__.py, the facade, is what every test imports (and tests/docs_test.py runs its guide)
    return [p for p in sorted((ROOT / "cardscan").rglob("*.py")) if p != ROOT / "cardscan" / "__init__.py"]


def test_every_module_has_its_mirror_or_says_where_it_is_tested() -> None:
    missing = []
    for path in modules():
        rel = path.relative_to(ROOT).as_posix()
        if rel in ELSEWHERE or mirror(path).exists():
            continue
        # a package's __init__ (a facade or registry of its modules): tested as
        # tests/<package>_test.py, or by its modules' mirrors
        if path.name == "__init__.py" and (
                (ROOT / "tests" / path.parent.relative_to(ROOT / "cardscan")).with_name(
                    path.parent.name + "_test.py").exists()
                or any(mirror(p).exists() for p in path.parent.glob("*.py") if p != path)):
            continue
        missing.append(f"{rel} -> {mirror(path).relative_to(ROOT).as_posix()}")
    assert missing == [], "modules without a mirror test (add one, or say where in ELSEWHERE):\n" + "\n".join(missing)


def test_the_exceptions_are_real_and_still_needed() -> None:
    for rel, where in ELSEWHERE.items():
        path = ROOT / rel
        assert path.exists(), f"{rel} is gone: drop it from ELSEWHERE"
        assert not mirror(path).exists(), f"{rel} has its mirror now: drop it from ELSEWHERE"
        assert where


def test_the_mirror_rule() -> None:
    assert mirror(ROOT / "cardscan/engine/luhn.py") == ROOT / "tests/engine/luhn_test.py"
    assert mirror(ROOT / "cardscan/pipeline.py") == ROOT / "tests/pipeline_test.py"
    assert mirror(ROOT / "cardscan/run/__init__.py") == ROOT / "tests/run/init_test.py"
