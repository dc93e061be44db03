"""The version, declared once: pyproject.toml reads it from here (``dynamic``).

A constant, not ``importlib.metadata.version("cardscan")``: every scan record
names the version, and importing importlib.metadata and reading the installed
distributions cost ~15 ms of each CLI start-up (measured on 2 cores).
"""
__version__ = "0.1.0"
