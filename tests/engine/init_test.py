"""cardscan/engine/__init__.py: patterns compiled on first use."""
from __future__ import annotations

import re
import subprocess
import sys

from cardscan.engine import lazy_pattern


def test_a_lazy_pattern_compiles_once_on_first_use_and_answers_as_the_compiled_one() -> None:
    lazy, real = lazy_pattern(rb"(?i)card\s*([0-9]+)"), re.compile(rb"(?i)card\s*([0-9]+)")
    assert "_compiled" not in vars(lazy)
    data = b"CARD 4111 and card 5500"
    assert lazy.search(data).group(1) == real.search(data).group(1) == b"4111"
    assert "_compiled" in vars(lazy)
    compiled = vars(lazy)["_compiled"]
    assert [m.span() for m in lazy.finditer(data)] == [m.span() for m in real.finditer(data)]
    assert lazy.match(data, 14).group(1) == b"5500" and lazy.sub(b"x", data) == real.sub(b"x", data)
    assert lazy.pattern == real.pattern and lazy.flags == real.flags
    assert vars(lazy)["_compiled"] is compiled  # compiled once
    assert lazy_pattern("a.c", re.S).fullmatch("a\nc")


def test_importing_the_engine_compiles_no_pattern_of_context_or_inline() -> None:
    code = ("import sys\nfrom cardscan.engine import context, inline\n"
            "print(sum('_compiled' in vars(v) for m in (context, inline) for v in vars(m).values()\n"
            "          if type(v).__name__ == '_LazyPattern'), sum(type(v).__name__ == '_LazyPattern'\n"
            "          for m in (context, inline) for v in vars(m).values()))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    compiled, lazy = map(int, out.stdout.split())
    assert compiled == 0 and lazy >= 20
