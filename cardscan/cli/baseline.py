"""Create or update the baseline of accepted card-number findings.

``cardscan baseline [PATHS...] [--update FILE]``: scans PATHS (default: the
files git tracks, else the working directory) the way the pre-commit hook
does (test cards and ``cardscan: allow`` lines are allowed already) and
writes every finding into ``.cardscan-baseline.json`` (or ``--output FILE``)
as accepted: keyed fingerprint, path, kind, and for the reviewers brand,
masked number and line. Never the number. See cardscan/baseline.py and
docs/pre-commit.md.

``--update FILE`` rescans and rewrites FILE: findings gone from the scanned
files are dropped, new ones are added. Review the diff before committing it:
every added entry is a card number the team declares not real.

The key must not be in the repository: ``CARDSCAN_FINGERPRINT_KEY`` in the
environment, or ``--key-file`` outside the repository. A random key is
refused (the baseline would match nothing next time).

Exit status: 0 written; 2 not written (no key, key inside the repository,
unreadable baseline) or written but some files could not be read (they are
listed).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import IO

HELP = "create or update the baseline of accepted findings (.cardscan-baseline.json)"


def configure(parser: argparse.ArgumentParser) -> None:
    from .hook import add_allow_options

    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="files or directories to scan (default: the files git tracks, else .)")
    g = parser.add_mutually_exclusive_group()
    g.add_argument("-o", "--output", metavar="FILE", default=None,
                   help="write a new baseline to FILE (default .cardscan-baseline.json; refuses to overwrite)")
    g.add_argument("--update", metavar="FILE", default=None,
                   help="rescan and rewrite the existing baseline FILE (same key required)")
    add_allow_options(parser, "baseline")  # -q, --min-confidence, --report-test-cards, --key-file, --config


def git_files(cwd: str = ".") -> list[str] | None:
    """Files git tracks under ``cwd`` (None when it is not a git work tree)."""
    import subprocess

    try:
        proc = subprocess.run(["git", "ls-files", "-z", "--cached"], cwd=cwd, capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    names = [os.fsdecode(n) for n in proc.stdout.split(b"\0") if n]
    return [n for n in names if os.path.lexists(os.path.join(cwd, n))]


def repo_root(path: str) -> str:
    """The git work tree holding ``path`` (or ``path``'s directory when none)."""
    import subprocess

    d = os.path.dirname(os.path.abspath(path)) or "."
    try:
        proc = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=d, capture_output=True, text=True, timeout=30)
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return d


def run(args: argparse.Namespace, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    from ..baseline import DEFAULT_NAME, Baseline, check_key_outside, require_stable_key
    from ..errors import ConfigError
    from ..settings import load_key
    from .hook import _Selector, build_scanner, display_error, resolve, scan_files

    out = out or sys.stdout
    err = err or sys.stderr
    opts = resolve(args, "baseline")
    target = args.update or args.output or DEFAULT_NAME
    key, _ = load_key(opts.get("key_file"))
    require_stable_key(key)
    check_key_outside(opts.get("key_file"), repo_root(target))

    old: Baseline | None = None
    if args.update:
        old = Baseline.load(args.update)
        old.check_key(key)
        # Rescan with the settings the baseline was made with, unless overridden.
        for name in ("min_confidence", "utf16", "context_window"):
            if opts.get(name) is None and name in old.settings:
                opts[name] = old.settings[name]
        if opts.get("report_test_cards") is None and old.settings.get("test_cards"):
            opts["report_test_cards"] = True
    elif os.path.exists(target):
        raise ConfigError(f"{target} exists; refresh it with 'cardscan baseline --update {target}'")

    paths = list(args.paths)
    if not paths:
        paths = git_files() or ["."]
    scanner = build_scanner(opts, key)
    findings, errors, checked = scan_files(paths, scanner, _Selector(opts))

    root = os.path.dirname(os.path.abspath(target))
    new = Baseline.from_findings([], key, root, settings=scanner.config.to_dict())
    removed = added = 0
    if old is not None:
        if args.paths:  # a partial rescan: keep what other files had
            scanned = {finding_path_of(p, root) for p in checked}
            new = old
            new.settings = scanner.config.to_dict()
            before = {e.identity() for e in new.entries}
            removed = new.forget_paths(scanned)
            new.add(findings)
            after = {e.identity() for e in new.entries}
            added, removed = len(after - before), len(before - after)
        else:
            before = {e.identity() for e in old.entries}
            new.add(findings)
            after = {e.identity() for e in new.entries}
            added, removed = len(after - before), len(before - after)
    else:
        new.add(findings)
        added = len(new)
    new.write(target)

    cwd = os.getcwd()
    for e in errors:
        err.write(f"cardscan: error: {display_error(e, cwd)}: could not check ({e.kind}: {e.message})\n")
    if not args.quiet:
        files = len({e.path for e in new.entries})
        out.write(f"cardscan: wrote {target}: {len(new)} accepted finding(s) in {files} file(s) "
                  f"({added} added, {removed} removed; {len(checked)} file(s) scanned).\n"
                  "Review the diff before committing: each entry declares a number not to be a real card.\n")
    return 2 if errors else 0


def finding_path_of(path: str, root: str) -> str:
    """The baseline path of a plain file path (like finding_path for a file finding)."""
    from pathlib import Path

    from ..baseline import relative_path

    return relative_path(os.path.abspath(path), Path(root))
