"""The repository's .pre-commit-config.yaml: valid for pre-commit, runs the
tools CI runs, and cardscan's own hook as .pre-commit-hooks.yaml declares it.
(Running pre-commit itself here would be too slow; .ci/run runs the tools.)"""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".pre-commit-config.yaml"


def pre_commit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def hooks() -> dict[str, dict]:
    config = yaml.safe_load(CONFIG.read_text())
    return {h["id"]: h for repo in config["repos"] for h in repo["hooks"]}


def test_pre_commit_accepts_the_config_and_the_hook_manifest() -> None:
    for command, path in (("validate-config", CONFIG), ("validate-manifest", ROOT / ".pre-commit-hooks.yaml")):
        done = pre_commit(command, str(path))
        assert done.returncode == 0, done.stdout + done.stderr


def test_pre_commit_rejects_a_broken_config(tmp_path: Path) -> None:
    # the near miss: validate-config does check (a hook without its entry)
    bad = tmp_path / "bad.yaml"
    bad.write_text("repos:\n- repo: local\n  hooks:\n  - id: x\n    name: x\n    language: system\n")
    assert pre_commit("validate-config", str(bad)).returncode != 0


def test_the_hooks_are_the_ci_tools_from_the_virtualenv() -> None:
    found = hooks()
    assert set(found) >= {"ruff", "mypy", "lint-imports", "cardscan"}
    ci = (ROOT / ".ci" / "run").read_text()
    for hook_id, hook in found.items():
        program = shlex.split(hook["entry"])[0]
        assert program.startswith(".venv/bin/"), hook_id
        # the test runs in that virtualenv: the program is installed next to its python
        assert (Path(sys.executable).parent / Path(program).name).exists(), program
        if hook_id != "cardscan":
            assert program in ci, f"{hook_id}: CI does not run {program}"


def test_the_cardscan_hook_is_the_published_one() -> None:
    published = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}["cardscan"]
    local = hooks()["cardscan"]
    assert shlex.split(local["entry"])[1:] == shlex.split(published["entry"])[1:] == ["hook"]
    # same file selection: every file type (no `types: [text]`: spreadsheets and PDFs leak cards too)
    assert "types" not in local and "types" not in published


@pytest.mark.parametrize("path, excluded", [
    ("cardscan/pipeline.py", False),
    ("cardscan/data/iin_ranges.csv", False),
    ("benchmarks/bench_engine.py", False),
    ("CHANGELOG.md", False),
    ("README.md.orig", False),
    ("tests/findings_test.py", True),
    ("docs/detection.md", True),
    ("cardscan/data/demo/exports/customers.csv", True),
    ("benchmarks/accuracy/data/panhunt.cases", True),
    ("README.md", True),
])
def test_the_hook_guards_the_code_and_leaves_out_only_fixtures(path: str, excluded: bool) -> None:
    assert bool(re.search(hooks()["cardscan"]["exclude"], path)) is excluded
