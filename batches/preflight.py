"""The pre-flight: every row of a batch checked before anything is sent.

Each row passes the same rules as the one-device forms (``devices.claims``), then is compared with
the cache: a device claimed for another customer is an error, one already claimed for this customer
is nothing to do. Rows are checked a block at a time (one cache look-up per block), so a 100,000-row
file never sits whole in memory; only the identifiers seen so far are kept, to find duplicates.
"""

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from batches.models import BatchItem, BatchJob
from batches.parsing import EXAMPLE_IMEI, ParsedRow
from customers.models import Customer
from devices.claims import claim_request, metadata_errors
from devices.identifiers import (
    IMEI_LENGTH,
    MEID_LENGTH,
    detect_identifier,
    identifier_errors,
    is_valid_imei,
    is_valid_meid,
    looks_like_scientific_notation,
    normalize_imei,
    normalize_meid,
)
from devices.models import DeviceType
from devices.selectors import CachedDevice, cached_devices_by_identifier, manufacturer_models

BLOCK = 2000
_DIGITS = re.compile(r"\d+")
_HEX = re.compile(r"[0-9A-Fa-f]+")

State = BatchItem.State


@dataclass
class Candidate:
    """A row on its way to becoming an item: what it names, and what is wrong so far."""

    row: ParsedRow
    imei: str = ""
    meid: str = ""
    serial_number: str = ""
    manufacturer: str = ""
    model: str = ""
    chrome_os: bool = False
    customer_id: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    suggestion: str = ""
    skip_reason: str = ""
    device: CachedDevice | None = None
    identifier_explained: bool = False  # reading the identifier already said what is wrong with it

    @property
    def key(self) -> tuple[str, str]:
        """What makes two rows the same device."""
        if self.imei:
            return ("imei", self.imei)
        if self.meid:
            return ("meid", self.meid)
        return ("serial", f"{self.manufacturer}\x1f{self.model}\x1f{self.serial_number}")


class Checker:
    """Checks the rows of one job; holds what the rows share (customers, known spellings, seen ids)."""

    def __init__(self, *, action: str, customer: Customer | None) -> None:
        self.action = action
        self.customer = customer
        self.customers = {c.pk: c for c in Customer.objects.select_related("vendor")}
        pairs = manufacturer_models()
        self.manufacturers = {make.lower(): make for make, _ in pairs if make}
        self.models = {model.lower(): model for _, model in pairs if model}
        self.seen: dict[tuple[str, str], int] = {}

    # --- the identifier a row names ---------------------------------------------------------------

    def read_identifier(self, candidate: Candidate) -> None:
        fields = candidate.row.fields
        # The parser hands over values without surrounding spaces.
        candidate.manufacturer = fields.get("manufacturer", "")
        candidate.model = fields.get("model", "")
        candidate.chrome_os = fields.get("device_type", "") == "chrome_os"
        imei, meid = fields.get("imei", ""), fields.get("meid", "")
        serial = fields.get("serial_number", "")
        if not (imei or meid or serial) and fields.get("identifier"):
            imei, meid, serial = self._classify(candidate, fields["identifier"])
        if imei:
            candidate.imei = self._imei(candidate, imei)
        if meid:
            candidate.meid = self._meid(candidate, meid)
        candidate.serial_number = serial

    def _classify(self, candidate: Candidate, value: str) -> tuple[str, str, str]:
        """(imei, meid, serial) for a value of an identifier column, by its shape."""
        compact = normalize_imei(value)
        if looks_like_scientific_notation(value) or (
            _DIGITS.fullmatch(compact) and len(compact) != MEID_LENGTH
        ):
            return value, "", ""
        if len(compact) == MEID_LENGTH and _HEX.fullmatch(compact):
            if _DIGITS.fullmatch(compact) and is_valid_imei("0" + compact):
                return value, "", ""  # more likely an IMEI that lost its leading zero: said below
            return "", compact, ""
        return "", "", detect_identifier(value).value

    def _imei(self, candidate: Candidate, value: str) -> str:
        if looks_like_scientific_notation(value):
            candidate.identifier_explained = True
            candidate.errors.append(
                f"{value} is an IMEI a spreadsheet turned into a number in scientific notation: its last "
                "digits are lost. Format the column as text and copy the IMEIs again."
            )
            return value
        imei = normalize_imei(value)
        if _DIGITS.fullmatch(imei or "x") and len(imei) == IMEI_LENGTH - 1 and is_valid_imei("0" + imei):
            candidate.suggestion = "0" + imei
            candidate.identifier_explained = True
            candidate.errors.append(
                f"{imei} has 14 digits: it looks like an IMEI whose leading zero a spreadsheet dropped "
                f"(0{imei}). Format the column as text and copy it again."
            )
        return imei

    def _meid(self, candidate: Candidate, value: str) -> str:
        meid = normalize_meid(value)
        if len(meid) == MEID_LENGTH - 1 and is_valid_meid("0" + meid):
            candidate.suggestion = "0" + meid
            candidate.identifier_explained = True
            candidate.errors.append(
                f"{meid} has 13 characters: it looks like a MEID whose leading zero a spreadsheet "
                f"dropped (0{meid})."
            )
        return meid

    # --- the rules -------------------------------------------------------------------------------

    def check_rules(self, candidate: Candidate) -> None:
        """The row's own rules, before the cache is asked."""
        fields = candidate.row.fields
        candidate.errors.extend(candidate.row.errors)
        candidate.metadata = {
            key: fields[key] for key in ("ordernumber", "phonenumber") if fields.get(key)
        }
        if candidate.imei == EXAMPLE_IMEI:
            candidate.errors.append("This is the template's example row: delete it and list your devices.")
        profile = fields.get("profiletype", "").upper().replace("-", "_").replace(" ", "_")
        if profile and profile not in ("ZERO_TOUCH", "SECTION_TYPE_ZERO_TOUCH"):
            candidate.errors.append(f"Profile type {fields['profiletype']!r}: only ZERO_TOUCH is handled.")
        self._spelling(candidate)
        if self.action == BatchJob.Action.CLAIM:
            self._claim_rules(candidate)
        else:
            self._device_rules(candidate)
        if not candidate.errors:
            first = self.seen.setdefault(candidate.key, candidate.row.number)
            if first != candidate.row.number:
                candidate.errors.append(f"The same device as row {first}: each device once per file.")

    def _spelling(self, candidate: Candidate) -> None:
        """Manufacturer and model must be spelt as the device reports them (Build.MANUFACTURER,
        Build.MODEL), which is case-sensitive at Google; the cache knows the spellings in use."""
        for name, known in (("manufacturer", self.manufacturers), ("model", self.models)):
            given = getattr(candidate, name)
            expected = known.get(given.lower())
            if given and expected and expected != given:
                candidate.errors.append(
                    f"{name.title()} {given!r} is spelt {expected!r} by the device (case matters)."
                )
                candidate.suggestion = candidate.suggestion or expected

    def _customer(self, candidate: Candidate) -> tuple[Customer | None, bool]:
        owner = candidate.row.fields.get("customer_id", "")
        if not owner:
            return self.customer, self.customer is not None
        if not (owner.isascii() and owner.isdigit() and len(owner) <= 19):
            candidate.errors.append(f"Customer id {owner!r} is not a number.")
            return None, True
        return self.customers.get(int(owner)), True

    def _claim_rules(self, candidate: Candidate) -> None:
        customer, given = self._customer(candidate)
        if candidate.chrome_os:
            candidate.errors.append(
                "ChromeOS devices are claimed with their pre-provisioning token: claim them one at a time "
                "on the claim page."
            )
            return
        request, errors = claim_request(
            customer=customer,
            customer_given=given,
            imei=candidate.imei,
            meid=candidate.meid,
            serial_number=candidate.serial_number,
            manufacturer=candidate.manufacturer,
            model=candidate.model,
            metadata=candidate.metadata,
        )
        if request is None:
            candidate.errors.extend(self._new(candidate, errors))
            if customer is not None:
                candidate.customer_id = customer.pk
            return
        candidate.customer_id = request.customer_id

    @staticmethod
    def _new(candidate: Candidate, errors: dict[str, str]) -> list[str]:
        """The rules' messages not said yet (an identifier already explained is not explained twice)."""
        skip = {"imei", "meid"} if candidate.identifier_explained else set()
        return [
            message
            for field, message in errors.items()
            if field not in skip and message not in candidate.errors
        ]

    def _device_rules(self, candidate: Candidate) -> None:
        errors = identifier_errors(
            imei=candidate.imei,
            meid=candidate.meid,
            serial_number=candidate.serial_number,
            manufacturer=candidate.manufacturer,
            model=candidate.model,
        )
        candidate.errors.extend(self._new(candidate, errors))
        if self.action == BatchJob.Action.METADATA:
            if not candidate.metadata:
                candidate.errors.append("Give an order number or a phone number to set.")
            candidate.errors.extend(metadata_errors(candidate.metadata).values())

    # --- against the cache -------------------------------------------------------------------------

    def check_cache(self, candidate: Candidate) -> None:
        device = candidate.device
        if candidate.errors:
            return
        if device is not None and self.action != BatchJob.Action.CLAIM:
            candidate.customer_id = device.owner_id  # whose device it is, for the history
        if device is not None and device.device_type == DeviceType.CHROME_OS and candidate.metadata:
            candidate.errors.append(
                "This is a ChromeOS device: order and phone numbers are for Android devices."
            )
            return
        if self.action == BatchJob.Action.CLAIM:
            if device is None or device.owner_id is None:
                return
            if device.owner_id != candidate.customer_id:
                other = self.customers.get(device.owner_id)
                name = f"{other.name} (id {other.pk})" if other else f"customer id {device.owner_id}"
                candidate.errors.append(f"Claimed by another customer, {name}: unclaim it there first.")
            elif all(device.metadata.get(k) == v for k, v in candidate.metadata.items()):
                candidate.skip_reason = "Already claimed for this customer: nothing to do."
        elif self.action == BatchJob.Action.UNCLAIM:
            if device is not None and device.owner_id is None:
                candidate.skip_reason = "Not claimed: nothing to unclaim."
        elif self.action == BatchJob.Action.METADATA:
            if device is not None and device.owner_id is None:
                candidate.errors.append(
                    "Not claimed: zero-touch keeps metadata only on devices the reseller claimed."
                )
            elif device is not None and all(
                device.metadata.get(k) == v for k, v in candidate.metadata.items()
            ):
                candidate.skip_reason = "The device has these values already: nothing to do."


def _look_up(candidates: list[Candidate]) -> None:
    """Attach the cached device each candidate names (one query per kind and thousand values)."""
    for kind, attribute in (("imei", "imei"), ("meid", "meid"), ("serial", "serial_number")):
        wanted = [c for c in candidates if not c.errors and getattr(c, attribute) and c.device is None]
        if kind == "serial":
            wanted = [c for c in wanted if not (c.imei or c.meid)]
        if not wanted:
            continue
        found = cached_devices_by_identifier(kind, {getattr(c, attribute) for c in wanted})
        for candidate in wanted:
            matches = found.get(getattr(candidate, attribute), [])
            if kind == "serial":
                matches = [
                    m
                    for m in matches
                    if m.manufacturer == candidate.manufacturer and m.model == candidate.model
                ]
            candidate.device = matches[0] if matches else None


def _item_row(job_id: int, candidate: Candidate) -> dict[str, Any]:
    if candidate.errors:
        state, message = State.INVALID, " ".join(candidate.errors)
    elif candidate.skip_reason:
        state, message = State.SKIPPED, candidate.skip_reason
    else:
        state, message = State.PENDING, ""
    return {
        "job_id": job_id,
        "row_number": candidate.row.number,
        "state": state,
        "chunk_id": None,
        "imei": candidate.imei[:32],
        "meid": candidate.meid[:32],
        "serial_number": candidate.serial_number[:128],
        "manufacturer": candidate.manufacturer[:128],
        "model": candidate.model[:128],
        "customer_id": candidate.customer_id,
        "metadata": candidate.metadata,
        "device_id": candidate.device.device_id if candidate.device else None,
        "failure_kind": "",
        "status": "",
        "message": message,
        "suggestion": candidate.suggestion[:128],
        "raw": candidate.row.raw,
    }


def checked_items(
    rows: Iterable[ParsedRow], *, job_id: int, action: str, customer: Customer | None
) -> Iterator[list[dict[str, Any]]]:
    """The job's items as rows for ``BatchItem``, a block at a time, every row checked."""
    checker = Checker(action=action, customer=customer)
    block: list[Candidate] = []

    def finish(block: list[Candidate]) -> list[dict[str, Any]]:
        _look_up(block)
        for candidate in block:
            checker.check_cache(candidate)
        return [_item_row(job_id, candidate) for candidate in block]

    for row in rows:
        candidate = Candidate(row=row)
        checker.read_identifier(candidate)
        checker.check_rules(candidate)
        block.append(candidate)
        if len(block) >= BLOCK:
            yield finish(block)
            block = []
    if block:
        yield finish(block)
