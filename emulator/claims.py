"""Devices: claims, unclaims, metadata and look-ups (partners.devices.*)."""

from __future__ import annotations

import json
import re
import sqlite3

from . import identifiers, jsonwire, pages
from .errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from .rules import DEVICE_UNKNOWN, SIM_LOCK, exactly_one, int64, next_id, page_limit, section_type
from .timefmt import format_time, parse_time

DEVICE_COLUMNS = (
    "d.device_id, d.imei, d.imei2, d.meid, d.meid2, d.serial_number, d.manufacturer, d.model, "
    "d.device_type, d.attested_id, d.metadata, d.doc"
)
DEVICE_DOC_COLUMNS = "d.device_id, d.doc, d.claims_doc, d.claims_resellers, d.claims_vacation"
IDENTIFIER_FIELDS = identifiers.FIELDS  # in the column order of DEVICE_COLUMNS[1:10]
IDENTIFIER_COLUMNS = (
    "imei",
    "imei2",
    "meid",
    "meid2",
    "serial_number",
    "manufacturer",
    "model",
    "device_type",
    "attested_id",
)


def device_document(identifier_values, metadata: str | None) -> str:
    """The stored, pre-serialized part of a device's JSON: its identifier and metadata members.

    ``identifier_values`` are in the order of ``IDENTIFIER_FIELDS``; ``metadata`` is the JSON text of
    the metadata entries (or None).
    """
    members = ",".join(
        f'"{field}":{jsonwire.string(value)}'
        for field, value in zip(IDENTIFIER_FIELDS, identifier_values, strict=True)
        if value is not None
    )
    entries = '{"entries":' + metadata + "}" if metadata else "{}"
    return '"deviceIdentifier":{' + members + '},"deviceMetadata":' + entries


def claim_document(
    section: str, reseller_id: int, owner_id: int | None, workspace: str | None, service
) -> str:
    """A claim's JSON without its vacation-mode times (those depend on the time of the read)."""
    text = f'{{"sectionType":"{section}","resellerId":"{reseller_id}"'
    if owner_id is not None:
        text += f',"ownerCompanyId":"{owner_id}"'
    if workspace is not None:
        text += f',"googleWorkspaceCustomerId":{jsonwire.string(workspace)}'
    if service:
        text += f',"additionalService":"{service}"'
    return text + "}"


def metadata_text(entries: dict) -> str | None:
    """How metadata entries are stored: compact JSON with sorted keys, None when empty."""
    return json.dumps(entries, sort_keys=True, separators=(",", ":"), ensure_ascii=False) if entries else None


class DevicesApi:
    """The device methods of :class:`emulator.backend.Backend` (mixed into it)."""

    def _devices_json(self, conn: sqlite3.Connection, device_ids: list[int]) -> list[jsonwire.RawJSON]:
        """Devices as JSON, in the order of ``device_ids`` (see :meth:`_devices_from_rows`)."""
        if not device_ids:
            return []
        rows = conn.execute(
            f"SELECT {DEVICE_DOC_COLUMNS} FROM devices d"  # noqa: S608
            f" WHERE d.device_id IN ({','.join('?' * len(device_ids))})",
            device_ids,
        ).fetchall()
        order = {device_id: index for index, device_id in enumerate(device_ids)}
        return self._devices_from_rows(conn, sorted(rows, key=lambda row: order[row[0]]))

    def _devices_from_rows(self, conn: sqlite3.Connection, rows) -> list[jsonwire.RawJSON]:
        """Devices as JSON from rows of ``DEVICE_DOC_COLUMNS``, with the claims this partner may see
        (its own and its vendors'); devices claimed only by other resellers are left out.

        Each device row carries its stored documents: identifier and metadata (``doc``) and its
        claims (``claims_doc``, with the resellers that made them). A page of devices is spliced
        from them; only a device with claims of other resellers or in vacation mode has its claims
        read one by one.
        """
        partner = self.partner_id
        devices = []
        for device_id, doc, claims_doc, resellers, vacation in rows:
            if claims_doc is None:
                claims_member = ""
            else:
                visibility = self._visibility(resellers)
                if visibility == "none":
                    continue
                if visibility == "some" or vacation:
                    claims_doc = self._visible_claims(conn, device_id)
                claims_member = '"claims":[' + claims_doc + "],"
            devices.append(
                jsonwire.RawJSON(
                    f'{{"name":"partners/{partner}/devices/{device_id}","deviceId":"{device_id}",'
                    f"{claims_member}{doc}}}"
                )
            )
        return devices

    def _visibility(self, resellers: str) -> str:
        """``all``, ``some`` or ``none``: how many of the resellers in ``claims_resellers`` (a comma
        separated list) this partner may see."""
        known = self._visibility_memo
        answer = known.get(resellers)
        if answer is None:
            ids = {int(reseller) for reseller in resellers.split(",")}
            seen = ids & set(self.visible_resellers())
            answer = "all" if seen == ids else "some" if seen else "none"
            known[resellers] = answer
        return answer

    def _visible_claims(self, conn: sqlite3.Connection, device_id: int) -> str:
        """A device's claims that this partner may see, read one by one, with vacation-mode times."""
        visible = self.visible_resellers()
        now = format_time(self.clock())
        claims = []
        for section, reseller, owner, workspace, service, start, expire in conn.execute(
            "SELECT section_type, reseller_id, owner_company_id, workspace_customer_id, additional_service,"
            " vacation_start, vacation_expire FROM claims WHERE device_id = ? ORDER BY section_type DESC",
            (device_id,),
        ):
            if reseller not in visible:
                continue
            text = claim_document(section, reseller, owner, workspace, service)
            if expire is not None and expire > now:
                text = text[:-1] + f',"vacationModeStartTime":"{start}","vacationModeExpireTime":"{expire}"}}'
            claims.append(text)
        return ",".join(claims)

    def _refresh_claims(self, conn: sqlite3.Connection, device_id: int) -> None:
        """Store a device's claims document again after one of its claims changed."""
        rows = conn.execute(
            "SELECT section_type, reseller_id, owner_company_id, workspace_customer_id, additional_service,"
            " vacation_expire FROM claims WHERE device_id = ? ORDER BY section_type DESC",
            (device_id,),
        ).fetchall()
        conn.execute(
            "UPDATE devices SET claims_doc = ?, claims_resellers = ?, claims_vacation = ?"
            " WHERE device_id = ?",
            (
                ",".join(claim_document(*row[:5]) for row in rows) or None,
                ",".join(sorted({str(row[1]) for row in rows})) or None,
                int(any(row[5] is not None for row in rows)),
                device_id,
            ),
        )

    def _add_claim(
        self, conn: sqlite3.Connection, device_id: int, section: str, owner, workspace, reseller_id: int
    ) -> None:
        conn.execute(
            "INSERT INTO claims (device_id, section_type, owner_company_id, workspace_customer_id,"
            " reseller_id) VALUES (?, ?, ?, ?, ?)",
            (device_id, section, owner, workspace, reseller_id),
        )
        self._refresh_claims(conn, device_id)

    # ------------------------------------------------------------------ finding devices

    def _resolve_device(self, conn: sqlite3.Connection, request: dict):
        """The device row a request names by ``deviceId`` or ``deviceIdentifier``; 404 when unknown."""
        field = exactly_one(request, "deviceId", "deviceIdentifier", "device")
        if field == "deviceId":
            device_id = int64(request["deviceId"], "device_id")
            row = conn.execute(
                f"SELECT {DEVICE_COLUMNS} FROM devices d WHERE d.device_id = ?",  # noqa: S608
                (device_id,),
            ).fetchone()
            if row is None:
                raise NotFound(
                    f"Device {device_id} not found.", reason="DEVICE_NOT_FOUND", device_status=DEVICE_UNKNOWN
                )
            return row
        identifier = identifiers.validate(request["deviceIdentifier"], registering=False)
        row = self._match_device(conn, identifier)
        if row is None:
            raise NotFound(
                f"No device matches the identifier {json.dumps(identifier, sort_keys=True)}.",
                reason="DEVICE_NOT_FOUND",
                device_status=DEVICE_UNKNOWN,
            )
        return row

    def _by_primary(self, conn: sqlite3.Connection, identifier: dict) -> tuple[str, list]:
        """(the identifying field used, devices sharing it): IMEI (first or second), else MEID,
        else serial number (case-insensitively), else attested device id."""
        select = f"SELECT {DEVICE_COLUMNS} FROM devices d WHERE "  # noqa: S608
        if "imei" in identifier:
            value = identifier["imei"]
            sql = select + "d.imei = ?1 UNION ALL " + select + "d.imei2 = ?1 AND d.imei IS NOT ?1"
            return "imei", conn.execute(sql, (value,)).fetchall()
        if "meid" in identifier:
            value = identifier["meid"]
            sql = select + "d.meid = ?1 UNION ALL " + select + "d.meid2 = ?1 AND d.meid IS NOT ?1"
            return "meid", conn.execute(sql, (value,)).fetchall()
        if "serialNumber" in identifier:
            sql = select + "d.serial_number = ? COLLATE NOCASE"
            return "serialNumber", conn.execute(sql, (identifier["serialNumber"],)).fetchall()
        sql = select + "d.attested_id = ?"
        return "chromeOsAttestedDeviceId", conn.execute(
            sql, (identifier["chromeOsAttestedDeviceId"],)
        ).fetchall()

    @staticmethod
    def _disagreements(row, identifier: dict, primary: str, *, serial_case: bool = True) -> list[str]:
        """The identifier fields a stored device holds with another value."""
        stored = dict(zip(IDENTIFIER_FIELDS, row[1:10], strict=True))

        def differs(field: str, value: str) -> bool:
            if stored[field] is None:
                return False
            if field == "serialNumber" and not serial_case:
                return stored[field].lower() != value.lower()
            return stored[field] != value

        return [
            field
            for field, value in identifier.items()
            if field not in (primary, "deviceType", "imei2", "meid2") and differs(field, value)
        ]

    def _candidates(self, conn: sqlite3.Connection, identifier: dict) -> list:
        """Devices a look-up matches: the identifying field, then every other field given, where
        the device has it (serial numbers case-insensitively)."""
        primary, rows = self._by_primary(conn, identifier)
        found = [row for row in rows if not self._disagreements(row, identifier, primary, serial_case=False)]
        return sorted(found, key=lambda row: row[0])

    def _match_device(self, conn: sqlite3.Connection, identifier: dict):
        """The one device a look-up designates: an exact serial-number match preferred."""
        rows = self._candidates(conn, identifier)
        serial = identifier.get("serialNumber")
        if serial is not None and len(rows) > 1:
            exact = [row for row in rows if row[5] == serial]
            rows = exact or rows
        return rows[0] if rows else None

    def _registered_device(self, conn: sqlite3.Connection, identifier: dict):
        """The device a claim's identifier names, or None when it is new to the API.

        An IMEI or MEID names one device: other fields that contradict the registered device are a
        400. Without them, a device is its serial number (case-sensitive) with its model and
        manufacturer: the same serial number on another model is another device.
        """
        primary, rows = self._by_primary(conn, identifier)
        if primary in ("imei", "meid"):
            if not rows:
                return None
            row = rows[0]
            conflicts = self._disagreements(row, identifier, primary)
            if conflicts:
                registered = dict(zip(IDENTIFIER_FIELDS, row[1:10], strict=True))
                raise InvalidArgument(
                    f"{primary.upper()} {identifier[primary]} belongs to device {row[0]}, registered with "
                    + ", ".join(f"{field} '{registered[field]}'" for field in conflicts)
                    + ": the identifier given contradicts it.",
                    reason="IDENTIFIER_MISMATCH",
                    device_status=DEVICE_UNKNOWN,
                )
            return row
        same = [row for row in rows if row[5] == identifier.get("serialNumber", row[5])]
        for row in same:
            if not self._disagreements(row, identifier, primary):
                return row
        return None

    def get_device(self, name: str) -> dict:
        """partners.devices.get: a device this partner or its vendors claimed, or one nobody has
        claimed (known to the API from an earlier claim), with the claims this partner may see.
        Devices only other resellers have claimed are 404, as unknown ones."""
        match = re.fullmatch(r"partners/([^/]+)/devices/([^/]+)", name or "")
        if not match:
            raise InvalidArgument(
                f"Invalid name '{name}': expected partners/[PARTNER_ID]/devices/[DEVICE_ID]."
            )
        self._check_partner(match.group(1), "name")
        device_id = int64(match.group(2), "name")
        with self.store.read() as conn:
            devices = self._devices_json(conn, [device_id])
        if not devices:
            raise NotFound(f"Device {device_id} not found.", reason="DEVICE_NOT_FOUND")
        return devices[0]

    def find_by_identifier(self, partner_id: str, body: dict) -> dict:
        """partners.devices.findByIdentifier: devices matching an IMEI, MEID, serial number or
        attested device id. A serial number matches case-insensitively; manufacturer and model, when
        given, narrow the match. ``limit`` must be 1-100. Unclaimed devices are found too (without
        ``claims``); devices only other resellers have claimed are not.
        """
        self._check_partner(partner_id)
        limit = page_limit(body)
        if not body.get("deviceIdentifier"):
            raise InvalidArgument("deviceIdentifier is required.", reason="INVALID_DEVICE_IDENTIFIER")
        identifier = identifiers.validate(body["deviceIdentifier"], registering=False)
        fingerprint = pages.fingerprint("identifier", sorted(identifier.items()))
        offset = pages.decode(body["pageToken"], fingerprint, 1)[0] if body.get("pageToken") else 0
        with self.store.read() as conn:
            devices = self._devices_json(conn, [row[0] for row in self._candidates(conn, identifier)])
        response: dict = {}
        if devices[offset : offset + limit]:
            response["devices"] = devices[offset : offset + limit]
        if offset + limit < len(devices):
            response["nextPageToken"] = pages.encode(fingerprint, offset + limit)
        if devices:
            response["totalSize"] = len(devices)
        return response

    def find_by_owner(self, partner_id: str, body: dict) -> dict:
        """partners.devices.findByOwner: devices claimed for the given customers (``customerId``)
        or Google Workspace accounts (``googleWorkspaceCustomerId``) in one section type, by this
        reseller or its vendors, ordered by customer then device id. ``limit`` must be 1-100; the
        page token is opaque. ``totalSize`` is counted when the first page is read and carried by
        the page token.
        """
        self._check_partner(partner_id)
        section = section_type(body)
        limit = page_limit(body)
        owners = sorted({int64(c, "customer_id") for c in body.get("customerId") or []})
        workspaces = sorted(set(body.get("googleWorkspaceCustomerId") or []))
        if not owners and not workspaces:
            raise InvalidArgument(
                "customerId or googleWorkspaceCustomerId is required.", reason="CUSTOMER_REQUIRED"
            )
        by_column = (("owner_company_id", owners), ("workspace_customer_id", workspaces))
        keys = [(column, value) for column, values in by_column for value in values]
        resellers = self.visible_resellers()
        fingerprint = pages.fingerprint("owner", section, owners, workspaces)
        if body.get("pageToken"):
            position, after, total = pages.decode(body["pageToken"], fingerprint, 3)
        else:
            position, after, total = 0, 0, None
        reseller_marks = ",".join("?" * len(resellers))
        found: list[tuple[int, tuple]] = []  # (position in keys, device row)
        with self.store.read() as conn:
            if total is None:
                total = sum(
                    conn.execute(
                        f"SELECT COUNT(*) FROM claims WHERE section_type = ? AND {column} IN "  # noqa: S608
                        f"({','.join('?' * len(values))}) AND reseller_id IN ({reseller_marks})",
                        (section, *values, *resellers),
                    ).fetchone()[0]
                    for column, values in by_column
                    if values
                )
            while len(found) <= limit and position < len(keys):
                column, key = keys[position]
                rows = conn.execute(
                    f"SELECT {DEVICE_DOC_COLUMNS} FROM claims c JOIN devices d ON d.device_id = c.device_id"  # noqa: S608
                    f" WHERE c.section_type = ? AND c.{column} = ? AND c.device_id > ?"
                    f" AND c.reseller_id IN ({reseller_marks}) ORDER BY c.device_id LIMIT ?",
                    (section, key, after, *resellers, limit + 1 - len(found)),
                ).fetchall()
                found.extend((position, row) for row in rows)
                if len(found) <= limit:
                    position, after = position + 1, 0
            response: dict = {}
            page = found[:limit]
            if page:
                response["devices"] = self._devices_from_rows(conn, [row for _, row in page])
        if len(found) > limit:
            last_position, last_row = page[-1]
            response["nextPageToken"] = pages.encode(fingerprint, last_position, last_row[0], total)
        if total:
            response["totalSize"] = total
        return response

    def get_sim_lock_state(self, partner_id: str, body: dict) -> dict:
        """partners.devices.getSimLockState: ``LOCKED_TO_PARTNER`` when this reseller (or a vendor)
        holds the device's SIM-lock section, ``LOCKED_TO_OTHER_PARTNER`` when another reseller does,
        ``UNLOCKED`` when nobody does or the lock is in vacation mode. Unknown device: 404.
        """
        self._check_partner(partner_id)
        if not body.get("deviceIdentifier"):
            raise InvalidArgument("deviceIdentifier is required.", reason="INVALID_DEVICE_IDENTIFIER")
        with self.store.read() as conn:
            row = self._resolve_device(conn, {"deviceIdentifier": body["deviceIdentifier"]})
            claim = conn.execute(
                "SELECT reseller_id, vacation_expire FROM claims WHERE device_id = ? AND section_type = ?",
                (row[0], SIM_LOCK),
            ).fetchone()
        if claim is None or (claim[1] is not None and claim[1] > format_time(self.clock())):
            return {"simLockState": "UNLOCKED"}
        if claim[0] in self.visible_resellers():
            return {"simLockState": "LOCKED_TO_PARTNER"}
        return {"simLockState": "LOCKED_TO_OTHER_PARTNER"}

    # ------------------------------------------------------------------ claims

    def _owner(
        self, conn: sqlite3.Connection, request: dict, chrome_os: bool
    ) -> tuple[int | None, str | None]:
        """(ownerCompanyId, googleWorkspaceCustomerId) a claim request names, after the access rules."""
        field = exactly_one(request, "customerId", "googleWorkspaceCustomerId", "customer")
        if field == "googleWorkspaceCustomerId":
            workspace = request["googleWorkspaceCustomerId"].strip()
            if not chrome_os:
                raise InvalidArgument(
                    "googleWorkspaceCustomerId is only for ChromeOS devices; use customerId.",
                    reason="WORKSPACE_CUSTOMER_FOR_ANDROID",
                )
            if not request.get("preProvisioningToken"):
                raise InvalidArgument(
                    "A ChromeOS device is claimed with a preProvisioningToken.",
                    reason="PRE_PROVISIONING_TOKEN_REQUIRED",
                    device_status="SINGLE_DEVICE_STATUS_INVALID_TOKEN",
                )
            row = conn.execute(
                "SELECT customer_id FROM customers WHERE workspace_customer_id = ? AND partner_id = ?",
                (workspace, self.partner_id),
            ).fetchone()
            return (row[0] if row else None), workspace
        if chrome_os:
            raise InvalidArgument(
                "A ChromeOS device is claimed for a Google Workspace account: set googleWorkspaceCustomerId"
                " and preProvisioningToken.",
                reason="WORKSPACE_CUSTOMER_REQUIRED",
            )
        if request.get("preProvisioningToken"):
            raise InvalidArgument(
                "preProvisioningToken can only be set for ChromeOS devices.", reason="INVALID_ARGUMENT"
            )
        customer_id = int64(request["customerId"], "customer_id")
        row = conn.execute(
            "SELECT partner_id FROM customers WHERE customer_id = ?", (customer_id,)
        ).fetchone()
        if row is None or row[0] not in self.visible_resellers():
            raise NotFound(f"Customer {customer_id} not found.", reason="CUSTOMER_NOT_FOUND")
        if row[0] != self.partner_id:
            raise PermissionDenied(
                f"Customer {customer_id} is a customer of vendor {row[0]}: a reseller can't claim devices"
                " for its vendors' customers.",
                reason="VENDOR_CUSTOMER",
            )
        return customer_id, None

    def _claim_item(self, conn: sqlite3.Connection, request: dict, now: float) -> int:
        """Apply one claim (sync or one item of claimAsync); every check comes before any write."""
        section = section_type(request)
        if not request.get("deviceIdentifier"):
            raise InvalidArgument("deviceIdentifier is required.", reason="INVALID_DEVICE_IDENTIFIER")
        identifier = identifiers.validate(request["deviceIdentifier"], registering=True)
        if request.get("simlockProfileId") and section != SIM_LOCK:
            raise InvalidArgument(
                "simlockProfileId can only be set with SECTION_TYPE_SIM_LOCK.",
                reason="INVALID_SECTION_TYPE",
                device_status="SINGLE_DEVICE_STATUS_INVALID_SECTION_TYPE",
            )
        chrome_os = identifier.get("deviceType") == identifiers.CHROME_OS
        owner, workspace = self._owner(conn, request, chrome_os)
        entries = ((request.get("deviceMetadata") or {}).get("entries")) or {}
        row = self._registered_device(conn, identifier)
        if row is not None:
            device_id = row[0]
            claim = conn.execute(
                "SELECT owner_company_id, workspace_customer_id, reseller_id FROM claims"
                " WHERE device_id = ? AND section_type = ?",
                (device_id, section),
            ).fetchone()
            if claim is not None and (claim[0], claim[1]) != (owner, workspace):
                raise FailedPrecondition(
                    f"Device {device_id} is already claimed by another customer in {section}: unclaim it"
                    " before claiming it for a different customer.",
                    reason="DEVICE_CLAIMED_BY_ANOTHER_CUSTOMER",
                    device_status="SINGLE_DEVICE_STATUS_SECTION_NOT_YOURS",
                )
            if claim is not None and claim[2] != self.partner_id:
                raise FailedPrecondition(
                    f"Device {device_id} is already claimed in {section} by another reseller.",
                    reason="DEVICE_CLAIMED_BY_ANOTHER_RESELLER",
                    device_status="SINGLE_DEVICE_STATUS_SECTION_NOT_YOURS",
                )
            self._complete_identifier(conn, row, identifier)
        else:
            claim = None
            device_id = self._insert_device(conn, identifier)
        if claim is None:
            self._add_claim(conn, device_id, section, owner, workspace, self.partner_id)
        if entries:
            self._merge_metadata(conn, device_id, entries)
        return device_id

    def _complete_identifier(self, conn: sqlite3.Connection, row, identifier: dict) -> None:
        """Fill identifier fields a device was registered without (e.g. a model given later)."""
        updates = {
            column: identifier[field]
            for field, column, stored in zip(IDENTIFIER_FIELDS, IDENTIFIER_COLUMNS, row[1:10], strict=True)
            if stored is None and field in identifier
        }
        if updates:
            assignments = ", ".join(f"{column} = ?" for column in updates)
            conn.execute(
                f"UPDATE devices SET {assignments} WHERE device_id = ?",  # noqa: S608 - constant columns
                (*updates.values(), row[0]),
            )
            self._refresh_document(conn, row[0])

    def _insert_device(self, conn: sqlite3.Connection, identifier: dict) -> int:
        device_id = next_id(conn, "devices", "device_id", 100_000_000_000)
        values = tuple(identifier.get(field) for field in IDENTIFIER_FIELDS)
        conn.execute(
            f"INSERT INTO devices (device_id, {', '.join(IDENTIFIER_COLUMNS)}, doc)"  # noqa: S608
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (device_id, *values, device_document(values, None)),
        )
        return device_id

    def _refresh_document(self, conn: sqlite3.Connection, device_id: int) -> None:
        row = conn.execute(
            f"SELECT {DEVICE_COLUMNS} FROM devices d WHERE d.device_id = ?",  # noqa: S608
            (device_id,),
        ).fetchone()
        conn.execute(
            "UPDATE devices SET doc = ? WHERE device_id = ?", (device_document(row[1:10], row[10]), device_id)
        )

    def _merge_metadata(self, conn: sqlite3.Connection, device_id: int, entries: dict) -> dict:
        """Merge entries into a device's metadata (an empty value deletes its key); the result."""
        stored = conn.execute("SELECT metadata FROM devices WHERE device_id = ?", (device_id,)).fetchone()[0]
        merged = json.loads(stored) if stored else {}
        for key, value in entries.items():
            if value == "":
                merged.pop(key, None)
            else:
                merged[key] = value
        conn.execute(
            "UPDATE devices SET metadata = ? WHERE device_id = ?",
            (metadata_text(merged), device_id),
        )
        self._refresh_document(conn, device_id)
        return merged

    def claim(self, partner_id: str, body: dict) -> dict:
        """partners.devices.claim: claim one device's section for a customer.

        A device not yet known is registered from its identifier (which must pass the identifier
        rules). Claiming a section already claimed for the same customer by this reseller succeeds
        again and changes nothing but the metadata sent. A section claimed for another customer (or
        by another reseller) is refused with 400 FAILED_PRECONDITION (ErrorInfo reason
        ``DEVICE_CLAIMED_BY_ANOTHER_CUSTOMER`` / ``..._RESELLER``): unclaim first. A vendor's customer
        is 403 PERMISSION_DENIED; an unknown customer 404 NOT_FOUND.
        """
        self._check_partner(partner_id)
        with self.store.write() as conn:
            device_id = self._claim_item(conn, body, self.clock())
        return {"deviceId": str(device_id), "deviceName": f"partners/{self.partner_id}/devices/{device_id}"}

    def _unclaim_item(self, conn: sqlite3.Connection, request: dict, now: float) -> int:
        section = section_type(request)
        days = request.get("vacationModeDays")
        expire = request.get("vacationModeExpireTime")
        if days is not None and expire is not None:
            raise InvalidArgument("Set vacationModeDays or vacationModeExpireTime, not both.")
        vacation_until = None
        if days is not None:
            if int(days) <= 0:
                raise InvalidArgument("vacationModeDays must be positive.", reason="INVALID_VACATION_MODE")
            vacation_until = now + int(days) * 86400
        elif expire is not None:
            try:
                vacation_until = parse_time(expire)
            except ValueError:
                raise InvalidArgument(f"Invalid vacationModeExpireTime '{expire}'.") from None
            if vacation_until <= now:
                raise InvalidArgument(
                    "vacationModeExpireTime must be in the future.", reason="INVALID_VACATION_MODE"
                )
        row = self._resolve_device(conn, request)
        device_id = row[0]
        claim = conn.execute(
            "SELECT reseller_id FROM claims WHERE device_id = ? AND section_type = ?", (device_id, section)
        ).fetchone()
        if claim is None:
            raise FailedPrecondition(
                f"Device {device_id} is not claimed in {section}.", reason="DEVICE_NOT_CLAIMED"
            )
        if claim[0] not in self.visible_resellers():
            raise PermissionDenied(
                f"Device {device_id} is claimed in {section} by another reseller.",
                reason="SECTION_NOT_YOURS",
                device_status="SINGLE_DEVICE_STATUS_SECTION_NOT_YOURS",
            )
        if vacation_until is None:
            conn.execute("DELETE FROM claims WHERE device_id = ? AND section_type = ?", (device_id, section))
        else:
            conn.execute(
                "UPDATE claims SET vacation_start = ?, vacation_expire = ?"
                " WHERE device_id = ? AND section_type = ?",
                (format_time(now), format_time(vacation_until), device_id, section),
            )
        self._refresh_claims(conn, device_id)
        return device_id

    def unclaim(self, partner_id: str, body: dict) -> dict:
        """partners.devices.unclaim: remove a device's claim in one section, by ``deviceId`` or by
        ``deviceIdentifier`` (one of the two). Vendors' claims may be unclaimed too.

        With ``vacationModeDays`` or ``vacationModeExpireTime`` the claim is kept and put in vacation
        mode until that time (the claim then shows ``vacationModeStartTime``/``ExpireTime``).
        Unknown device: 404; no claim in that section: 400 FAILED_PRECONDITION; another reseller's
        claim: 403.
        """
        self._check_partner(partner_id)
        with self.store.write() as conn:
            self._unclaim_item(conn, body, self.clock())
        return {}

    def _metadata_item(self, conn: sqlite3.Connection, request: dict, now: float) -> int:
        return self._set_metadata(conn, request)[0]

    def _set_metadata(self, conn: sqlite3.Connection, request: dict) -> tuple[int, dict]:
        if "deviceMetadata" not in request:
            raise InvalidArgument("deviceMetadata is required.", reason="METADATA_REQUIRED")
        row = self._resolve_device(conn, request)
        device_id = row[0]
        mine = conn.execute(
            "SELECT 1 FROM claims WHERE device_id = ? AND reseller_id = ? LIMIT 1",
            (device_id, self.partner_id),
        ).fetchone()
        if mine is None:
            raise PermissionDenied(
                f"Device {device_id} is not claimed by partner {self.partner_id}: only the reseller that"
                " claimed a device can set its metadata.",
                reason="DEVICE_NOT_CLAIMED_BY_PARTNER",
            )
        entries = (request["deviceMetadata"] or {}).get("entries") or {}
        return device_id, self._merge_metadata(conn, device_id, entries)

    def update_metadata(self, metadata_owner_id: str, device_id: str, body: dict) -> dict:
        """partners.devices.metadata: merge metadata entries into a device's metadata and return
        the result. An empty value deletes its key. Only a device this reseller claimed (any section)
        can be changed: otherwise 403; unknown device: 404.
        """
        self._check_partner(metadata_owner_id, "metadata_owner_id")
        request = {"deviceId": device_id, "deviceMetadata": body.get("deviceMetadata")}
        if body.get("deviceMetadata") is None:
            raise InvalidArgument("deviceMetadata is required.", reason="METADATA_REQUIRED")
        with self.store.write() as conn:
            _, entries = self._set_metadata(conn, request)
        return {"entries": entries} if entries else {}
