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

import os
import re
import stat
import sys
from pathlib import Path
from typing import Any

from . import options
from .errors import ConfigError

# The value parsers live with the option table (cardscan/options.py);
# ``parse_size`` stays importable from here.
parse_size = options.parse_size


def schema() -> dict[str, Any]:
    """Every key a settings file may hold (``_`` form) -> its spec; generated from the option table."""
    return options.settings_schema()


def normalise(raw: dict[str, Any], where: str, base: Path | None = None) -> dict[str, Any]:
    """Checked settings with ``_`` keys; paths made absolute against ``base``."""
    known = schema()
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = str(key).replace("-", "_")
        if name not in known:
            import difflib  # only for a misspelt key: its import is start-up time

            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0].replace('_', '-')!r}?)" if close else ""
            raise ConfigError(f"{where}: unknown setting {key!r}{hint}")
        spec = known[name]
        if spec.parse is not None:
            value = spec.parse(value, f"{where}: {key}")
        if spec.path and base is not None and value != "-" and not os.path.isabs(value):
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
        if pyproject.is_file() and _may_hold_our_table(pyproject):
            try:
                if _table(pyproject) is not None:
                    return pyproject
            except ConfigError:
                # Somebody else's broken pyproject is not our settings; but one
                # that holds our table is: ignoring it would silently drop the
                # user's excludes, so it is an error naming the file.
                if _mentions_our_table(pyproject):
                    raise
                continue
    return None


def _may_hold_our_table(path: Path) -> bool:
    """Could this pyproject.toml hold ``[tool.cardscan]``? Only if it spells
    the name, or holds an escape (a quoted key may write ``"\\u0063ardscan"``).
    Most projects' pyproject.toml say neither: reading them as TOML (the
    parser's import and the parse, ~20 ms) was a tenth of every start-up in
    a Python project's directory."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return True  # _table says what is wrong with it
    return b"cardscan" in data or b"\\" in data


#: ``[tool.cardscan]``, ``[tool.cardscan.x]``, ``[[tool.cardscan...]]``, or a dotted key
#: ``tool.cardscan.jobs = 4`` / ``cardscan = {...}`` under ``[tool]``: found by text,
#: since the file is not valid TOML. Patterns, compiled by ``re`` when a broken
#: pyproject.toml is met (not at every start-up, where none is).
_OUR_TABLE = (
    rb"""^[ \t]*(?:\[\[?[ \t]*tool[ \t]*\.[ \t]*["']?cardscan["']?[ \t]*[\].]"""
    rb"""|tool[ \t]*\.[ \t]*["']?cardscan["']?[ \t]*[.=])"""
)
_TOOL_HEADER = rb"^[ \t]*\[[ \t]*tool[ \t]*\][ \t]*(?:#.*)?$"
_CARDSCAN_KEY = rb"""^[ \t]*["']?cardscan["']?[ \t]*[.=]"""


def _mentions_our_table(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            data = fh.read(4 << 20)
    except OSError:
        return False
    if re.search(_OUR_TABLE, data, re.M):
        return True
    tool = re.search(_TOOL_HEADER, data, re.M)
    if tool is None:
        return False
    section = data[tool.end():]
    nxt = re.search(rb"^[ \t]*\[", section, re.M)
    return bool(re.search(_CARDSCAN_KEY, section[: nxt.start()] if nxt else section, re.M))


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
    A key from a file or ``CARDSCAN_FINGERPRINT_KEY`` must be at least
    ``MIN_KEY_BYTES`` (32) long: both exist to make fingerprints comparable
    across runs, and a short one lets a manifest's reader recover the PANs.
    """
    from .findings import FingerprintKey, check_key_length

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
        check_key_length(data, f"key file {path}")
        return FingerprintKey(data, source="file"), "file"
    env = os.environ.get("CARDSCAN_FINGERPRINT_KEY")
    if env:
        check_key_length(env.encode("utf-8"), "CARDSCAN_FINGERPRINT_KEY")
        return FingerprintKey(env.encode("utf-8"), source="env"), "env"
    return FingerprintKey(None, source="random"), "random"
