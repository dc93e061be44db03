"""SweepOptions: what a user chooses for a sweep, declared once.

The fields of :class:`SweepOptions` *are* the option table of ``cardscan
scan`` (in the spirit of ripgrep's one ``FLAGS`` list). Each field declares
its name, type and default, and in its metadata (:class:`Spec`) the
command-line flags, whether a settings file may set it, the parser that
checks a value, the help group and text, and what it feeds: a source's
``from_url`` keyword arguments (``file``, ``s3``, ``sql``, ``git``,
``smb``), the engine's :class:`~cardscan.engine.config.ScanConfig`
(``engine``), the decoders' :class:`~cardscan.decoders.Limits`
(``limits``), the sweep itself (``run``, ``key``) or the command line's
output (``output``). From this one table:

* ``cardscan/cli/options.py`` generates argparse (flags, types, help
  groups) for ``scan`` and the subset the ``hook`` and ``baseline``
  commands share;
* ``cardscan/settings.py`` generates the settings-file schema (which keys
  exist, their parsers, did-you-mean, paths relative to the file);
* ``cardscan.run.sweep`` derives every source's keyword arguments, the
  engine settings and the limits.

Nothing registers options at import time. Adding an option is one field
here plus its implementation (docs/cli.md shows one such change).

Values are checked when a SweepOptions is made, whoever makes it: the
command line, a settings file or a library caller
(``SweepOptions(min_confidence="high")`` is a :class:`ConfigError` naming
the option). Parsers accept their own output, so checking twice is harmless.
"""
from __future__ import annotations

import os
import re
from dataclasses import MISSING, field, fields
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

from ._byvalue import ByValueFrozen
from ._dataclass import dataclass
from .errors import ConfigError

Parser = Callable[[Any, str], Any]


# -- value parsers: (value, where) -> value ------------------------------------------
def _bad(where: str, message: str) -> ConfigError:
    return ConfigError(f"{where}: {message}" if where else message)


def _shown(value: Any) -> str:
    return repr(str(value)[:40])


def parse_size(value: Any, where: str = "size") -> int:
    """``"64MiB"``, ``"2GB"``, ``"1.5G"``, ``1048576`` -> bytes (K/M/G are 1000-based, KiB/MiB/GiB 1024)."""
    if isinstance(value, bool):
        raise _bad(where, f"expected a size like 64MiB, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise _bad(where, "a size cannot be negative")
        return value
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgtp]?)(i?)(b?)\s*", str(value), re.I)
    if not m:
        raise _bad(where, f"expected a size like 64MiB or 2GB, got {_shown(value)}")
    number, prefix, binary, _ = m.groups()
    power = " kmgtp".index(prefix.lower() or " ")
    return int(float(number) * (1024 if binary else 1000) ** power)


def boolean(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    raise _bad(where, f"expected true or false, got {_shown(value)}")


def whole(lo: int, hi: int | None = None) -> Parser:
    """A whole number in [lo, hi] (a string of digits is accepted: the command line gives text)."""
    def parse(value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            try:
                value = int(str(value).strip())
            except ValueError:
                raise _bad(where, f"expected a whole number, got {_shown(value)}") from None
        if value < lo or (hi is not None and value > hi):
            bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
            raise _bad(where, f"must be {bound}, got {value}")
        return value

    return parse


def number(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise _bad(where, f"expected a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _bad(where, f"expected a number, got {_shown(value)}") from None


def text(value: Any, where: str) -> str:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise _bad(where, f"expected a string, got {type(value).__name__}")
    return value


def text_list(value: Any, where: str) -> tuple[str, ...]:
    """A string or a list of strings (kept as a tuple: options are frozen)."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _bad(where, "expected a list of strings")


def choice(*choices: str) -> Parser:
    def parse(value: Any, where: str) -> str:
        if value not in choices:
            raise _bad(where, f"expected one of {', '.join(choices)}, got {_shown(value)}")
        return str(value)

    return parse


def endpoint(value: Any, where: str) -> str:
    """An http(s) URL with a host: a typo must not reach the S3 client as a ValueError."""
    value = text(value, where)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad(where, f"expected a URL like https://s3.example.com:9000, got {_shown(value)}")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise _bad(where, f"not a valid port in {_shown(value)}") from None
    return value


def sources_list(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, (str, os.PathLike)):
        value = [value]
    try:
        return tuple(os.fspath(v) for v in value)
    except TypeError:
        raise _bad(where, "expected paths or URLs") from None


# -- the table's metadata ------------------------------------------------------------
#: Help groups, in the order ``--help`` shows them.
GROUPS = (
    "output",
    "what to scan",
    "detection",
    "inside files (archives, compression, encodings; docs/containers.md)",
    "running",
    "fingerprint key",
    "settings file",
    "resuming, incremental sweeps, clusters (docs/scale.md)",
    "repositories and CI",
    "S3 sources (s3://bucket/prefix/)",
    "SQL sources (sqlite:///x.db, postgresql://..., mysql+pymysql://...)",
)
OUTPUT, SELECT, DETECT, INSIDE, RUNNING, KEY, SETTINGS, SCALE, REPO, S3, SQL = GROUPS

#: What a field may feed: a source's ``from_url`` keyword arguments, or a part of the sweep.
SOURCES = ("file", "s3", "sql", "git", "smb")
PARTS = ("engine", "limits", "run", "key", "output", "hook")

#: ``--state`` without FILE: ``MANIFEST.state``, next to the manifest.
NEXT_TO_MANIFEST = "\0next-to-manifest"


@dataclass(eq=False, repr=False)  # frozen, ==, hash(), repr(): ByValueFrozen
class Spec(ByValueFrozen):
    """One option's metadata (the row of the table; the field gives name, type and default)."""

    group: str
    help: str
    #: Command-line flags; none: library and settings file only.
    flags: tuple[str, ...] = ()
    #: Checks (and normalises) a value from any layer; None: taken as given.
    parse: Parser | None = None
    #: What it feeds (see SOURCES and PARTS).
    feeds: tuple[str, ...] = ()
    #: Keyword argument name in what it feeds (default: the field's name).
    kwarg: str | None = None
    #: May a settings file set it (under the field's name, ``-`` or ``_``)?
    setting: bool = True
    #: A path: made absolute relative to the settings file that names it.
    path: bool = False
    #: ``extend``: the settings file's and the command line's values add up (patterns).
    merge: str = "replace"
    #: argparse: ``store``, ``append``, ``true`` (flag sets True), ``false`` (flag sets False),
    #: ``bool`` (``--x``/``--no-x``), ``optional`` (value optional: ``const``).
    action: str = "store"
    metavar: str | None = None
    choices: tuple[str, ...] = ()
    const: Any = None
    #: Commands whose command line offers it; ``hook``/``baseline`` share a subset.
    commands: tuple[str, ...] = ("scan",)
    #: (command, help) where a command words it differently.
    help_for: tuple[tuple[str, str], ...] = ()

    def help_in(self, command: str) -> str:
        return dict(self.help_for).get(command, self.help)


def option(default: Any, group: str, help: str, *, flags: tuple[str, ...] | str = (), **spec: Any) -> Any:
    """A SweepOptions field: its default and its :class:`Spec`."""
    if isinstance(flags, str):
        flags = (flags,)
    for feed in spec.get("feeds", ()):
        if feed not in SOURCES + PARTS:
            raise ValueError(f"unknown feed {feed!r}")  # a typo in the table, caught at import
    return field(default=default, metadata={"spec": Spec(group, help, flags, **spec)})


_size, _jobs = parse_size, whole(1)
_SCAN_HOOK = ("scan", "hook", "baseline")


@dataclass(eq=False, repr=False)  # frozen, ==, hash(), repr(): ByValueFrozen
class SweepOptions(ByValueFrozen):
    """Every option of a sweep. See the module docstring and docs/cli.md for each."""

    sources: tuple[str, ...] = option(
        (), "sources", "files or directories (a mounted share is a directory), s3://bucket/prefix/, "
        "sqlite:///x.db, postgresql://..., mysql+pymysql://... (docs/sources.md)",
        parse=sources_list, setting=False, metavar="SOURCE")

    # -- output (the command line's; a library caller passes sinks) --
    manifest: str | None = option(
        None, OUTPUT, "write the JSON Lines remediation manifest to PATH (created 0600; '-' for stdout)",
        flags="--manifest", parse=text, path=True, metavar="PATH", feeds=("output",))
    format: str = option(
        "text", OUTPUT, "what goes to stdout: {formats}", flags="--format", parse=text, metavar="FORMAT",
        feeds=("output",))
    quiet: bool = option(
        False, OUTPUT, "print nothing; the exit status (and the manifest) tell", flags=("-q", "--quiet"),
        parse=boolean, action="true", feeds=("output",), commands=_SCAN_HOOK,
        help_for=(("hook", "only the exit status"), ("baseline", "print nothing on success")))
    progress: bool | None = option(
        None, OUTPUT, "progress bar on stderr (default: when stderr is a terminal)", flags="--progress",
        parse=boolean, action="bool", feeds=("output",))
    log_level: str = option(
        "warning", OUTPUT, "diagnostic logging on stderr, in this process and the workers (card numbers "
        "are masked)", flags="--log-level", parse=choice("debug", "info", "warning", "error"),
        choices=("debug", "info", "warning", "error"), feeds=("output", "run"))

    # -- what to scan --
    include: tuple[str, ...] = option(
        (), SELECT, "scan only files matching GLOB (gitignore syntax; repeatable)", flags="--include",
        parse=text_list, action="append", merge="extend", metavar="GLOB", feeds=("file", "git", "smb"))
    exclude: tuple[str, ...] = option(
        (), SELECT, "skip files and directories matching GLOB (gitignore syntax; repeatable)",
        flags="--exclude", parse=text_list, action="append", merge="extend", metavar="GLOB",
        feeds=("file", "git", "smb"))
    gitignore: bool = option(
        False, SELECT, "also skip what .gitignore files ignore (and .git directories)", flags="--gitignore",
        parse=boolean, action="true", feeds=("file",))
    max_file_size: int | None = option(
        None, SELECT, "skip files larger than SIZE (e.g. 500MB, 2GiB)", flags="--max-file-size",
        parse=_size, metavar="SIZE", feeds=("file", "git", "smb"))
    follow_symlinks: bool = option(
        False, SELECT, "follow symbolic links while walking (loops are detected)", flags="--follow-symlinks",
        parse=boolean, action="true", feeds=("file",))

    # -- detection (the engine; None: the engine's default) --
    min_confidence: int | None = option(
        None, DETECT, "report findings with confidence >= N (0-100; default 50)", flags="--min-confidence",
        parse=whole(0, 100), metavar="N", feeds=("engine",), commands=_SCAN_HOOK,
        help_for=(("hook", "flag numbers with confidence >= N (0-100; default 50)"),
                  ("baseline", "flag numbers with confidence >= N (0-100; default 50)")))
    test_cards: bool | None = option(
        None, DETECT, "do not report published test card numbers", flags="--no-test-cards", parse=boolean,
        action="false", feeds=("engine",))
    columns: bool | None = option(
        None, DETECT, "do not read CSV headers or SQL column names as the field names of values",
        flags="--no-columns", parse=boolean, action="false", feeds=("engine",))
    utf16: bool | None = option(None, DETECT, "also find UTF-16 digits (default true)", parse=boolean,
                                feeds=("engine",))
    backend: str | None = option(None, DETECT, "candidate finder: best, c or python (default best)",
                                 parse=choice("best", "c", "python"), feeds=("engine",))
    context_window: int | None = option(None, DETECT, "bytes either side searched for keywords (default 300)",
                                        parse=whole(0, 4096), feeds=("engine",))
    chunk_size: int | None = option(None, DETECT, "bytes per read (default 1MiB)", parse=_size, feeds=("engine",))

    # -- inside files --
    max_depth: int | None = option(
        None, INSIDE, "containers nested deeper than N are reported as a 'limit' error (default 3)",
        flags="--max-depth", parse=whole(0), metavar="N", feeds=("limits",))
    max_ratio: float | None = option(
        None, INSIDE, "stop a layer that expands more than R times its compressed size (default 200)",
        flags="--max-ratio", parse=number, metavar="R", feeds=("limits",))
    max_total_bytes: int | None = option(
        None, INSIDE, "stop decoding an item after SIZE decoded bytes (default 20GiB)", flags="--max-total-bytes",
        parse=_size, metavar="SIZE", feeds=("limits",))
    max_members: int | None = option(
        None, INSIDE, "stop after N archive members in one item (default 100000)", flags="--max-members",
        parse=_jobs, metavar="N", feeds=("limits",))
    inline: bool | None = option(
        None, INSIDE, "do not decode base64, percent-encoding and HTML entities inside text", flags="--no-inline",
        parse=boolean, action="false", feeds=("engine",))

    # -- running --
    jobs: int | None = option(
        None, RUNNING, "worker processes (default: all cores; 1 = no pool)", flags=("-j", "--jobs"), parse=_jobs,
        metavar="N", feeds=("run",))
    split_size: int = option(
        64 << 20, RUNNING, "split files bigger than SIZE into byte ranges scanned in parallel (default 64MiB)",
        flags="--split-size", parse=_size, metavar="SIZE", feeds=("run",))

    # -- the fingerprint key --
    key_file: str | None = option(
        None, KEY, "HMAC key for fingerprints (32+ bytes, mode 0600; make one with cardscan keygen); "
                   "default $CARDSCAN_FINGERPRINT_KEY, else a random key",
        flags="--key-file", parse=text, path=True, metavar="PATH", feeds=("key",), commands=_SCAN_HOOK,
        help_for=(("hook", "HMAC key for the baseline's fingerprints, kept outside the repository (32+ bytes, "
                           "mode 0600; cardscan keygen); default $CARDSCAN_FINGERPRINT_KEY"),
                  ("baseline", "HMAC key for the baseline's fingerprints, kept outside the repository "
                               "(32+ bytes, mode 0600; cardscan keygen); default $CARDSCAN_FINGERPRINT_KEY")))

    # -- the settings file (set by the loader; ``--no-config`` sits beside it) --
    config_file: str | None = option(
        None, SETTINGS, "read settings from FILE (.cardscan.toml, or pyproject.toml [tool.cardscan])",
        flags="--config", parse=text, setting=False, metavar="FILE", commands=_SCAN_HOOK)

    # -- resuming, incremental sweeps, clusters --
    state: str | None = option(
        None, SCALE, "keep a sweep state in FILE (SQLite, 0600; default MANIFEST.state): an interrupted sweep "
        "resumes, a repeated one rescans only what changed; put it after SOURCE when giving no FILE",
        flags="--state", parse=text, path=True, action="optional", const=NEXT_TO_MANIFEST, metavar="FILE",
        feeds=("run",))
    full: bool = option(
        False, SCALE, "with --state: scan everything again (the state is still updated)", flags="--full",
        parse=boolean, action="true", setting=False, feeds=("run",))
    executor: str = option(
        "local", SCALE, "where workers run: local processes (default) or a Dask cluster", flags="--executor",
        parse=choice("local", "dask"), choices=("local", "dask"), feeds=("run",))
    scheduler: str | None = option(
        None, SCALE, "with --executor dask: the scheduler (tcp://host:8786), or 'local' for a local cluster "
        "of --jobs processes; default $DASK_SCHEDULER_ADDRESS", flags="--scheduler", parse=text,
        metavar="ADDRESS", feeds=("run",))

    # -- repositories and CI --
    baseline: str | None = option(
        None, REPO, "report only findings not accepted in this baseline (see 'cardscan baseline')",
        flags="--baseline", parse=text, path=True, metavar="FILE", feeds=("run",), commands=("scan", "hook"),
        help_for=(("hook", "accepted findings (default: .cardscan-baseline.json if it exists)"),))
    git_history: bool = option(
        False, REPO, "scan every blob in the git history (all refs) of each SOURCE's repository instead of "
        "its files", flags="--git-history", parse=boolean, action="true", setting=False, feeds=("run",))
    git_range: str | None = option(
        None, REPO, "with or without --git-history: scan only the blobs introduced in this revision range "
        "(e.g. main..feature)", flags="--git-range", parse=text, setting=False, metavar="A..B",
        feeds=("git",), kwarg="rev_range")

    # -- S3 sources --
    s3_endpoint_url: str | None = option(
        None, S3, "S3-compatible store (MinIO, Ceph ...); default $AWS_ENDPOINT_URL, else AWS",
        flags="--endpoint-url", parse=endpoint, metavar="URL", feeds=("s3",), kwarg="endpoint_url")
    s3_region: str | None = option(
        None, S3, "client region (default: the AWS config chain)", flags="--region", parse=text, metavar="NAME",
        feeds=("s3",), kwarg="region")
    s3_profile: str | None = option(
        None, S3, "AWS profile for credentials (default: the standard credential chain)", flags="--profile",
        parse=text, metavar="NAME", feeds=("s3",), kwarg="profile")
    s3_anon: bool = option(
        False, S3, "anonymous requests (public buckets)", flags="--no-sign-request", parse=boolean, action="true",
        feeds=("s3",), kwarg="anon")
    s3_requester_pays: bool = option(
        False, S3, "scan requester-pays buckets (your account pays the transfer)", flags="--requester-pays",
        parse=boolean, action="true", feeds=("s3",), kwarg="requester_pays")
    all_versions: bool = option(
        False, S3, "also scan non-current object versions (deleted cards live on in them)",
        flags="--all-versions", parse=boolean, action="true", feeds=("s3",))

    # -- SQL sources --
    sql_schemas: tuple[str, ...] | None = option(
        None, SQL, "scan only schemas matching GLOB (repeatable)", flags="--schema", parse=text_list,
        action="append", metavar="GLOB", feeds=("sql",), kwarg="schemas")
    sql_exclude_schemas: tuple[str, ...] | None = option(
        None, SQL, "skip schemas matching GLOB (repeatable)", flags="--exclude-schema", parse=text_list,
        action="append", metavar="GLOB", feeds=("sql",), kwarg="exclude_schemas")
    sql_tables: tuple[str, ...] | None = option(
        None, SQL, "scan only tables matching GLOB (table or schema.table) (repeatable)", flags="--table",
        parse=text_list, action="append", metavar="GLOB", feeds=("sql",), kwarg="tables")
    sql_exclude_tables: tuple[str, ...] | None = option(
        None, SQL, "skip tables matching GLOB (repeatable)", flags="--exclude-table", parse=text_list,
        action="append", metavar="GLOB", feeds=("sql",), kwarg="exclude_tables")
    sql_columns: tuple[str, ...] | None = option(
        None, SQL, "scan only columns matching GLOB (column, table.column ...) (repeatable)", flags="--column",
        parse=text_list, action="append", metavar="GLOB", feeds=("sql",), kwarg="columns")
    sql_exclude_columns: tuple[str, ...] | None = option(
        None, SQL, "skip columns matching GLOB (repeatable)", flags="--exclude-column", parse=text_list,
        action="append", metavar="GLOB", feeds=("sql",), kwarg="exclude_columns")
    sql_sample: int | None = option(
        None, SQL, "read only the first N rows of each table (a quick survey; default: every row)",
        flags="--sample", parse=_jobs, metavar="N", feeds=("sql",), kwarg="sample")
    sql_views: bool = option(
        False, SQL, "also scan views (default: tables only)", flags="--views", parse=boolean, action="true",
        feeds=("sql",), kwarg="views")
    sql_split_rows: int | None = option(
        2_000_000, SQL, "list a table of more rows than N as key ranges of about N rows, which workers share "
        "(default: 2000000)", flags="--split-rows", parse=_jobs, metavar="N", feeds=("sql",), kwarg="split_rows")
    exposure: bool = option(
        True, SQL, "look up who may read each S3 object, SQL table and SMB file (default: on)", flags="--exposure",
        parse=boolean, action="bool", feeds=("s3", "sql", "smb"))

    # -- the pre-commit hook and the baseline command --
    report_test_cards: bool | None = option(
        None, DETECT, "also flag published test card numbers (allowed by default here)", flags="--report-test-cards",
        parse=boolean, action="true", feeds=("hook",), commands=("hook", "baseline"))

    def __post_init__(self) -> None:
        for f in fields(self):
            spec: Spec = f.metadata["spec"]
            value = getattr(self, f.name)
            if value is None or spec.parse is None or value == f.default:
                continue
            object.__setattr__(self, f.name, spec.parse(value, f"option {f.name}"))

    # -- views the composition root uses -------------------------------------------------
    def feeding(self, part: str) -> dict[str, Any]:
        """Keyword arguments for ``part`` (a source name, ``engine`` or ``limits``) from the fields feeding it.

        For sources every feeding field is passed (lists as lists: specs travel to
        workers as plain data); for ``engine`` and ``limits`` only fields that are
        set, so the component's own defaults apply.
        """
        out: dict[str, Any] = {}
        for f, spec in table():
            if part not in spec.feeds:
                continue
            value = getattr(self, f.name)
            if part in ("engine", "limits") and value is None:
                continue
            out[spec.kwarg or f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def set_fields(self) -> dict[str, Any]:
        """Fields whose value is not None (the hook's and baseline's settings view)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


def table() -> Iterator[tuple[Any, Spec]]:
    """(field, spec) for every option, in declaration (help) order."""
    for f in fields(SweepOptions):
        yield f, f.metadata["spec"]


def spec(name: str) -> Spec:
    return SweepOptions.__dataclass_fields__[name].metadata["spec"]  # type: ignore[no-any-return]


def default(name: str) -> Any:
    f = SweepOptions.__dataclass_fields__[name]
    return None if f.default is MISSING else f.default


def settings_schema() -> dict[str, Spec]:
    """Settings-file key (``_`` form) -> spec, for every option a settings file may set."""
    return {f.name: s for f, s in table() if s.setting}
