"""Long-running batch operations (claimAsync, unclaimAsync, updateMetadataAsync).

An operation is stored with its items when it is created and answered at once with ``done: false``.
A background thread then applies the items in request order at the backend's ``operation_rate``
(devices per second), each item with the same rules as the synchronous method, so device state
changes while the operation runs. ``metadata.processingStatus`` goes ``BATCH_PROCESS_PENDING`` (nothing
applied yet) → ``BATCH_PROCESS_IN_PROGRESS`` → ``BATCH_PROCESS_PROCESSED`` (every item applied);
``done`` turns true one item's worth of time later, so ``progress`` can read 100 before ``done`` is
true, as Google warns. A finished operation carries ``response.perDeviceStatus`` in request order and
``successCount``; ``Operation.error`` is never set.

Operations live in the state file: after a restart they carry on from where they were (the time the
emulator was down does not count).
"""

from __future__ import annotations

import json
import math
import secrets
import sqlite3
import sys
import threading
import traceback

from .errors import NotFound

PREFIX = "operations/apibatchoperation/"
PACKAGE = "type.googleapis.com/google.android.device.provisioning.v1."
METADATA_TYPE = PACKAGE + "DevicesLongRunningOperationMetadata"
RESPONSE_TYPE = PACKAGE + "DevicesLongRunningOperationResponse"

PENDING = "BATCH_PROCESS_PENDING"
IN_PROGRESS = "BATCH_PROCESS_IN_PROGRESS"
PROCESSED = "BATCH_PROCESS_PROCESSED"

OPERATION_COLUMNS = "op_id, kind, total, processed, success_count, credit, updated_at, done, partner_id"


class OperationRunner:
    """Creates, advances and reads the operations of one backend."""

    def __init__(self, backend, *, tick_seconds: float = 0.05, max_items_per_step: int = 1000):
        self.backend = backend
        self.store = backend.store
        self.tick_seconds = tick_seconds
        self.max_items_per_step = max_items_per_step
        self._running: set[int] = set()
        self._running_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -- life cycle

    def start(self) -> None:
        """Advance operations in a background thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="emulator-operations", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def resume(self, now: float) -> None:
        """After a (re)start: running operations continue from now, not from when the process died."""
        with self.store.write() as conn:
            conn.execute("UPDATE operations SET updated_at = ? WHERE done = 0", (now,))
            running = {row[0] for row in conn.execute("SELECT op_id FROM operations WHERE done = 0")}
        with self._running_lock:
            self._running = running

    def forget(self) -> None:
        with self._running_lock:
            self._running = set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.advance_all()
            except Exception:  # keep the thread alive: one bad step must not freeze every operation
                traceback.print_exc(file=sys.stderr)
                busy = False
            if not busy:
                self._wake.wait(self.tick_seconds)
                self._wake.clear()

    # -- creating and advancing

    def create(self, kind: str, items: list[dict]) -> dict:
        now = self.backend.clock()
        op_id = 10**18 + secrets.randbelow(8 * 10**18)
        with self.store.write() as conn:
            conn.execute(
                "INSERT INTO operations (op_id, partner_id, kind, total, updated_at, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (op_id, self.backend.partner_id, kind, len(items), now, now),
            )
            conn.executemany(
                "INSERT INTO operation_items (op_id, idx, request) VALUES (?, ?, ?)",
                ((op_id, index, json.dumps(item, separators=(",", ":"))) for index, item in enumerate(items)),
            )
        with self._running_lock:
            self._running.add(op_id)
        return self._json(None, (op_id, kind, len(items), 0, 0, 0.0, now, 0, self.backend.partner_id))

    def advance_all(self, now: float | None = None) -> bool:
        """Advance every running operation to ``now``; true when some operation has work left that
        was held back to keep each write short."""
        with self._running_lock:
            running = sorted(self._running)
        busy = False
        for op_id in running:
            busy |= self.advance(op_id, now)
        return busy

    def advance(self, op_id: int, now: float | None = None) -> bool:
        """Apply the items of one operation that are due; true when more are due than one step takes."""
        with self.store.write() as conn:
            row = conn.execute(
                f"SELECT {OPERATION_COLUMNS} FROM operations WHERE op_id = ?",  # noqa: S608
                (op_id,),
            ).fetchone()
            if row is None or row[7]:
                with self._running_lock:
                    self._running.discard(op_id)
                return False
            _, kind, total, processed, successes, credit, updated_at, _, _ = row
            now = self.backend.clock() if now is None else now
            rate = self.backend.operation_rate
            elapsed = max(0.0, now - updated_at)
            credit = total + 1.0 if math.isinf(rate) else min(total + 1.0, credit + elapsed * rate)
            # A little tolerance: clock readings of ~1.7e9 seconds are only precise to ~1e-7 s.
            whole = int(credit + 1e-4)
            target = min(total, whole, processed + self.max_items_per_step)
            held_back = target < min(total, whole)
            if target > processed:
                items = conn.execute(
                    "SELECT idx, request FROM operation_items WHERE op_id = ? AND idx >= ? AND idx < ?"
                    " ORDER BY idx",
                    (op_id, processed, target),
                ).fetchall()
                results = []
                for index, request in items:
                    status, device_id, error_identifier, error_message = self.backend.process_item(
                        conn, kind, json.loads(request), now
                    )
                    successes += status == "SINGLE_DEVICE_STATUS_SUCCESS"
                    results.append((status, device_id, error_identifier, error_message, op_id, index))
                conn.executemany(
                    "UPDATE operation_items SET status = ?, device_id = ?, error_identifier = ?,"
                    " error_message = ? WHERE op_id = ? AND idx = ?",
                    results,
                )
                processed = target
            done = processed == total and whole >= total + 1
            conn.execute(
                "UPDATE operations SET processed = ?, success_count = ?, credit = ?, updated_at = ?, done = ?"
                " WHERE op_id = ?",
                (processed, successes, credit, now, int(done), op_id),
            )
        if done:
            with self._running_lock:
                self._running.discard(op_id)
        return held_back

    def complete_all(self) -> int:
        """Finish every running operation now, whatever the rate; the number finished."""
        with self._running_lock:
            running = sorted(self._running)
        for op_id in running:
            while True:
                with self.store.write() as conn:
                    conn.execute(
                        "UPDATE operations SET credit = total + 1.0 WHERE op_id = ? AND done = 0", (op_id,)
                    )
                if not self.advance(op_id):
                    break
        return len(running)

    # -- reading

    def get(self, name: str) -> dict:
        op_id = self._parse_name(name)
        with self.store.read() as conn:
            row = conn.execute(
                f"SELECT {OPERATION_COLUMNS} FROM operations WHERE op_id = ?",  # noqa: S608
                (op_id,),
            ).fetchone()
        if row is None or row[8] != self.backend.partner_id:
            raise NotFound(f"Operation {name} not found.", reason="OPERATION_NOT_FOUND")
        if not row[7]:
            while self.advance(op_id):
                pass
        with self.store.read() as conn:
            row = conn.execute(
                f"SELECT {OPERATION_COLUMNS} FROM operations WHERE op_id = ?",  # noqa: S608
                (op_id,),
            ).fetchone()
            return self._json(conn, row)

    @staticmethod
    def _parse_name(name: str) -> int:
        if name and name.startswith(PREFIX) and name[len(PREFIX) :].isdigit():
            return int(name[len(PREFIX) :])
        raise NotFound(f"Operation {name} not found.", reason="OPERATION_NOT_FOUND")

    def _json(self, conn: sqlite3.Connection | None, row) -> dict:
        op_id, kind, total, processed, successes, _, _, done, _ = row
        if processed == 0:
            status = PENDING
        elif processed < total:
            status = IN_PROGRESS
        else:
            status = PROCESSED
        operation = {
            "name": f"{PREFIX}{op_id}",
            "metadata": {
                "@type": METADATA_TYPE,
                "processingStatus": status,
                "progress": processed * 100 // total,
                "devicesCount": total,
            },
            "done": bool(done),
        }
        if done and conn is not None:
            per_device = []
            for request, status_, device_id, error_identifier, error_message in conn.execute(
                "SELECT request, status, device_id, error_identifier, error_message FROM operation_items"
                " WHERE op_id = ? ORDER BY idx",
                (op_id,),
            ):
                result = {"status": status_}
                if device_id is not None:
                    result["deviceId"] = str(device_id)
                if error_identifier is not None:
                    result["errorIdentifier"] = error_identifier
                    result["errorMessage"] = error_message
                per_device.append({kind: json.loads(request), "result": result})
            operation["response"] = {
                "@type": RESPONSE_TYPE,
                "perDeviceStatus": per_device,
                "successCount": successes,
            }
        return operation
