"""The command line: ``cardscan <command> ...`` (see docs/cli.md).

main.py holds the subcommand table and the one error handler; options.py
turns the option table (cardscan/options.py) into argparse and layers the
settings file under the command line; each command is a module with
``configure(parser)`` and ``run(args) -> int``. ``scan`` is argv -> options
-> ``cardscan.run.sweep`` -> exit status. Modules import heavy parts
(engine, pools, tqdm) inside ``run`` so start-up stays light (a pre-commit
hook starts cardscan once per commit), and main.py configures only the
command being run.
"""
