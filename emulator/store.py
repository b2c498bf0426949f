"""The state file: one SQLite database in WAL mode.

Readers take a connection from a small pool and never block each other or the writer; writes are
serialized by one lock around one writer connection, each in an ``IMMEDIATE`` transaction, so that a
rule checked inside a write ("is this section already claimed?") still holds when the write commits.
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

SCHEMA_VERSION = "3"


class OutdatedState(RuntimeError):
    """The state file was written by an older version of the emulator."""


TABLES = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- The reseller and its vendors (vendors are partners whose parent is the reseller).
CREATE TABLE IF NOT EXISTS partners (
    partner_id INTEGER PRIMARY KEY,
    company_name TEXT NOT NULL,
    parent_id INTEGER
);
CREATE TABLE IF NOT EXISTS customers (
    customer_id INTEGER PRIMARY KEY,
    partner_id INTEGER NOT NULL,
    company_name TEXT NOT NULL,
    owner_emails TEXT NOT NULL,
    admin_emails TEXT NOT NULL,
    terms_status TEXT NOT NULL,
    language_code TEXT,
    workspace_customer_id TEXT,
    workspace_tokens TEXT
);
CREATE TABLE IF NOT EXISTS devices (
    device_id INTEGER PRIMARY KEY,
    imei TEXT,
    imei2 TEXT,
    meid TEXT,
    meid2 TEXT,
    serial_number TEXT,
    manufacturer TEXT,
    model TEXT,
    device_type TEXT,
    attested_id TEXT,
    metadata TEXT,
    -- Pre-serialized JSON, kept in step with the columns above and the device's claims:
    doc TEXT NOT NULL,         -- "deviceIdentifier":{...},"deviceMetadata":{...}
    claims_doc TEXT,           -- the claims' objects, comma-separated (no vacation-mode times)
    claims_resellers TEXT,     -- the reseller ids of those claims, comma-separated
    claims_vacation INTEGER NOT NULL DEFAULT 0  -- 1 when a claim has vacation-mode times
);
CREATE TABLE IF NOT EXISTS claims (
    device_id INTEGER NOT NULL,
    section_type TEXT NOT NULL,
    owner_company_id INTEGER,
    workspace_customer_id TEXT,
    reseller_id INTEGER NOT NULL,
    vacation_start TEXT,
    vacation_expire TEXT,
    additional_service TEXT,
    PRIMARY KEY (device_id, section_type)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS operations (
    op_id INTEGER PRIMARY KEY,
    partner_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    total INTEGER NOT NULL,
    processed INTEGER NOT NULL DEFAULT 0,
    success_count INTEGER NOT NULL DEFAULT 0,
    credit REAL NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    created_at REAL NOT NULL,
    done INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS operation_items (
    op_id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    request TEXT NOT NULL,
    status TEXT,
    device_id INTEGER,
    error_identifier TEXT,
    error_message TEXT,
    PRIMARY KEY (op_id, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS request_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    method TEXT NOT NULL,
    http_method TEXT NOT NULL,
    path TEXT NOT NULL,
    body TEXT,
    status INTEGER,
    outcome TEXT NOT NULL,
    response TEXT
);
"""

# Created after a bulk load (seeding builds them once, at the end, which is much faster).
INDEXES = """
CREATE INDEX IF NOT EXISTS customers_partner ON customers (partner_id, customer_id);
CREATE INDEX IF NOT EXISTS customers_workspace ON customers (workspace_customer_id)
    WHERE workspace_customer_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS devices_imei ON devices (imei) WHERE imei IS NOT NULL;
CREATE INDEX IF NOT EXISTS devices_imei2 ON devices (imei2) WHERE imei2 IS NOT NULL;
CREATE INDEX IF NOT EXISTS devices_meid ON devices (meid) WHERE meid IS NOT NULL;
CREATE INDEX IF NOT EXISTS devices_meid2 ON devices (meid2) WHERE meid2 IS NOT NULL;
CREATE INDEX IF NOT EXISTS devices_serial ON devices (serial_number COLLATE NOCASE)
    WHERE serial_number IS NOT NULL;
CREATE INDEX IF NOT EXISTS devices_attested ON devices (attested_id) WHERE attested_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS claims_owner ON claims (section_type, owner_company_id, device_id, reseller_id);
CREATE INDEX IF NOT EXISTS claims_workspace
    ON claims (section_type, workspace_customer_id, device_id, reseller_id)
    WHERE workspace_customer_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS operations_running ON operations (done, op_id);
"""

INDEX_NAMES = (
    "customers_partner",
    "customers_workspace",
    "devices_imei",
    "devices_imei2",
    "devices_meid",
    "devices_meid2",
    "devices_serial",
    "devices_attested",
    "claims_owner",
    "claims_workspace",
    "operations_running",
)

DATA_TABLES = ("partners", "customers", "devices", "claims", "operations", "operation_items", "request_log")


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-32000")
    conn.execute("PRAGMA mmap_size=1073741824")
    conn.execute("PRAGMA temp_store=MEMORY")
    return conn


class Store:
    """The state file and its connections. ``close()`` closes every connection it opened."""

    def __init__(self, path: str | Path, *, replace_outdated: bool = False):
        """Open (or create) the state file. A file from an older emulator version raises
        ``OutdatedState``, unless ``replace_outdated``: then its content is dropped."""
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.RLock()
        self._writer = _connect(self.path)
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all: list[sqlite3.Connection] = [self._writer]
        self._all_lock = threading.Lock()
        self._closed = False
        self._check_version(replace_outdated)
        self._writer.executescript(TABLES)
        self._writer.executescript(INDEXES)
        if self.get_meta("schema_version") is None:
            self.set_meta("schema_version", SCHEMA_VERSION)

    def _check_version(self, replace_outdated: bool) -> None:
        conn = self._writer
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
            return
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row and row[0] == SCHEMA_VERSION:
            return
        if not replace_outdated:
            self.close()
            raise OutdatedState(
                f"{self.path} was written by an older version of the emulator: "
                "delete it or seed it again (python -m emulator seed ...)"
            )
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for name in tables:
            if name != "sqlite_sequence":
                conn.execute(f'DROP TABLE IF EXISTS "{name}"')

    # -- connections

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A connection for reads, inside one read transaction: every statement sees the same
        committed state."""
        try:
            conn = self._readers.get_nowait()
        except queue.Empty:
            conn = _connect(self.path)
            with self._all_lock:
                if self._closed:
                    conn.close()
                    raise RuntimeError("the state file is closed") from None
                self._all.append(conn)
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.rollback()
            self._readers.put(conn)

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """The writer connection inside one transaction; commits on success, rolls back on error.

        Re-entrant: a write opened inside another write joins the outer transaction.
        """
        with self._write_lock:
            conn = self._writer
            if conn.in_transaction:
                yield conn
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    @contextlib.contextmanager
    def bulk_load(self) -> Iterator[sqlite3.Connection]:
        """The writer connection for loading many rows: indexes are dropped for the load and built
        again at the end, which is several times faster than maintaining them row by row."""
        with self._write_lock:
            conn = self._writer
            for name in INDEX_NAMES:
                conn.execute(f"DROP INDEX IF EXISTS {name}")
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                conn.executescript(INDEXES)
                raise
            conn.commit()
            conn.executescript(INDEXES)
            conn.execute("PRAGMA analysis_limit=1000")
            conn.execute("ANALYZE")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._all_lock:
            self._closed = True
            connections, self._all = self._all, []
        with self._write_lock:
            for conn in connections:
                conn.close()

    # -- meta values

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        with self.read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.write() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def clear(self) -> None:
        """Delete every record (the schema stays)."""
        with self.write() as conn:
            for table in DATA_TABLES:
                conn.execute(f"DELETE FROM {table}")  # noqa: S608 - table names are constants
            conn.execute("DELETE FROM meta WHERE key != 'schema_version'")
            conn.execute("DELETE FROM sqlite_sequence WHERE name = 'request_log'")
