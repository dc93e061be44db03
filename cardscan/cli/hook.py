"""Check the files being committed for card numbers (the pre-commit hook).

``cardscan hook [FILES...]``: what pre-commit runs with the staged file names
(see .pre-commit-hooks.yaml and docs/pre-commit.md); also usable in CI with
the files of a change (``cardscan hook $(git diff --name-only origin/main...)``).

Made for a developer at a terminal: one line per card number
(``path:line:col  BRAND  masked  confidence — why``) and how to let a fixture
through. Fixtures pass three ways: published test cards are allowed in hook
mode (``--report-test-cards`` flags them too), a ``cardscan: allow`` comment
on the same line (or ``cardscan: allow-next-line`` on the line before: the
pipeline applies that policy, cardscan/allow.py, as in ``cardscan scan``), and
the baseline file (``.cardscan-baseline.json``, used when present, see
``cardscan baseline``). The tips after a blocked commit offer the comment only
for numbers on lines of the developer's own files, the baseline for those
inside an archive, a compressed file or a document.

Exit status (like detect-secrets' hook): 0 nothing new; 1 new card numbers
(the commit is blocked); 3 ``--update-baseline`` rewrote the baseline (stage
it and commit again); 2 something could not be checked (an unreadable file,
a baseline under another key). With several, the first in the order 1, 3, 2
wins: every one of them blocks the commit.

Each file goes through the sweep's own pipeline (cardscan/pipeline.py), so
the hook finds what ``cardscan scan`` finds, inside containers too.
Start-up matters (this runs on every commit): no process pool, and nothing
heavy is imported before it is needed (a decoder only for a file that might
be a container: ``cardscan.decoders.is_container``).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import IO, TYPE_CHECKING, Any, Iterable, Iterator

if TYPE_CHECKING:
    from ..baseline import Baseline
    from ..engine.scanner import Scanner
    from ..findings import ErrorRecord, Finding
    from ..pipeline import Pipeline

HELP = "check files being committed for card numbers (pre-commit hook)"

EXIT_CLEAN, EXIT_NEW, EXIT_ERROR, EXIT_BASELINE_WRITTEN = 0, 1, 2, 3


# -- options (the shared subset of the table in cardscan/options.py) -------------------
def add_allow_options(parser: argparse.ArgumentParser, command: str = "hook") -> None:
    """Options shared with ``cardscan scan`` and ``cardscan baseline``: what counts as allowed, the key,
    the settings file, quiet. Generated from the option table (their help worded for ``command``)."""
    from .options import add_options

    add_options(parser, command, skip=("baseline",))


def configure(parser: argparse.ArgumentParser) -> None:
    from .options import add_option

    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter

    parser.add_argument("files", nargs="*", metavar="FILE",
                        help="files to check (pre-commit passes the staged files); directories are walked")
    b = parser.add_argument_group("baseline")
    add_option(b, "baseline", "hook")
    b.add_argument("--no-baseline", action="store_true", help="ignore any baseline file")
    b.add_argument("--update-baseline", action="store_true",
                   help="accept the new findings into the baseline and exit 3 (review and stage it)")
    add_allow_options(parser, "hook")


# -- settings ------------------------------------------------------------------------
def resolve(args: argparse.Namespace, command: str = "hook") -> dict[str, Any]:
    """Effective settings (settings file < command line) as a dict of the options that are set."""
    from .options import to_options

    return to_options(args, command).set_fields()


def build_scanner(opts: dict[str, Any], key: Any) -> "Scanner":
    from ..engine.config import ScanConfig
    from ..engine.scanner import Scanner

    fields: dict[str, Any] = {}
    for name in ("min_confidence", "utf16", "backend", "context_window", "chunk_size"):
        if opts.get(name) is not None:
            fields[name] = opts[name]
    # Hook mode: published test cards are fixtures, not leaks, unless asked.
    fields["test_cards"] = bool(opts.get("report_test_cards", False))
    return Scanner(ScanConfig(**fields), key)


# -- files ----------------------------------------------------------------------------
class _Selector:
    """The settings file's include/exclude globs (gitignore syntax), if any."""

    def __init__(self, opts: dict[str, Any]) -> None:
        self.include = self.exclude = None
        if opts.get("include") or opts.get("exclude"):
            import pathspec

            if opts.get("include"):
                self.include = pathspec.GitIgnoreSpec.from_lines(opts["include"])
            if opts.get("exclude"):
                self.exclude = pathspec.GitIgnoreSpec.from_lines(opts["exclude"])
        self.max_size = opts.get("max_file_size")

    def wanted(self, path: str) -> bool:
        rel = os.path.normpath(path).replace(os.sep, "/")
        if self.exclude is not None and self.exclude.match_file(rel):
            return False
        if self.include is not None and not self.include.match_file(rel):
            return False
        return True


def iter_files(paths: Iterable[str], selector: _Selector | None = None) -> Iterator[str]:
    """Regular files among ``paths``, directories walked (``.git`` skipped).

    Symbolic links are not followed: git stores a link's target path, not the
    file it points to.
    """
    for p in paths:
        if os.path.isdir(p) and not os.path.islink(p):
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames[:] = sorted(d for d in dirnames if d != ".git")
                for name in sorted(filenames):
                    full = os.path.join(dirpath, name)
                    if os.path.islink(full):
                        continue
                    if selector is None or selector.wanted(os.path.normpath(full)):
                        yield os.path.normpath(full)
        elif os.path.islink(p):
            continue
        elif selector is None or selector.wanted(p):
            yield p


def scan_file(path: str, pipeline: "Pipeline", source: Any, inside: set[str] | None = None
              ) -> tuple[list["Finding"], list["ErrorRecord"]]:
    """Findings in one file; those on a line a ``cardscan: allow`` comment
    allows are not among them (the pipeline sets them aside: cardscan/allow.py,
    the same policy as ``cardscan scan``).

    Containers (zip, office, gzip, mbox ...) are opened by the decoders like
    in a sweep. ``inside``, when given, receives the ids of findings inside a
    container or a compressed stream: there the developer's fix is the
    baseline, not a comment (see :func:`advice`).
    """
    # No exposure: the hook shows none, and it costs the permissions of every directory above.
    result = pipeline.scan_item(source.item_for(os.path.abspath(path), exposure=False))
    if inside is not None:
        inside.update(f.id for f in result.findings if result.decoded or f.location.member)
    return result.findings, result.errors


def scan_files(
    paths: Iterable[str], scanner: "Scanner", selector: _Selector | None = None, limits: Any = None,
    inside: set[str] | None = None,
) -> tuple[list["Finding"], list["ErrorRecord"], list[str]]:
    """(findings, errors, files checked) for ``paths``, in order (``inside``: see :func:`scan_file`)."""
    # Imported here: a hook run with no file (pre-commit passed none) or only
    # the settings to read returns before needing the pipeline (~10 ms).
    from ..pipeline import Pipeline
    from ..sources.fs import FileSource

    source = FileSource([])
    pipeline = Pipeline(scanner, limits, [source])
    findings: list[Finding] = []
    errors: list[ErrorRecord] = []
    checked: list[str] = []
    max_size = selector.max_size if selector is not None else None
    for path in iter_files(paths, selector):
        if max_size is not None:
            try:
                if os.path.getsize(path) > max_size:
                    continue
            except OSError:
                pass  # the pipeline reports it
        checked.append(path)
        f, e = scan_file(path, pipeline, source, inside)
        findings.extend(f)
        errors.extend(e)
    return findings, errors, checked


# -- output ---------------------------------------------------------------------------
def display_path(f: "Finding", cwd: str) -> str:
    from ..baseline import finding_path
    from ..display import printable
    from ..findings import ref_members

    loc = f.location
    if loc.ref:  # a spreadsheet cell (book.xlsx!Sheet1!B2), not the line of cardscan's extracted text
        ref = loc.public().ref or ""
        return printable(finding_path(f.with_location(member=ref_members(loc.member, ref)), cwd) + "!" + ref)
    text = finding_path(f, cwd)
    if loc.line is not None:
        text += f":{loc.line}:{loc.column}"
    elif loc.offset is not None:
        text += f"@{loc.offset}"
    return printable(text)


def format_line(f: "Finding", cwd: str) -> str:
    """``path:line:col  BRAND  masked  confidence 85 — why (reasons)``."""
    from ..explain import why

    kind = "" if f.kind == "pan" else f"  {f.kind.upper()}"
    return f"{display_path(f, cwd)}  {f.brand.upper()}  {f.masked}{kind}  confidence {f.confidence} \u2014 {why(f)}"


#: Payment providers whose published test card numbers cardscan knows
#: (cardscan/data/test_cards.csv, sources grouped by provider; a test keeps
#: the two in step).
TEST_CARD_PROVIDERS = (
    "Access PaySuite, Adyen, Authorize.net, Braintree, Checkout.com, CyberSource, Mastercard Send, "
    "Mollie, PayPal, Razorpay, Square, Stripe, UnionPay, Worldnet, Worldpay"
)

EPILOG = f"""\
letting a test fixture through:
  * published test card numbers pass; cardscan knows those of {TEST_CARD_PROVIDERS}
    (--report-test-cards flags them too);
  * a comment on the line:  # cardscan: allow   (or after //, /*, <!--, --, ;, %, ', REM),
    or on the line before:  # cardscan: allow-next-line;
  * inside an archive, a compressed file or a document (zip, xlsx, pdf, .gz),
    where a cell or a member has no line of yours to comment: accept it in the baseline
    (cardscan baseline --update .cardscan-baseline.json) and label it
    (cardscan baseline --audit).

exit status: 0 nothing new; 1 new card numbers (the commit is blocked);
3 --update-baseline accepted new findings (review and stage the baseline);
2 something could not be checked.
"""


def advice(baseline_name: str, has_key: bool, exists: bool = True, in_lines: int = 1, inside: int = 0) -> str:
    """How to let a fixture through (printed after the findings).

    ``in_lines``: new findings on lines of the developer's own files (a
    comment can mark them); ``inside``: new findings inside a container or a
    compressed file (an xlsx cell, a zip member), where the way is the baseline.
    """
    command = f"cardscan baseline --update {baseline_name}" if exists else (
        "cardscan baseline" + ("" if baseline_name == ".cardscan-baseline.json" else f" -o {baseline_name}"))
    key_line = "" if has_key else "     (with the team's key in CARDSCAN_FINGERPRINT_KEY)\n"
    ways = [
        "use a published test card number instead: test cards pass in this hook\n"
        "     (your payment provider's test numbers; 'cardscan hook --help' names the providers);\n",
    ]
    if in_lines:
        ways.append(
            "mark the line with a comment:  # cardscan: allow   (also after //, /*, <!--, --, ;)\n"
            "     or the line before it:       # cardscan: allow-next-line\n")
    if inside and in_lines:
        accept = (f"for the {inside} inside an archive, a compressed file or a document (an xlsx\n"
                  f"     cell has no line to comment), accept them:  {command}\n")
    elif inside:
        accept = ("inside an archive, a compressed file or a document (an xlsx cell has no line\n"
                  f"     to comment), accept the current findings:  {command}\n")
    else:
        accept = f"accept the current findings:  {command}\n"
    accept += key_line + "     then review and commit the baseline (it holds fingerprints, never numbers).\n"
    ways.append(accept)
    count = {2: "two", 3: "three"}[len(ways)]
    text = f"Not a real card (a test fixture)? Let it through one of {count} ways:\n"
    text += "".join(f"  {i}. {w}" for i, w in enumerate(ways, 1))
    return text + (
        "A real card number? Remove it before committing. If it was ever committed or\n"
        "pushed, it stays in the history: tell your security team (cardscan scan --git-history).\n"
    )


def _write(stream: IO[str], text: str) -> None:
    try:
        stream.write(text)
        stream.flush()
    except (BrokenPipeError, ValueError):
        pass


# -- running ----------------------------------------------------------------------------
#: The baseline file used when present (cardscan.baseline.DEFAULT_NAME; not
#: imported here to keep start-up small).
DEFAULT_BASELINE = ".cardscan-baseline.json"


def find_baseline(opts: dict[str, Any], args: argparse.Namespace) -> str | None:
    if getattr(args, "no_baseline", False):
        return None
    if opts.get("baseline"):
        return str(opts["baseline"])
    return DEFAULT_BASELINE if os.path.isfile(DEFAULT_BASELINE) else None


def run(args: argparse.Namespace, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    from ..settings import load_key

    out = out or sys.stdout
    err = err or sys.stderr
    opts = resolve(args)
    if not args.files:  # pre-commit with no matching staged files: nothing to load
        return EXIT_CLEAN
    key, _ = load_key(opts.get("key_file"))
    scanner = build_scanner(opts, key)
    baseline_path = find_baseline(opts, args)
    inside: set[str] = set()
    findings, errors, checked = scan_files(args.files, scanner, _Selector(opts), inside=inside)

    baseline: Baseline | None = None
    problems: list[str] = []
    new = findings
    if baseline_path is not None and os.path.exists(baseline_path) and (findings or args.update_baseline):
        from ..baseline import Baseline, BaselineError

        try:
            baseline = Baseline.load(baseline_path)
            baseline.check_key(key)
            new = baseline.new(findings)
        except BaselineError as exc:
            problems.append(str(exc))
            baseline = None
            if args.update_baseline:
                args.update_baseline = False  # never rewrite a baseline we could not read
    elif baseline_path is not None and not os.path.exists(baseline_path) and not args.update_baseline:
        problems.append(f"baseline file {baseline_path} does not exist (create it with 'cardscan baseline')")
    if args.update_baseline and baseline is None and new:
        from ..baseline import Baseline, BaselineError

        try:
            baseline_path = baseline_path or DEFAULT_BASELINE
            root = os.path.dirname(os.path.abspath(baseline_path))
            baseline = Baseline.from_findings([], key, root, settings=scanner.config.to_dict())
        except BaselineError as exc:
            problems.append(str(exc))

    cwd = os.getcwd()
    quiet = getattr(args, "quiet", False)
    status = EXIT_CLEAN
    if new and args.update_baseline and baseline is not None:
        baseline.add(new)
        baseline.write(baseline_path)  # type: ignore[arg-type]
        if not quiet:
            _write(out, f"cardscan: accepted {len(new)} finding(s) into {baseline_path}; review it, "
                        f"'git add {baseline_path}' and commit again.\n")
            for f in new:
                _write(out, "  " + format_line(f, cwd) + "\n")
        status = EXIT_BASELINE_WRITTEN
    elif new:
        status = EXIT_NEW
        if not quiet:
            from ..baseline import finding_path

            files = len({finding_path(f, cwd).split("!", 1)[0] for f in new})
            lines = [format_line(f, cwd) for f in new]
            known = len(findings) - len(new)
            extra = f" ({known} more accepted by the baseline)" if known else ""
            _write(out, "cardscan: card numbers in the files being committed:\n\n" + "\n".join(lines) + "\n\n")
            _write(out, f"{len(new)} card number(s) in {files} file(s){extra}: commit blocked.\n\n")
            name = baseline_path or DEFAULT_BASELINE
            n_inside = sum(1 for f in new if f.id in inside)
            _write(out, advice(name, not key.random, os.path.exists(name), len(new) - n_inside, n_inside))
    named = _named_with_cards(args.files)
    if named:
        # A file *named* with a card number leaks it into every clone, log and
        # review, whatever it holds; no baseline or inline comment accepts that.
        status = EXIT_NEW
        if not quiet:
            from ..privacy import mask_name

            _write(out, "cardscan: files named with a card number (rename them; a baseline cannot accept a name):\n\n"
                   + "".join(f"  {mask_name(p)}\n" for p in named) + f"\n{len(named)} file name(s): commit blocked.\n")
    for e in errors:
        problems.append(f"{display_error(e, cwd)}: could not check ({e.kind}: {e.message})")
    if problems:
        if not quiet:
            _write(err, "".join(f"cardscan: error: {p}\n" for p in problems))
        if status == EXIT_CLEAN:
            status = EXIT_ERROR
    return status


def _named_with_cards(paths: Iterable[str]) -> list[str]:
    """The paths among ``paths`` whose name (any component) holds a card number."""
    from ..privacy import holds_card

    return [p for p in paths if holds_card(p)]


def display_error(e: "ErrorRecord", cwd: str) -> str:
    from pathlib import Path

    from ..display import local_path, printable, relative_path

    loc = e.location.public()
    local = local_path(loc.uri)
    text = relative_path(local, Path(cwd)) if local is not None else loc.uri
    if loc.member:
        text = "!".join([text, *loc.member])
    return printable(text)
