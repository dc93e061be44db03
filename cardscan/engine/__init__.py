"""The engine: pure, single-threaded PAN detection over bytes (no I/O)."""
