"""SQL databases through SQLAlchemy 2.x: one item per table, every cell that can hold a PAN.

URLs are SQLAlchemy URLs: ``sqlite:///path.db``, ``postgresql://user@host/db``,
``mysql+pymysql://root@host/db`` (``postgres://`` and ``mariadb://`` too).

Items
    One per table: ``uri`` is the database URL without password plus
    ``#schema.table`` (``.``, ``#`` and ``%`` in names percent-encoded). For
    SQLite the schema is ``main``; for MySQL/MariaDB it is the database.
    Findings carry the database URL alone and a :class:`~cardscan.findings.Cell`
    (schema, table, column, key).

Which columns
    Text (char, varchar, text, clob), JSON/JSONB, binary (bytea, blob,
    varbinary), and numbers wide enough for 12-19 digits: BIGINT, NUMERIC or
    DECIMAL with at least 12 integer digits (or no precision), DOUBLE (exact
    up to 15 digits). A PAN stored as a number is still a PAN; numbers are
    scanned as their decimal string. In SQLite, where any column holds any
    value, every column. Values shorter than 12 bytes cannot hold a PAN and
    are not yielded.

Which rows
    Every row (``sample=N``: the first N in key order, for a quick survey), in
    key order, in batches of ``batch_rows`` by keyset pagination (``WHERE key >
    last ORDER BY key LIMIT n``; never OFFSET) with a server-side cursor, so a
    billion-row table scans in constant memory and each batch is a short
    read transaction (no snapshot held for hours). A table of at least
    ``bulk_min_rows`` rows is read through the database's export instead
    (:mod:`.bulk`: one candidate pass over the export text, cells only for
    the rows that hold a candidate, the same findings), and one of more than
    ``split_rows`` rows is listed as several key-range items (:mod:`.split`).

Keys (``Cell.row_key``, ``Cell.stable``)
    The primary key (composite too), else a unique index over NOT NULL
    columns: stable. Without one: SQLite ``rowid`` and PostgreSQL ``ctid``
    (physical row ids that change on VACUUM FULL/UPDATE): ``stable=False``.
    MySQL/MariaDB have no row id: the table is read in one streamed pass and
    the key is the row's values in the columns that cannot hold a PAN, plus
    ``_row`` (its ordinal in this read), ``stable=False``. A key value that
    itself holds a card number is masked and the key flagged unstable, so a
    finding's location never carries a PAN.

Exposure (``Item.meta``)
    ``readers``: roles/users the database says may SELECT the table
    (PostgreSQL: the table ACL, ``PUBLIC`` included; MySQL/MariaDB: table,
    schema and global SELECT grants as far as the scanning account may see
    them); ``exposure``: ``public`` when PUBLIC (PostgreSQL) or an anonymous
    account (MySQL) may read it, else ``restricted``; ``unknown`` when the
    catalog cannot be read. SQLite has no accounts (see the file's mode).
"""
from __future__ import annotations

from .dialect import column_kind, db_error_kind, public_url, sqlite_url, table_uri
from .source import SQLSource
from .values import MIN_CELL_BYTES, render

__all__ = ["SQLSource", "MIN_CELL_BYTES", "column_kind", "db_error_kind", "public_url", "render", "sqlite_url",
           "table_uri"]
