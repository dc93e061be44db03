"""The command line: ``cardscan <command> ...`` (see docs/cli.md).

main.py holds the subcommand table and the one error handler; each command
is a module with ``configure(parser)`` and ``run(args) -> int``. Modules
import heavy parts (engine, pools, tqdm) inside ``run`` so start-up stays
light (a pre-commit hook starts cardscan once per commit).
"""
