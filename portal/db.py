"""Bulk writes for the hot paths (sync ingest), where the ORM's per-row work is the bottleneck.

``INSERT ... ON CONFLICT DO UPDATE`` with ``executemany`` runs on SQLite (3.24+) and PostgreSQL alike;
values are prepared by the model's own fields, so JSON, dates and booleans are stored exactly as the
ORM would store them.
"""

import json
from collections.abc import Sequence
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections, models


def _prepared(model: type[models.Model], columns: Sequence[str]) -> list[models.Field]:
    return [model._meta.get_field(column) for column in columns]


# Values of these fields reach the SQLite driver as they are; the others (JSON, dates) are
# prepared by their field. Skipping the no-op preparation triples the rows written per second.
_PASSED_AS_IS = {
    "AutoField",
    "BigAutoField",
    "BigIntegerField",
    "BooleanField",
    "CharField",
    "ForeignKey",
    "IntegerField",
    "PositiveBigIntegerField",
    "PositiveIntegerField",
    "SmallIntegerField",
    "TextField",
}


def _values(fields: list[models.Field], rows: Sequence[dict[str, Any]]) -> list[tuple]:
    database = connections[DEFAULT_DB_ALIAS]
    names = [field.attname for field in fields]
    prepared = [
        (index, field) for index, field in enumerate(fields) if field.get_internal_type() not in _PASSED_AS_IS
    ]
    values = []
    seen: dict = {}  # a batch shares values (the same timestamp on every row): prepare each once
    for row in rows:
        line = [row[name] for name in names]
        for index, field in prepared:
            value = line[index]
            if value is None:
                continue
            if isinstance(value, dict | list):
                line[index] = field.get_db_prep_save(value, database)
                continue
            key = (index, value)
            if key not in seen:
                seen[key] = field.get_db_prep_save(value, database)
            line[index] = seen[key]
        values.append(tuple(line))
    return values


def _insert_head(model: type[models.Model], fields: list[models.Field]) -> str:
    quote = connection.ops.quote_name
    names = ", ".join(quote(field.column) for field in fields)
    # Table and column names come from the model and are quoted; values go as parameters.
    return f"INSERT INTO {quote(model._meta.db_table)} ({names}) "


def _write(head: str, tail: str, fields: list[models.Field], rows: Sequence[dict[str, Any]]) -> None:
    """Run ``head <rows> tail``.

    SQLite: one prepared statement run per row (``executemany`` is fastest in-process).
    PostgreSQL: one statement for all rows, each column sent as one binary array and spread by
    ``unnest``; ``executemany`` there would run one statement per row, several times slower.
    """
    if connection.vendor != "postgresql":
        placeholders = ", ".join(["%s"] * len(fields))
        with connection.cursor() as cursor:
            cursor.executemany(f"{head}VALUES ({placeholders}){tail}", _values(fields, rows))
        return
    arrays = ", ".join(
        f"%b::{field.rel_db_type(connection) if field.is_relation else field.db_type(connection)}[]"
        for field in fields
    )
    # Django's cursors bind parameters on the client, quoting every array element into the SQL
    # text; a server-binding cursor on the same connection (same transaction) sends them binary.
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as binary:
        binary.execute(f"{head}SELECT * FROM unnest({arrays}){tail}", _columns(fields, rows))  # noqa: S608


def _columns(fields: list[models.Field], rows: Sequence[dict[str, Any]]) -> list[list]:
    """The rows as one list per column; JSON as text (PostgreSQL casts it to jsonb)."""
    columns = []
    for field in fields:
        name = field.attname
        if field.get_internal_type() == "JSONField":
            encoder = field.encoder
            columns.append(
                [None if row[name] is None else json.dumps(row[name], cls=encoder) for row in rows]
            )
        else:
            columns.append([row[name] for row in rows])
    return columns


def insert_rows(model: type[models.Model], rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows given as {attname: value}; every row has the same keys."""
    if not rows:
        return
    fields = _prepared(model, list(rows[0]))
    _write(_insert_head(model, fields), "", fields, rows)


def upsert_rows(
    model: type[models.Model], rows: Sequence[dict[str, Any]], *, unique: Sequence[str], update: Sequence[str]
) -> None:
    """Insert rows, or update ``update`` columns of the row with the same ``unique`` columns."""
    if not rows:
        return
    quote = connection.ops.quote_name
    fields = _prepared(model, list(rows[0]))
    conflict = ", ".join(quote(model._meta.get_field(name).column) for name in unique)
    assignments = ", ".join(
        f"{quote(column)} = EXCLUDED.{quote(column)}"
        for column in (model._meta.get_field(name).column for name in update)
    )
    _write(
        _insert_head(model, fields), f" ON CONFLICT ({conflict}) DO UPDATE SET {assignments}", fields, rows
    )
