"""``python -m cardscan``: the same as the ``cardscan`` command."""
import sys

from .cli.main import main

if __name__ == "__main__":
    sys.exit(main())
