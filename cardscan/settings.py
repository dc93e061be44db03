"""Settings files and the fingerprint key, for the command line.

Settings come from, lowest priority first: built-in defaults, the nearest
settings file, then the command line. The settings file is the closest
``.cardscan.toml`` or ``pyproject.toml`` with a ``[tool.cardscan]`` table,
searched from the working directory upwards (``.cardscan.toml`` wins in the
same directory); ``--config FILE`` names one, ``--no-config`` ignores them.
In ``.cardscan.toml`` the settings sit at the top level (or under
``[tool.cardscan]``). Keys use the long option names, with ``-`` or ``_``::

    [tool.cardscan]
    exclude = ["*.iso", "node_modules/"]
    max-file-size = "2GB"
    min-confidence = 60
    jobs = 4

Relative paths in a settings file (``key-file``, ``manifest``) are relative
to that file. Unknown keys are an error that names the file and the key.
"""
from __future__ import annotations

import difflib
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any, Callable

from .errors import ConfigError

# -- value parsers (value, where) -> value -------------------------------------


def parse_size(value: Any, where: str = "size") -> int:
    """``"64MiB"``, ``"2GB"``, ``"1.5G"``, ``1048576`` -> bytes (K/M/G are 1000-based, KiB/MiB/GiB 1024)."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a size like 64MiB, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ConfigError(f"{where}: a size cannot be negative")
        return value
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgtp]?)(i?)(b?)\s*", str(value), re.I)
    if not m:
        raise ConfigError(f"{where}: expected a size like 64MiB or 2GB, got {str(value)[:40]!r}")
    number, prefix, binary, _ = m.groups()
    power = " kmgtp".index(prefix.lower() or " ")
    return int(float(number) * (1024 if binary else 1000) ** power)


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    raise ConfigError(f"{where}: expected true or false, got {str(value)[:40]!r}")


def _int(lo: int, hi: int | None = None) -> Callable[[Any, str], int]:
    def parse(value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            try:
                value = int(str(value))
            except ValueError:
                raise ConfigError(f"{where}: expected a whole number, got {str(value)[:40]!r}") from None
        if value < lo or (hi is not None and value > hi):
            bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
            raise ConfigError(f"{where}: must be {bound}, got {value}")
        return value

    return parse


def _float(value: Any, where: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected a number, got {str(value)[:40]!r}") from None


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {type(value).__name__}")
    return value


def _str_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(f"{where}: expected a list of strings")


def _choice(*choices: str) -> Callable[[Any, str], str]:
    def parse(value: Any, where: str) -> str:
        if value not in choices:
            raise ConfigError(f"{where}: expected one of {', '.join(choices)}, got {str(value)[:40]!r}")
        return value

    return parse


#: Every setting a file may hold -> its parser. Later features add entries
#: (``KNOWN["s3_profile"] = ...``); the command line uses the same names.
KNOWN: dict[str, Callable[[Any, str], Any]] = {
    # selection
    "include": _str_list,
    "exclude": _str_list,
    "gitignore": _bool,
    "max_file_size": parse_size,
    "follow_symlinks": _bool,
    # detection (engine)
    "min_confidence": _int(0, 100),
    "test_cards": _bool,
    "utf16": _bool,
    "backend": _choice("best", "c", "python"),
    "context_window": _int(0, 4096),
    "inline": _bool,
    "columns": _bool,
    "chunk_size": parse_size,
    # containers (decoder limits)
    "max_depth": _int(0),
    "max_ratio": _float,
    "max_total_bytes": parse_size,
    "max_members": _int(1),
    # running
    "jobs": _int(1),
    "split_size": parse_size,
    # output
    "manifest": _str,
    "format": _str,
    "quiet": _bool,
    "progress": _bool,
    "log_level": _choice("debug", "info", "warning", "error"),
    # key
    "key_file": _str,
    # baseline of accepted findings (scan --baseline, the pre-commit hook)
    "baseline": _str,
    # pre-commit hook only: flag published test cards too (allowed by default there)
    "report_test_cards": _bool,
    # S3 sources (docs/sources.md)
    "s3_endpoint_url": _str,
    "s3_region": _str,
    "s3_profile": _str,
    "s3_anon": _bool,
    "s3_requester_pays": _bool,
    "all_versions": _bool,
    # SQL sources (docs/sources.md)
    "sql_schemas": _str_list,
    "sql_exclude_schemas": _str_list,
    "sql_tables": _str_list,
    "sql_exclude_tables": _str_list,
    "sql_columns": _str_list,
    "sql_exclude_columns": _str_list,
    "sql_sample": _int(1),
    # S3 and SQL: look up who may read objects and tables
    "exposure": _bool,
}

#: Settings holding paths, made absolute relative to the settings file.
PATHS = {"key_file", "manifest", "baseline"}


def normalise(raw: dict[str, Any], where: str, base: Path | None = None) -> dict[str, Any]:
    """Checked settings with ``_`` keys; paths made absolute against ``base``."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name not in KNOWN:
            close = difflib.get_close_matches(name, KNOWN, n=1)
            hint = f" (did you mean {close[0].replace('_', '-')!r}?)" if close else ""
            raise ConfigError(f"{where}: unknown setting {key!r}{hint}")
        value = KNOWN[name](value, f"{where}: {key}")
        if name in PATHS and base is not None and value != "-" and not os.path.isabs(value):
            value = str(base / value)
        out[name] = value
    return out


def _toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def _table(path: Path) -> dict[str, Any] | None:
    data = _toml(path)
    table = data.get("tool", {}).get("cardscan")
    if path.name == "pyproject.toml":
        return table
    if table is not None:
        return table
    return {k: v for k, v in data.items() if k != "tool"}


def find_config(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The nearest settings file from ``start`` (default: the working directory) upwards."""
    here = Path(start or os.getcwd()).resolve()
    for d in (here, *here.parents):
        dot = d / ".cardscan.toml"
        if dot.is_file():
            return dot
        pyproject = d / "pyproject.toml"
        if pyproject.is_file():
            try:
                if _table(pyproject) is not None:
                    return pyproject
            except ConfigError:
                continue  # somebody else's broken pyproject is not our settings
    return None


def load_config(path: str | os.PathLike[str] | None = None, *, search: bool = True) -> tuple[dict[str, Any], str | None]:
    """(settings, file it came from). ``path`` names a file; else the nearest one is used."""
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"settings file {p} does not exist")
    elif search:
        found = find_config()
        if found is None:
            return {}, None
        p = found
    else:
        return {}, None
    table = _table(p)
    if table is None:
        raise ConfigError(f"{p}: no [tool.cardscan] table")
    where = f"{p} [tool.cardscan]" if p.name == "pyproject.toml" else str(p)
    return normalise(table, where, p.resolve().parent), str(p)


# -- the fingerprint key --------------------------------------------------------


def load_key(key_file: str | os.PathLike[str] | None = None) -> tuple[Any, str]:
    """(FingerprintKey, where it came from: ``file``, ``env`` or ``random``).

    A key file must be readable by its owner only (like an SSH private key):
    anyone who can read the key can test guesses against the fingerprints.
    """
    from .findings import FingerprintKey

    if key_file:
        path = os.fspath(key_file)
        try:
            st = os.stat(path)
        except OSError as exc:
            raise ConfigError(f"cannot read key file {path}: {exc.strerror}") from None
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"key file {path} is not a regular file")
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise ConfigError(
                f"key file {path} is accessible by group or others (mode {stat.S_IMODE(st.st_mode):04o}); "
                f"anyone who reads it can test card numbers against fingerprints. Fix it with: chmod 600 {path}"
            )
        try:
            with open(path, "rb") as fh:
                data = fh.read().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read key file {path}: {exc.strerror}") from None
        if not data:
            raise ConfigError(f"key file {path} is empty")
        return FingerprintKey(data), "file"
    env = os.environ.get("CARDSCAN_FINGERPRINT_KEY")
    if env:
        return FingerprintKey(env.encode("utf-8")), "env"
    return FingerprintKey(None), "random"
