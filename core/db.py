"""Bulk writes for the hot paths (sync ingest), where the ORM's per-row work is the bottleneck.

Each database gets its own fastest path: SQLite one prepared ``INSERT ... ON CONFLICT DO UPDATE`` run
per row with ``executemany`` (values prepared by the model's own fields, so JSON, dates and booleans
are stored exactly as the ORM would store them); PostgreSQL ``COPY``, straight into the table for
inserts and through a temporary table for upserts.
"""

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import orjson
import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from psycopg.copy import QueuedLibpqWriter


def _prepared(model: type[models.Model], columns: Sequence[str]) -> list[models.Field]:
    return [model._meta.get_field(column) for column in columns]


def _json_encoder(field: models.Field) -> Callable[[Any], str]:
    """How a JSONField's values become text: orjson (several times faster than ``json``, same data)
    unless the field names its own encoder class."""
    if field.encoder is None:
        return lambda value: orjson.dumps(value).decode()
    return lambda value: json.dumps(value, cls=field.encoder)


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
    encoders = {
        index: _json_encoder(field) for index, field in prepared if field.get_internal_type() == "JSONField"
    }
    values = []
    seen: dict = {}  # a batch shares values (the same timestamp on every row): prepare each once
    for row in rows:
        line = [row[name] for name in names]
        for index, field in prepared:
            value = line[index]
            if value is None:
                continue
            if index in encoders:
                line[index] = encoders[index](value)
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
    """Run ``head <rows> tail`` (SQLite): one prepared statement run per row, ``executemany`` being
    the fastest way into an in-process database."""
    placeholders = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.executemany(f"{head}VALUES ({placeholders}){tail}", _values(fields, rows))


@contextmanager
def _copy_into(table: str, columns: Sequence[str], *, overlap: bool = False) -> Iterator[Callable]:
    """PostgreSQL: a ``write(rows)`` that streams rows (tuples in ``columns`` order, JSON as text)
    into ``table`` with ``COPY``, the server's bulk-load path; every row is stored when the block ends.

    Django's cursors have no COPY, so a psycopg cursor on the same connection (hence the same
    transaction) is used; psycopg formats the rows in C. With ``overlap`` a thread of psycopg's sends
    them, so that the caller carries on with its own work while the server takes them in.
    """
    quote = connection.ops.quote_name
    names = ", ".join(quote(column) for column in columns)
    connection.ensure_connection()
    # wrap_database_errors: psycopg's errors become Django's (a duplicate key is an IntegrityError).
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        writer = QueuedLibpqWriter(cursor) if overlap else None
        with cursor.copy(f"COPY {quote(table)} ({names}) FROM STDIN", writer=writer) as copy:

            def write(rows: Iterable[Sequence[Any]]) -> None:
                for row in rows:
                    copy.write_row(row)

            yield write


def _copy(table: str, fields: list[models.Field], rows: Sequence[dict[str, Any]]) -> None:
    """PostgreSQL: ``rows`` given as {attname: value} into ``table`` with ``COPY``."""
    with _copy_into(table, [field.column for field in fields]) as write:
        write(_copy_lines(fields, rows))


@contextmanager
def rows_writer(model: type[models.Model], columns: Sequence[str]) -> Iterator[Callable]:
    """A ``write(rows)`` that inserts rows given as tuples (a NamedTuple reads best) in ``columns``
    order, values ready for the database (JSON as text), for callers that produce many rows and
    cannot afford a dictionary each: PostgreSQL ``COPY``, sent while the caller goes on (every row is
    stored when the block ends); SQLite one prepared statement run per row."""
    table = model._meta.db_table
    db_columns = [model._meta.get_field(name).column for name in columns]
    if connection.vendor == "postgresql":
        with _copy_into(table, db_columns, overlap=True) as write:
            yield write
        return
    quote = connection.ops.quote_name
    placeholders = ", ".join(["%s"] * len(columns))
    names = ", ".join(quote(column) for column in db_columns)
    with connection.cursor() as cursor:
        yield partial(cursor.executemany, f"INSERT INTO {quote(table)} ({names}) VALUES ({placeholders})")  # noqa: S608


def _copy_lines(fields: list[models.Field], rows: Sequence[dict[str, Any]]):
    """The rows as tuples in ``fields`` order; JSON as text, which the server parses into jsonb."""
    names = [field.attname for field in fields]
    encoders = [
        (index, _json_encoder(field))
        for index, field in enumerate(fields)
        if field.get_internal_type() == "JSONField"
    ]
    for row in rows:
        line = [row[name] for name in names]
        for index, encode in encoders:
            if line[index] is not None:
                line[index] = encode(line[index])
        yield line


def insert_rows(model: type[models.Model], rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows given as {attname: value}; every row has the same keys."""
    if not rows:
        return
    fields = _prepared(model, list(rows[0]))
    if connection.vendor == "postgresql":
        _copy(model._meta.db_table, fields, rows)
    else:
        _write(_insert_head(model, fields), "", fields, rows)


def upsert_rows(
    model: type[models.Model], rows: Sequence[dict[str, Any]], *, unique: Sequence[str], update: Sequence[str]
) -> None:
    """Insert rows, or update ``update`` columns of the row with the same ``unique`` columns.

    PostgreSQL: the rows are copied into a temporary table, then moved with one
    ``INSERT ... SELECT ... ON CONFLICT``; the temporary table is dropped in the same transaction.
    """
    if not rows:
        return
    quote = connection.ops.quote_name
    fields = _prepared(model, list(rows[0]))
    conflict = ", ".join(quote(model._meta.get_field(name).column) for name in unique)
    assignments = ", ".join(
        f"{quote(column)} = EXCLUDED.{quote(column)}"
        for column in (model._meta.get_field(name).column for name in update)
    )
    tail = f" ON CONFLICT ({conflict}) DO UPDATE SET {assignments}"
    if connection.vendor != "postgresql":
        _write(_insert_head(model, fields), tail, fields, rows)
        return
    table = quote(model._meta.db_table)
    staging = quote(f"staging_{model._meta.db_table}")
    names = ", ".join(quote(field.column) for field in fields)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {staging} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP")
        _copy(f"staging_{model._meta.db_table}", fields, rows)
        cursor.execute(f"{_insert_head(model, fields)}SELECT {names} FROM {staging}{tail}")  # noqa: S608
        cursor.execute(f"DROP TABLE {staging}")


def select_rows(
    model: type[models.Model], key: str, values: Sequence[Any], columns: Sequence[str]
) -> list[dict[str, Any]]:
    """Rows whose unique ``key`` is one of ``values``, as {attname: value} for ``columns``.

    The ORM's ``__in`` with thousands of values spends more time preparing each parameter than the
    database spends answering. PostgreSQL gets the values as one array and looks each one up in the
    key's index: a plain ``= ANY(array)`` lets the planner pick a full scan while the table's
    statistics still describe it as small (during the first sync), which costs a scan per batch.
    SQLite gets plain parameters. JSON comes back decoded, as the ORM would return it.
    """
    if not values:
        return []
    quote = connection.ops.quote_name
    fields = _prepared(model, columns)
    names = ", ".join(quote(field.column) for field in fields)
    table = quote(model._meta.db_table)
    key_field = model._meta.get_field(key)
    key_column = quote(key_field.column)
    # Table and column names come from the model and are quoted; values go as parameters.
    if connection.vendor == "postgresql":
        wanted = f"unnest(%s::{key_field.db_type(connection)}[]) AS wanted(key)"
        one = f"SELECT {names} FROM {table} WHERE {key_column} = wanted.key LIMIT 1"  # noqa: S608
        sql = f"SELECT found.* FROM {wanted} CROSS JOIN LATERAL ({one}) AS found"  # noqa: S608
        parameters = [list(values)]
    else:
        placeholders = ", ".join(["%s"] * len(values))
        sql = f"SELECT {names} FROM {table} WHERE {key_column} IN ({placeholders})"  # noqa: S608
        parameters = list(values)
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters)
        lines = cursor.fetchall()
    decoded = [
        (index, field) for index, field in enumerate(fields) if field.get_internal_type() == "JSONField"
    ]
    attnames = [field.attname for field in fields]
    rows = []
    for line in lines:
        row = dict(zip(attnames, line, strict=True))
        for index, field in decoded:
            row[attnames[index]] = field.from_db_value(line[index], None, connection)
        rows.append(row)
    return rows
