"""Create, update and audit the baseline of accepted card-number findings.

``cardscan baseline [PATHS...] [--update FILE]``: scans PATHS (default: the
files git tracks, else the working directory) the way the pre-commit hook
does (test cards and ``cardscan: allow`` lines are allowed already) and
writes every finding into ``.cardscan-baseline.json`` (or ``--output FILE``)
as accepted: keyed fingerprint, path, kind, and for the reviewers brand,
masked number and line. Never the number. See cardscan/baseline.py and
docs/pre-commit.md.

``--update FILE`` rescans and rewrites FILE: findings gone from the scanned
files are dropped, new ones are added, audit labels stay. Review the diff
before committing it: every added entry is a card number the team declares
not real.

``--force`` is the way out when the baseline cannot be used as it is: it
overwrites an existing ``--output`` file, and with ``--update`` rewrites a
baseline written under another key (or unreadable) under this one. The old
entries' fingerprints cannot be checked under another key, so they are
dropped, and every current finding is accepted afresh: review them again.

``--audit [FILE]`` (like detect-secrets' ``audit``): label each accepted
finding ``real``, ``test`` or ``false_positive``, recorded in the file with
who (``--by``, default the OS user) and when. ``--label ID=LABEL`` (repeatable)
labels without asking, for CI; without it, on a terminal, each unlabelled
entry is shown and asked about; otherwise the entries and their labels are
listed. An entry labelled ``real`` is no longer accepted (the hook reports it).

The key must not be in the repository: ``CARDSCAN_FINGERPRINT_KEY`` in the
environment, or ``--key-file`` outside the repository. A random key is
refused (the baseline would match nothing next time). Auditing needs no key.

Exit status: 0 written (or listed); 2 not written (no key, key inside the
repository, unreadable baseline, unknown entry id) or written but some files
could not be read (they are listed).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..baseline import Baseline

HELP = "create, update or audit the baseline of accepted findings (.cardscan-baseline.json)"

EPILOG = """\
examples:
  cardscan baseline                                     # accept what the tracked files hold now
  cardscan baseline --update .cardscan-baseline.json    # rescan: add new, drop gone, keep labels
  cardscan baseline --update .cardscan-baseline.json --force   # rewrite under this key
  cardscan baseline --audit                             # label each entry (on a terminal)
  cardscan baseline --audit --label 7c41d0a2e9f3=test --by ci

exit status: 0 written or listed; 2 not written, or some files could not be read.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    from .hook import add_allow_options

    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="files or directories to scan (default: the files git tracks, else .)")
    g = parser.add_mutually_exclusive_group()
    g.add_argument("-o", "--output", metavar="FILE", default=None,
                   help="write a new baseline to FILE (default .cardscan-baseline.json; refuses to overwrite "
                        "without --force)")
    g.add_argument("--update", metavar="FILE", default=None,
                   help="rescan and rewrite the existing baseline FILE (same key required, or --force)")
    g.add_argument("--audit", metavar="FILE", nargs="?", const="", default=None,
                   help="label the accepted findings of FILE (default .cardscan-baseline.json): "
                        "real, test or false_positive")
    parser.add_argument("--force", action="store_true",
                        help="overwrite an existing baseline; with --update, rewrite one written under another "
                             "key (its entries cannot be checked and are dropped)")
    a = parser.add_argument_group("audit")
    a.add_argument("--label", metavar="ID=LABEL", action="append", default=[],
                   help="with --audit: label entry ID (or a unique prefix) real, test or false_positive, "
                        "without asking (repeatable)")
    a.add_argument("--by", metavar="NAME", default=None, help="with --audit: who labels (default: the OS user)")
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


def run(args: argparse.Namespace, out: IO[str] | None = None, err: IO[str] | None = None,
        inp: IO[str] | None = None) -> int:
    from ..baseline import DEFAULT_NAME, Baseline, BaselineError, check_key_outside, require_stable_key
    from ..errors import ConfigError
    from ..settings import load_key
    from .hook import _Selector, build_scanner, display_error, resolve, scan_files

    out = out or sys.stdout
    err = err or sys.stderr
    if args.audit is not None:
        return audit(args, out, inp if inp is not None else sys.stdin)
    if args.label or args.by:
        raise ConfigError("--label and --by go with --audit")
    opts = resolve(args, "baseline")
    target = args.update or args.output or DEFAULT_NAME
    key, _ = load_key(opts.get("key_file"))
    require_stable_key(key)
    check_key_outside(opts.get("key_file"), repo_root(target))

    # What is there now: the baseline to update, or the one --force replaces.
    prev: Baseline | None = None
    unreadable: BaselineError | None = None
    if args.update or os.path.exists(target):
        try:
            prev = Baseline.load(target)
        except BaselineError as exc:
            if args.update and not (args.force and os.path.exists(target)):
                raise
            unreadable = exc
    if not args.update and (prev is not None or unreadable is not None) and not args.force:
        raise ConfigError(f"{target} exists; refresh it with 'cardscan baseline --update {target}' "
                          "(or overwrite it with --force)")
    other_key: Baseline | None = None  # written under another key: nothing of it can be checked
    if prev is not None and not key.has_id(prev.key_id):
        if not args.force:
            prev.check_key(key)  # raises, naming both keys and the way out (--force)
        other_key, prev = prev, None

    old = prev if args.update else None
    settings_from = prev or other_key
    if args.update and settings_from is not None:
        # Rescan with the settings the baseline was made with, unless overridden.
        for name in ("min_confidence", "utf16", "context_window"):
            if opts.get(name) is None and name in settings_from.settings:
                opts[name] = settings_from.settings[name]
        if opts.get("report_test_cards") is None and settings_from.settings.get("test_cards"):
            opts["report_test_cards"] = True

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
            new.key_id = key.key_id  # an earlier version's id of the same key is rewritten in today's form
            new.settings = scanner.config.to_dict()
            before = {e.identity() for e in new.entries}
            prior = Baseline(new.entries, key_id=new.key_id, root=new.root)  # its audit labels
            removed = new.forget_paths(scanned)
            new.add(findings)
            new.carry_audits(prior)
            after = {e.identity() for e in new.entries}
            added, removed = len(after - before), len(before - after)
        else:
            before = {e.identity() for e in old.entries}
            new.add(findings)
            new.carry_audits(old)
            after = {e.identity() for e in new.entries}
            added, removed = len(after - before), len(before - after)
    else:
        new.add(findings)
        if prev is not None:  # --force over a baseline of the same key: labels stay
            new.carry_audits(prev)
        added = len(new)
    new.write(target)

    cwd = os.getcwd()
    for e in errors:
        err.write(f"cardscan: error: {display_error(e, cwd)}: could not check ({e.kind}: {e.message})\n")
    if not args.quiet:
        if other_key is not None:
            out.write(f"cardscan: {target} was written under another fingerprint key (key id {other_key.key_id}; "
                      f"this run uses {key.key_id}): its {len(other_key)} accepted finding(s) cannot be checked "
                      "under this key and were dropped, with their audit labels.\n")
        elif unreadable is not None:
            out.write(f"cardscan: replaced a baseline that could not be read ({unreadable}).\n")
        files = len({e.path for e in new.entries})
        out.write(f"cardscan: wrote {target}: {len(new)} accepted finding(s) in {files} file(s) "
                  f"({added} added, {removed} removed; {len(checked)} file(s) scanned).\n"
                  "Review the diff before committing: each entry declares a number not to be a real card")
        out.write(f" (label them: cardscan baseline --audit {target}).\n" if other_key is not None or unreadable
                  is not None else ".\n")
    return 2 if errors else 0


# -- the audit ---------------------------------------------------------------------------------
_ANSWERS = {"r": "real", "t": "test", "f": "false_positive"}
_SHOWN = {"real": "REAL CARD", "test": "test", "false_positive": "false positive", None: "unlabelled"}


def audit(args: argparse.Namespace, out: IO[str], inp: IO[str]) -> int:
    """``cardscan baseline --audit``: label, ask, or list (see the module doc)."""
    from ..baseline import DEFAULT_NAME, Baseline, BaselineError

    path = args.audit or DEFAULT_NAME
    b = Baseline.load(path)
    who = args.by or _os_user()
    if args.label:
        done = []
        for spec in args.label:
            ident, sep, label = spec.partition("=")
            if not sep:
                raise BaselineError(f"--label {spec!r}: expected ID=LABEL (real, test or false_positive)")
            done.append(b.label(ident, label, who))
        b.write(path)
        if not args.quiet:
            for e in done:
                out.write(f"cardscan: {e.id}  {_where(e)}  labelled {_SHOWN[e.label]} by {e.audit.by}\n")  # type: ignore[union-attr]
            out.write(_tally(b) + "\n")
        return 0
    if _interactive(inp):
        return _ask(b, path, who, inp, out)
    for e in b.entries:
        out.write(_describe(e) + "\n")
    out.write(_tally(b) + "\n")
    if any(e.label is None for e in b.entries):
        out.write(f"Label them: cardscan baseline --audit {path} (on a terminal), or "
                  "--label ID=real|test|false_positive.\n")
    return 0


def _ask(b: "Baseline", path: str, who: str, inp: IO[str], out: IO[str]) -> int:
    todo = [e for e in b.entries if e.label is None]
    if not todo:
        out.write(_tally(b) + " Every entry is labelled.\n")
        return 0
    labelled = 0
    for i, e in enumerate(todo, 1):
        out.write(f"\n[{i}/{len(todo)}] {_where(e)}  {(e.brand or '').upper()}  {e.masked}  (id {e.id})\n")
        context = _context(b, e)
        if context:
            out.write(f"    {context}\n")
        answer = None
        while answer is None:
            out.write("    a real card, a test number, or a false positive? [r/t/f; s skip, q quit] ")
            out.flush()
            line = inp.readline()
            if not line:  # end of input: stop, keep what was said
                answer = "q"
                break
            a = line.strip().lower()[:1]
            if a in _ANSWERS or a in ("s", "q"):
                answer = a
        if answer == "q":
            break
        if answer == "s":
            continue
        b.label(e.id, _ANSWERS[answer], who)
        labelled += 1
    if labelled:
        b.write(path)
        out.write(f"\ncardscan: labelled {labelled} finding(s) in {path} as {who}. {_tally(b)}\n")
    else:
        out.write(f"\ncardscan: nothing labelled. {_tally(b)}\n")
    return 0


def _where(e: Any) -> str:
    from ..display import printable

    return printable(e.path + (f":{e.line}" if e.line is not None else ""))


def _describe(e: Any) -> str:
    label = _SHOWN[e.label]
    if e.audit is not None:
        label += f" ({e.audit.by}, {e.audit.at})"
    return f"{e.id}  {_where(e)}  {(e.brand or '').upper()}  {e.masked}  {label}"


def _tally(b: "Baseline") -> str:
    from collections import Counter

    c = Counter(e.label for e in b.entries)
    return (f"{len(b)} accepted finding(s): {c['test']} test, {c['false_positive']} false positive, "
            f"{c['real']} real, {c[None]} unlabelled.")


def _context(b: "Baseline", e: Any) -> str:
    """The entry's line in a plain file, card numbers masked (a fixture reads as one)."""
    from ..display import printable
    from ..privacy import redact

    if e.line is None or "!" in e.path or "#" in e.path or "://" in e.path:
        return ""
    try:
        with open(b.root / e.path, "rb") as fh:
            for n, raw in enumerate(fh, 1):
                if n == e.line:
                    text = redact(raw[:400]).decode("utf-8", "replace").strip()
                    return printable(text[:200])
    except OSError:
        pass
    return ""


def _interactive(inp: IO[str]) -> bool:
    try:
        return bool(inp.isatty())
    except (AttributeError, ValueError):
        return False


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry)
        return os.environ.get("USER") or "unknown"


def finding_path_of(path: str, root: str) -> str:
    """The baseline path of a plain file path (like finding_path for a file finding)."""
    from pathlib import Path

    from ..baseline import relative_path

    return relative_path(os.path.abspath(path), Path(root))
