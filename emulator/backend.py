"""The emulator's state and rules: one method per partner-side API operation.

:class:`Backend` holds the state file, the access rules and the long-running operations; the
methods of each topic live in their own module and are mixed in: :mod:`emulator.companies`
(customers, vendors) and :mod:`emulator.claims` (devices: claim, unclaim, metadata, look-ups).

A :class:`Backend` serves one reseller partner (``partner_id``). That partner sees its own records
and its vendors' (read-only); any other partner id in a path is answered with 403 PERMISSION_DENIED.
Methods take path parameters as strings and request bodies as parsed JSON (see
:mod:`emulator.schema`) and return the response body as a dict in Google's JSON form: int64 values
as strings, unset fields left out.

Not supported (answered as documented per method): configurations (``configurationId`` is accepted
and ignored), the customer API (``customers.*``), SIM-lock profiles (``simlockProfileId`` accepted
and ignored), partial responses (``fields``), per-vendor metadata (the reseller's metadata only), and
``preProvisioningToken`` checks (any non-empty token is taken as valid).
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from pathlib import Path

from . import operations
from .claims import DevicesApi
from .companies import CompaniesApi
from .errors import ApiError, InvalidArgument, PermissionDenied
from .rules import MAX_ASYNC_DEVICES, int64
from .store import Store


class Backend(CompaniesApi, DevicesApi):
    """State and rules of the partner API for one reseller partner.

    ``operation_rate`` is how many devices per second a long-running operation processes
    (0 pauses every operation); ``reset`` brings back the rate it was made with. ``clock`` returns
    seconds since the epoch; tests may replace it.
    """

    def __init__(
        self,
        state_path: str | Path,
        partner_id: int | str,
        *,
        operation_rate: float = 1000.0,
        clock=time.time,
    ):
        self.store = Store(state_path)
        self.partner_id = int(partner_id)
        self.operation_rate = self.initial_operation_rate = float(operation_rate)
        self.clock = clock
        self._visible: tuple[int, ...] | None = None
        self._visible_lock = threading.Lock()
        self._visibility_memo: dict[str, str] = {}
        self.operations = operations.OperationRunner(self)
        self.operations.resume(self.clock())

    def close(self) -> None:
        self.operations.stop()
        self.store.close()

    # ------------------------------------------------------------------ access rules

    def _check_partner(self, value, field: str = "partner_id") -> int:
        partner_id = int64(value, field)
        if partner_id != self.partner_id:
            raise PermissionDenied("The caller does not have permission", reason="PARTNER_NOT_YOURS")
        return partner_id

    def _check_parent(self, parent: str) -> int:
        match = re.fullmatch(r"partners/([^/]+)", parent or "")
        if not match:
            raise InvalidArgument(f"Invalid parent '{parent}': expected partners/[PARTNER_ID].")
        return self._check_partner(match.group(1), "parent")

    def visible_resellers(self) -> tuple[int, ...]:
        """The reseller ids whose claims this partner may see: its own and its vendors'."""
        with self._visible_lock:
            if self._visible is None:
                with self.store.read() as conn:
                    vendors = [
                        row[0]
                        for row in conn.execute(
                            "SELECT partner_id FROM partners WHERE parent_id = ?", (self.partner_id,)
                        )
                    ]
                self._visible = (self.partner_id, *vendors)
            return self._visible

    def forget_cached_state(self) -> None:
        """Forget what was derived from the vendors (after a reset or a new seed)."""
        with self._visible_lock:
            self._visible = None
            self._visibility_memo = {}

    # ------------------------------------------------------------------ long-running operations

    def _start_operation(self, partner_id: str, body: dict, field: str, kind: str) -> dict:
        self._check_partner(partner_id)
        items = body.get(field)
        if not items:
            raise InvalidArgument(f"{field} must hold at least one device.", reason="EMPTY_BATCH")
        if len(items) > MAX_ASYNC_DEVICES:
            raise InvalidArgument(
                f"{field} holds {len(items)} devices; a request holds at most {MAX_ASYNC_DEVICES}.",
                reason="BATCH_TOO_LARGE",
            )
        return self.operations.create(kind, items)

    def claim_async(self, partner_id: str, body: dict) -> dict:
        """partners.devices.claimAsync: a long-running operation applying each claim in ``claims``
        with the rules of :meth:`claim`. Failures are per device (``perDeviceStatus``), never
        ``Operation.error``. At most 100,000 devices per request.
        """
        return self._start_operation(partner_id, body, "claims", "claim")

    def unclaim_async(self, partner_id: str, body: dict) -> dict:
        """partners.devices.unclaimAsync: :meth:`unclaim` for each item of ``unclaims``, as an operation."""
        return self._start_operation(partner_id, body, "unclaims", "unclaim")

    def update_metadata_async(self, partner_id: str, body: dict) -> dict:
        """partners.devices.updateMetadataAsync: :meth:`update_metadata` for each item of ``updates``."""
        return self._start_operation(partner_id, body, "updates", "updateMetadata")

    def get_operation(self, name: str) -> dict:
        """operations.get: an operation of this partner, advanced to the current time first."""
        return self.operations.get(name)

    def process_item(self, conn: sqlite3.Connection, kind: str, request: dict, now: float) -> tuple:
        """Apply one item of an operation: (status, deviceId, errorIdentifier, errorMessage)."""
        apply = {
            "claim": self._claim_item,
            "unclaim": self._unclaim_item,
            "updateMetadata": self._metadata_item,
        }
        conn.execute("SAVEPOINT item")
        try:
            device_id = apply[kind](conn, request, now)
        except ApiError as error:
            conn.execute("ROLLBACK TO item")
            conn.execute("RELEASE item")
            return error.device_status, None, error.reason, error.message
        conn.execute("RELEASE item")
        return "SINGLE_DEVICE_STATUS_SUCCESS", device_id, None, None

    # ------------------------------------------------------------------ control

    def reset(self) -> None:
        """Empty the state and bring back the operation rate it started with (the served partner
        stays): a test that paused operations must not leave the next one's pending for ever."""
        self.operation_rate = self.initial_operation_rate
        self.operations.forget()
        self.store.clear()
        self.forget_cached_state()

    def summary(self) -> dict:
        """Counts of what the state holds, and the reseller's customer and vendor ids."""
        with self.store.read() as conn:

            def count(sql: str) -> int:
                return conn.execute(sql).fetchone()[0]

            def customer_ids(partner_id: int) -> list[str]:
                sql = "SELECT customer_id FROM customers WHERE partner_id = ? ORDER BY customer_id"
                return [str(row[0]) for row in conn.execute(sql, (partner_id,))]

            vendors = conn.execute(
                "SELECT partner_id, company_name FROM partners WHERE parent_id = ? ORDER BY partner_id",
                (self.partner_id,),
            ).fetchall()
            return {
                "partnerId": str(self.partner_id),
                "customerIds": customer_ids(self.partner_id),
                "vendors": [
                    {"companyId": str(vendor), "companyName": name, "customerIds": customer_ids(vendor)}
                    for vendor, name in vendors
                ],
                "devices": count("SELECT COUNT(*) FROM devices"),
                "claims": count("SELECT COUNT(*) FROM claims"),
                "unclaimedDevices": count(
                    "SELECT COUNT(*) FROM devices d WHERE NOT EXISTS"
                    " (SELECT 1 FROM claims c WHERE c.device_id = d.device_id)"
                ),
                "operations": count("SELECT COUNT(*) FROM operations"),
                "runningOperations": count("SELECT COUNT(*) FROM operations WHERE done = 0"),
            }
