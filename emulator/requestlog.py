"""The log of mutating API requests (claims, unclaims, metadata, customer creation), kept in the state
file so that it survives a restart: a test can prove that a device was submitted exactly once even
across a crash of either side.
"""

from __future__ import annotations

import json

from .store import Store
from .timefmt import format_time

MUTATING_METHODS = frozenset(
    {
        "partners.customers.create",
        "partners.devices.claim",
        "partners.devices.claimAsync",
        "partners.devices.unclaim",
        "partners.devices.unclaimAsync",
        "partners.devices.metadata",
        "partners.devices.updateMetadataAsync",
    }
)


class RequestLog:
    def __init__(self, store: Store, clock):
        self.store = store
        self.clock = clock

    def record(
        self,
        *,
        method: str,
        http_method: str,
        path: str,
        body: bytes,
        status: int | None,
        outcome: str,
        response,
    ) -> None:
        """``outcome``: ``ok``, ``error`` (answered with an error), ``fault`` (an injected error, not
        handled), ``dropped`` (closed before handling) or ``dropped_after_processing``."""
        with self.store.write() as conn:
            conn.execute(
                "INSERT INTO request_log (time, method, http_method, path, body, status, outcome, response)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    format_time(self.clock()),
                    method,
                    http_method,
                    path,
                    body.decode("utf-8", "replace"),
                    status,
                    outcome,
                    None if response is None else json.dumps(response, separators=(",", ":")),
                ),
            )

    def entries(self, *, method: str | None = None, since: int = 0, limit: int | None = None) -> list[dict]:
        sql = (
            "SELECT seq, time, method, http_method, path, body, status, outcome, response FROM request_log"
            " WHERE seq > ?"
        )
        args: list = [since]
        if method:
            sql += " AND method = ?"
            args.append(method)
        sql += " ORDER BY seq LIMIT ?"
        args.append(-1 if limit is None else limit)
        with self.store.read() as conn:
            rows = conn.execute(sql, args).fetchall()
        entries = []
        for seq, time, method_, http_method, path, body, status, outcome, response in rows:
            try:
                parsed_body = json.loads(body) if body else None
            except ValueError:
                parsed_body = body
            entries.append(
                {
                    "seq": seq,
                    "time": time,
                    "method": method_,
                    "httpMethod": http_method,
                    "path": path,
                    "body": parsed_body,
                    "status": status,
                    "outcome": outcome,
                    "response": json.loads(response) if response else None,
                }
            )
        return entries

    def clear(self) -> None:
        with self.store.write() as conn:
            conn.execute("DELETE FROM request_log")
