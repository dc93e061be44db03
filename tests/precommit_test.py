"""The real pre-commit, installing cardscan's hook from a copy of this checkout.

One module-scoped fixture copies the working tree into a temporary git
repository (so the test does not depend on what is committed in the checkout),
points a project's ``.pre-commit-config.yaml`` at it, and runs
``pre-commit install --install-hooks`` once (pre-commit builds a virtualenv
and pip-installs cardscan into it). The scenarios then make real commits.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cardscan.engine.issuers import _TEST_FILE, _package_text, parse_test_cards
from cardscan.testing import assert_no_pan, make_pan

pytestmark = pytest.mark.slow

CHECKOUT = Path(__file__).resolve().parent.parent
KEY = "team-key-kept-outside-the-repository"
_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "*.so", "*.egg-info", "build", "dist", "benchmarks", "tests",
    ".pytest_cache", ".hypothesis", ".benchmarks", "cardscan-demo-out", "*.pyc",
)


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CARDSCAN_FINGERPRINT_KEY", "VIRTUAL_ENV")}
    env.update({
        "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "dev", "GIT_COMMITTER_EMAIL": "dev@example.com",
        "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never", "NO_COLOR": "1",
    })
    env.update(extra)
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        from cardscan.testing import scrub

        raise AssertionError(f"{cmd[:3]} failed ({proc.returncode}):\n{scrub(proc.stdout + proc.stderr)[-3000:]}")
    return proc


class Project:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root, self.env = root, env

    def commit(self, files: dict[str, str], message: str, key: str | None = None,
               extra: tuple[str, ...] = ()) -> tuple[int, str]:
        for name, text in files.items():
            p = self.root / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        env = dict(self.env)
        if key:
            env["CARDSCAN_FINGERPRINT_KEY"] = key
        _run(["git", "add", *files, *extra], self.root, env)
        proc = _run(["git", "commit", "-m", message], self.root, env, check=False)
        if proc.returncode != 0:  # leave the index clean for the next scenario
            _run(["git", "reset", "-q", "HEAD", "--", *files, *extra], self.root, env, check=False)
            for name in files:
                (self.root / name).unlink()
        return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    base = tmp_path_factory.mktemp("precommit")
    home = base / "pre-commit-home"
    env = _env(home)
    src = base / "cardscan-src"
    shutil.copytree(CHECKOUT, src, ignore=_IGNORE, symlinks=True)
    _run(["git", "init", "-q", "-b", "main"], src, env)
    _run(["git", "add", "-A"], src, env)
    _run(["git", "commit", "-q", "-m", "cardscan snapshot"], src, env)
    rev = _run(["git", "rev-parse", "HEAD"], src, env).stdout.strip()

    root = base / "project"
    root.mkdir()
    _run(["git", "init", "-q", "-b", "main"], root, env)
    (root / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {src}\n  rev: {rev}\n  hooks:\n  - id: cardscan\n"
    )
    (root / "README.md").write_text("project\n")
    t0 = time.monotonic()
    _run([sys.executable, "-m", "pre_commit", "install", "--install-hooks"], root, env)
    print(f"pre-commit install --install-hooks: {time.monotonic() - t0:.1f}s")
    _run(["git", "add", "-A"], root, env)
    _run(["git", "commit", "-q", "-m", "pre-commit config"], root, env)
    return Project(root, env)


def test_commit_with_a_real_looking_pan_is_blocked(project: Project, rng) -> None:
    pan = make_pan("455673", 16, rng)
    code, out = project.commit({"src/payment.py": f"# test data\nCARD = '{pan}'  # exp 04/29\n"}, "add payment")
    assert_no_pan(out, [pan], "pre-commit output")
    assert code == 1, out
    assert "cardscan (payment card numbers)" in out and "Failed" in out and "exit code: 1" in out
    masked = f"{pan[:6]}******{pan[-4:]}"
    assert f"src/payment.py:2:9  VISA  {masked}  confidence" in out
    assert "commit blocked" in out and "cardscan: allow" in out


def test_published_test_card_passes(project: Project) -> None:
    card = sorted(parse_test_cards(_package_text(_TEST_FILE)))[0]
    code, out = project.commit({"tests/fixtures/card.json": f'{{"card_number": "{card}"}}\n'}, "test card")
    assert code == 0, out
    assert "cardscan (payment card numbers)" in out and "Passed" in out


def test_inline_pragma_lets_a_fixture_through(project: Project, rng) -> None:
    pan = make_pan("510510", 16, rng)
    code, out = project.commit({"tests/refund_test.py": f"CARD = '{pan}'  # cardscan: allow\n"}, "fixture")
    assert_no_pan(out, [pan], "pre-commit output")
    assert code == 0, out


def test_baseline_lets_a_fixture_through(project: Project, rng) -> None:
    from cardscan.cli.main import main

    pan = make_pan("371449", 15, rng)
    fixture = project.root / "tests" / "data" / "orders.csv"
    fixture.parent.mkdir(parents=True, exist_ok=True)
    fixture.write_text(f"id,card\n1,{pan}\n")
    # Without the baseline the commit is blocked ...
    code, out = project.commit({"tests/data/orders.csv": fixture.read_text()}, "orders", key=KEY)
    assert code == 1, out
    fixture.write_text(f"id,card\n1,{pan}\n")
    # ... the developer accepts it (with the team's key) and commits the baseline with it.
    cwd = os.getcwd()
    old = os.environ.get("CARDSCAN_FINGERPRINT_KEY")
    os.environ["CARDSCAN_FINGERPRINT_KEY"] = KEY
    try:
        os.chdir(project.root)
        assert main(["baseline", "-q", "tests/data/orders.csv"]) == 0
    finally:
        os.chdir(cwd)
        if old is None:
            del os.environ["CARDSCAN_FINGERPRINT_KEY"]
        else:
            os.environ["CARDSCAN_FINGERPRINT_KEY"] = old
    baseline = (project.root / ".cardscan-baseline.json").read_text()
    assert_no_pan(baseline, [pan], "baseline")
    code, out = project.commit({"tests/data/orders.csv": fixture.read_text()}, "orders", key=KEY,
                               extra=(".cardscan-baseline.json",))
    assert code == 0, out
    # Without the key the accepted finding cannot be matched: blocked, with the reason.
    code, out = project.commit({"tests/data/more.csv": f"id,card\n2,{pan}\n"}, "copy", key=None)
    assert code == 1 and "more.csv" in out


def test_clean_commit_passes(project: Project) -> None:
    code, out = project.commit({"docs/notes.md": "Order 4556-7375 shipped; call 555 0100.\n"}, "notes")
    assert code == 0, out
    assert "Passed" in out
