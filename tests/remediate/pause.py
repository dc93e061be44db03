"""Run the ``cardscan`` command stopped at the n-th remediation checkpoint (crash tests).

    python -m tests.remediate.pause after_rename 4 remediate m.jsonl --apply ...

Sets :attr:`cardscan.remediate.base.Context.on_checkpoint` in this process
only: the run says ``cardscan-test: paused at PHASE N`` on stderr and
sleeps there, so the test can SIGKILL it at an exact point (just before or
just after the atomic rename of the n-th object).
"""
from __future__ import annotations

import sys
import time
from typing import Callable

from cardscan.cli.main import main
from cardscan.remediate.base import Context


def stop_at(phase: str, n: int) -> Callable[[str], None]:
    seen = 0

    def on_checkpoint(reached: str) -> None:
        nonlocal seen
        if reached != phase:
            return
        seen += 1
        if seen == n:
            sys.stderr.write(f"cardscan-test: paused at {phase} {n}\n")
            sys.stderr.flush()
            time.sleep(3600)

    return on_checkpoint


if __name__ == "__main__":
    phase, n, *args = sys.argv[1:]
    Context.on_checkpoint = staticmethod(stop_at(phase, int(n)))  # type: ignore[assignment]
    sys.exit(main(args))
