"""``python -m cardscan``: the same as the ``cardscan`` command."""
from .cli.main import program

if __name__ == "__main__":
    program()
