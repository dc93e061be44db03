"""The engine: pure, single-threaded PAN detection over bytes (no I/O)."""
from __future__ import annotations

import re
from typing import Any, AnyStr, cast


class _LazyPattern:
    """A regular expression compiled on first use, then used like the compiled one."""

    def __init__(self, pattern: Any, flags: int) -> None:
        self._args = (pattern, flags)

    def __getattr__(self, name: str) -> Any:
        # Only for a name not yet bound here: the first use compiles, and binds what it
        # asked for (``search``, ``match`` ...) so later uses are plain attribute reads.
        compiled = self.__dict__.get("_compiled")
        if compiled is None:
            compiled = self.__dict__["_compiled"] = re.compile(*self._args)
        value = getattr(compiled, name)
        self.__dict__[name] = value
        return value


def lazy_pattern(pattern: AnyStr, flags: int = 0) -> re.Pattern[AnyStr]:
    """``re.compile(pattern, flags)`` on first use.

    Compiling their patterns at import was ~5 ms of every start-up
    (engine.context, engine.inline, privacy), for rules most runs never
    reach: the C gates (and privacy's plain-text gate) answer first on clean
    data. Not a ``re.Pattern`` for ``isinstance``; everything else it has."""
    return cast("re.Pattern[AnyStr]", _LazyPattern(pattern, flags))
