"""The git history source, on real temporary repositories built with the git CLI."""
from __future__ import annotations

import os
import pickle
import subprocess
from pathlib import Path

import pytest

from cardscan import Scanner
from cardscan.errors import ConfigError
from cardscan.findings import ErrorRecord, Location
from cardscan.sources import git as gitsrc
from cardscan.sources.git import GitSource
from cardscan.testing import SourceCase, SourceContract, make_pan


def git(repo: Path, *args: str, date: str = "2026-01-01T00:00:00Z") -> str:
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_COMMITTER_DATE": date,
    }
    out = subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, capture_output=True, text=True)
    return out.stdout.strip()


@pytest.fixture
def history(tmp_path: Path, rng):
    """main: add a card, then remove it; feature: another card; plus noise."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    removed, feature_pan, copied = make_pan("455673", 16, rng), make_pan("510510", 16, rng), make_pan("371449", 15, rng)
    (repo / "config").mkdir()
    (repo / "config" / "settings.yml").write_text(f"card_number: {removed}\n")
    (repo / "README.md").write_text("hello\n")
    (repo / "odd name\u00e9.txt").write_text(f"card {copied}\n")
    os.symlink("README.md", repo / "link")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "add settings", date="2026-01-01T00:00:00Z")
    first = git(repo, "rev-parse", "HEAD")
    (repo / "config" / "settings.yml").write_text("card_number: <redacted>\n")
    (repo / "copy.txt").write_text(f"card {copied}\n")  # same content as an earlier blob
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "remove the card", date="2026-01-02T00:00:00Z")
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "data.csv").write_text(f"id,card\n1,{feature_pan}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "feature data", date="2026-01-03T00:00:00Z")
    feature = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    return repo, {"removed": removed, "feature": feature_pan, "copied": copied}, {"first": first, "feature": feature}


def scan_source(src: GitSource):
    scanner = Scanner(key=b"k")
    findings, errors, items = [], [], []
    for it in src.items():
        if isinstance(it, ErrorRecord):
            errors.append(it)
            continue
        items.append(it)
        with src.open(it) as fh:
            findings += [f.__class__(**{**f.__dict__, "obj": dict(it.meta)})
                         for f in scanner.scan_stream(fh, Location(uri=it.uri))]
    return items, findings, errors


def test_card_removed_in_last_commit_is_found(history) -> None:
    repo, pans, commits = history
    items, findings, errors = scan_source(GitSource.from_url(str(repo)))
    assert errors == []
    by_path = {f.obj["path"]: f for f in findings}
    assert set(by_path) == {"config/settings.yml", "data.csv", "odd name\u00e9.txt"}
    removed = by_path["config/settings.yml"]
    assert removed.obj["commit"] == commits["first"]
    assert removed.masked == f"{pans['removed'][:6]}******{pans['removed'][-4:]}"
    assert removed.location.uri.startswith("git+" + repo.resolve().as_uri() + "/config/settings.yml?commit=")
    assert by_path["data.csv"].obj["commit"] == commits["feature"]  # --all: every branch
    assert by_path["odd name\u00e9.txt"].obj["commit_time"] == "2026-01-01T00:00:00Z"


def test_each_blob_once_and_no_symlinks(history) -> None:
    repo, _, _ = history
    src = GitSource(str(repo))
    items, findings, _ = scan_source(src)
    blobs = [it.meta["blob"] for it in items]
    assert len(blobs) == len(set(blobs))
    paths = [it.meta["path"] for it in items]
    assert "copy.txt" not in paths  # same content as 'odd name.txt': scanned once, first path wins
    assert "link" not in paths and src.stats["skipped"] == {"symlink": 1}
    assert sum(1 for f in findings if f.obj["path"] == "odd name\u00e9.txt") == 1
    sizes = {it.meta["path"]: it.size for it in items}
    assert sizes["README.md"] == 6
    assert all(it.ukey == it.meta["blob"] for it in items)


def test_range_limits_to_commits_in_it(history) -> None:
    repo, _, _ = history
    src = GitSource.from_url(f"git+{repo.as_uri()}?range=main..feature")
    items, findings, _ = scan_source(src)
    assert [it.meta["path"] for it in items] == ["data.csv"]
    assert len(findings) == 1
    src = GitSource(str(repo), rev_range="main")
    assert "data.csv" not in [it.meta["path"] for it in src.items()]


def test_bad_range_is_an_error_record(history) -> None:
    repo, _, _ = history
    out = list(GitSource(str(repo), rev_range="no-such-branch..main").items())
    assert len(out) == 1 and isinstance(out[0], ErrorRecord)
    assert out[0].kind == "source" and "git log failed" in out[0].message


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not inside a git repository"):
        GitSource(str(tmp_path))
    with pytest.raises(ConfigError, match="local repositories only"):
        GitSource.from_url("s3://bucket/repo")


def test_big_blobs_are_streamed(history, monkeypatch) -> None:
    repo, pans, _ = history
    monkeypatch.setattr(gitsrc, "IN_MEMORY", 4)
    src = GitSource(str(repo))
    items, findings, _ = scan_source(src)
    assert {f.obj["path"] for f in findings} == {"config/settings.yml", "data.csv", "odd name\u00e9.txt"}
    big = next(it for it in items if it.meta["path"] == "data.csv")
    with src.open(big) as fh:
        assert not fh.seekable()
        assert not hasattr(fh, "fileno") or _no_fileno(fh)


def _no_fileno(fh) -> bool:
    try:
        fh.fileno()
    except (OSError, ValueError):
        return True
    return False


def test_pickles_for_workers(history) -> None:
    repo, _, _ = history
    src = GitSource(str(repo))
    item = next(i for i in src.items() if not isinstance(i, ErrorRecord))
    clone = pickle.loads(pickle.dumps(src))
    with clone.open(item) as a, src.open(item) as b:
        assert a.read() == b.read()
    again = GitSource.from_url(src.url, **src.options())
    assert again.repo == src.repo and again.describe() == src.describe()


def test_max_file_size(history) -> None:
    repo, _, _ = history
    src = GitSource(str(repo), max_file_size=10)
    paths = [it.meta["path"] for it in src.items()]
    assert paths == ["README.md"]
    assert src.stats["skipped"]["too_large"] >= 3


def test_include_and_exclude(history) -> None:
    repo, _, _ = history
    src = GitSource(str(repo), exclude=["config/"])
    paths = {it.meta["path"] for it in src.items()}
    assert "config/settings.yml" not in paths and "data.csv" in paths
    src = GitSource(str(repo), include=["*.csv"])
    assert {it.meta["path"] for it in src.items()} == {"data.csv"}
    assert src.stats["skipped"]["excluded"] >= 3


class TestGitSourceContract(SourceContract):
    """The git history source under the contract every source inherits."""

    @pytest.fixture
    def source_case(self, history) -> SourceCase:
        repo, pans, _ = history
        return SourceCase(GitSource.from_url(str(repo)), list(pans.values()))
