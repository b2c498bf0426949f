"""The pre-flight: every row of a batch checked before anything is sent.

Each row passes the same rules as the one-device forms (``devices.claims``), then is compared with
the cache: a device claimed for another customer is an error, one already claimed for this customer
is nothing to do. A move passes a claim's rules for the customer it goes to and an unclaim's for the
one it leaves, whom the cache must know: that customer is kept with the row (to record the move, and
to claim the device back should the move stop half-way). Rows are checked a block at a time (one
cache look-up per block), so a 100,000-row file never sits whole in memory; only the identifiers seen
so far are kept, to find duplicates.

A claim or an unclaim acts on the section its row names (``sectiontype``, or Google's ``profiletype``;
zero-touch when neither is given) and is compared with the device's claim in that section: the
cache's columns are its zero-touch claim, and a SIM-lock claim is read from the claims the cache keeps
as the API sent them (``devices.sections.section_owners``), for the block's SIM-lock rows only. A
claim in SIM lock names the reseller's SIM-lock profile (``simlockprofileid``), checked by the claim
form's rule. Metadata belongs to the device, not to a claim, so a metadata job reads neither column;
a move is zero-touch's alone.

A hundred thousand rows must be checked in a few seconds, so the loop does little per row: rows
become small slotted objects rather than dataclasses, the rules are called without building a claim
request per row, the cache is asked for the few columns the verdict needs, and items come out as
tuples ready for ``COPY`` (JSON already encoded) rather than dictionaries.
"""

import gc
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

import orjson
from django.conf import settings

from batches.models import BatchItem, BatchJob
from batches.parsing import EXAMPLE_IMEI, FileRefused, ParsedRow
from customers.models import Customer
from devices.claims import (
    claim_errors,
    metadata_errors,
    simlock_profile_error,
    simlock_profile_id_normalized,
)
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
from devices.lookups import METADATA_KEYS, CachedDevice, cached_devices
from devices.models import DeviceType, SectionType
from devices.sections import section_owners
from devices.selectors import manufacturer_models

BLOCK = 5000
_DIGITS = re.compile(r"\d+")
_HEX = re.compile(r"[0-9A-Fa-f]+")

State = BatchItem.State

_SECTION_NOISE = re.compile(r"[\s_\-]+")
_SECTIONS = {"ZEROTOUCH": SectionType.ZERO_TOUCH, "SIMLOCK": SectionType.SIM_LOCK}


def section_of(value: str) -> str | None:
    """The section a cell names, as the API spells it: ZERO_TOUCH or SIM_LOCK, with or without the
    API's ``SECTION_TYPE_`` prefix, in any case, with spaces or hyphens for the underscores ("sim
    lock", "Zero-touch"). None: it names neither."""
    return _SECTIONS.get(_SECTION_NOISE.sub("", value.upper()).removeprefix("SECTIONTYPE"))


# An item as ``checked_items`` gives it: BatchItem's columns in this order, JSON as text.
class ItemRow(NamedTuple):
    """One BatchItem as the pre-flight writes it: its columns by name, in the order the one bulk
    writer (``core.db.rows_writer``) sends them; JSON columns already encoded."""

    job_id: int
    row_number: int
    state: str
    imei: str
    meid: str
    serial_number: str
    manufacturer: str
    model: str
    customer_id: int | None
    from_customer_id: int | None
    metadata: str
    section_type: str
    simlock_profile_id: str
    device_id: int | None
    failure_kind: str
    status: str
    message: str
    suggestion: str
    raw: str


ITEM_COLUMNS = ItemRow._fields


class Candidate:
    """A row on its way to becoming an item: what it names, and what is wrong so far."""

    __slots__ = (
        "chrome_os",
        "customer_id",
        "device",
        "errors",
        "expected_owner",  # unclaims, moves and metadata: whose device it must be (None: anyone's)
        "from_customer_id",  # moves: who holds the device now, as the cache says
        "identifier_explained",  # reading the identifier already said what is wrong with it
        "imei",
        "manufacturer",
        "meid",
        "metadata",
        "model",
        "row",
        "section_holder",  # SIM-lock rows: who holds the device's SIM-lock claim, as the cache says
        "section_type",
        "serial_number",
        "sim_lock",  # the row acts in SIM lock (a plain flag: read for every row)
        "simlock_profile_id",
        "skip_reason",
        "suggestion",
    )

    def __init__(self, row: ParsedRow) -> None:
        self.row = row
        self.imei = self.meid = self.serial_number = self.manufacturer = self.model = ""
        self.suggestion = self.skip_reason = ""
        self.chrome_os = self.identifier_explained = False
        self.customer_id: int | None = None
        self.expected_owner: int | None = None
        self.from_customer_id: int | None = None
        self.metadata: dict[str, str] = {}
        self.errors: list[str] = []
        self.device: CachedDevice | None = None
        self.section_type = SectionType.ZERO_TOUCH
        self.sim_lock = False
        self.simlock_profile_id = ""
        self.section_holder: int | None = None

    @property
    def holder(self) -> int | None:
        """Who holds the device's claim in the row's section, as the cache says (None: nobody, or
        the cache does not hold the device)."""
        if self.sim_lock:
            return self.section_holder
        return self.device.owner_id if self.device is not None else None

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

    def __init__(
        self,
        *,
        action: str,
        customer: Customer | None,
        any_owner: bool = False,
        from_customer: Customer | None = None,
    ) -> None:
        self.action = action
        self.claim = action == BatchJob.Action.CLAIM
        self.move = action == BatchJob.Action.MOVE
        self.customer = customer
        self.from_customer = from_customer if self.move else None
        self.any_owner = any_owner and action == BatchJob.Action.UNCLAIM
        # Metadata belongs to the device, whatever claims it has: a metadata job reads no section.
        self.reads_section = action != BatchJob.Action.METADATA
        self.customers = {c.pk: c for c in Customer.objects.select_related("vendor")}
        self.customers_by_text = {str(pk): customer for pk, customer in self.customers.items()}
        pairs = manufacturer_models()
        self.manufacturers = {make.lower(): make for make, _ in pairs if make}
        self.models = {model.lower(): model for _, model in pairs if model}
        self.seen: dict[tuple[str, str], int] = {}
        self.sim_lock_rows: set[int] = set()  # the row numbers of SIM-lock rows, for duplicates' words

    def check(self, row: ParsedRow) -> Candidate:
        """The row read and checked against the rules (the cache comes later, a block at a time)."""
        candidate = Candidate(row)
        self.read_identifier(candidate)
        self.check_rules(candidate)
        return candidate

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
            imei, meid, serial = self._classify(fields["identifier"])
        if imei:
            # Digits alone, the usual row, need no reading; a 14-digit IMEI may have lost its zero.
            if imei.isdigit() and len(imei) != IMEI_LENGTH - 1:
                candidate.imei = imei
            else:
                candidate.imei = self._imei(candidate, imei)
        if meid:
            candidate.meid = self._meid(candidate, meid)
        candidate.serial_number = serial

    @staticmethod
    def _classify(value: str) -> tuple[str, str, str]:
        """(imei, meid, serial) for a value of an identifier column, by its shape."""
        if is_valid_imei(value):
            return value, "", ""
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

    @staticmethod
    def _imei(candidate: Candidate, value: str) -> str:
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

    @staticmethod
    def _meid(candidate: Candidate, value: str) -> str:
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
        row = candidate.row
        fields = row.fields
        errors = candidate.errors
        if row.errors:
            errors.extend(row.errors)
        candidate.metadata = {key: fields[key] for key in METADATA_KEYS if fields.get(key)}
        if candidate.imei == EXAMPLE_IMEI:
            errors.append("This is the template's example row: delete it and list your devices.")
        if self.reads_section and (
            "section_type" in fields or "profiletype" in fields or "simlock_profile_id" in fields
        ):
            self._section_rules(candidate)
        if candidate.manufacturer or candidate.model:
            self._spelling(candidate)
        if self.claim:
            self._claim_rules(candidate)
        elif self.move:
            self._move_rules(candidate)
        else:
            self._device_rules(candidate)
        if not errors:
            first = self.seen.setdefault(candidate.key, row.number)
            if first != row.number:
                if (first in self.sim_lock_rows) != candidate.sim_lock:
                    errors.append(
                        f"The same device as row {first}, in the other section: each device once per "
                        "file; send its claim in the other section in a file of its own."
                    )
                else:
                    errors.append(f"The same device as row {first}: each device once per file.")
            elif candidate.sim_lock:
                self.sim_lock_rows.add(row.number)

    def _section_rules(self, candidate: Candidate) -> None:
        """The section the row acts on, and its SIM-lock profile id. A section is written ZERO_TOUCH or
        SIM_LOCK (``section_of``); ``sectiontype`` and Google's ``profiletype`` may both be given if
        they agree. The profile id is a claim's in SIM lock; with a zero-touch row it is refused (the
        claim form's words), since the section was likely what went wrong; an unclaim in SIM lock
        does not read it (the claim's file, given again to unclaim, is fine)."""
        fields, errors = candidate.row.fields, candidate.errors
        named = set()
        for column, label in (("section_type", "Section type"), ("profiletype", "Profile type")):
            if given := fields.get(column, ""):
                section = section_of(given)
                if section is None:
                    errors.append(
                        f"{label} {given[:40]!r} is not a section: write ZERO_TOUCH or SIM_LOCK (or leave "
                        "it empty for zero-touch)."
                    )
                    return
                named.add(section)
        if len(named) > 1:
            errors.append("The section type and the profile type name different sections: keep one.")
            return
        section = named.pop() if named else SectionType.ZERO_TOUCH
        profile = simlock_profile_id_normalized(fields.get("simlock_profile_id", ""))
        candidate.section_type = section
        candidate.sim_lock = section == SectionType.SIM_LOCK
        if self.claim:
            candidate.simlock_profile_id = profile  # checked with the claim's other rules
        elif section == SectionType.SIM_LOCK and self.move:
            errors.append(
                "A move is for zero-touch claims only: change a SIM lock with a claim or an unclaim batch."
            )
        elif section == SectionType.ZERO_TOUCH and (problem := simlock_profile_error(section, profile)):
            errors.append(problem)

    def _spelling(self, candidate: Candidate) -> None:
        """Manufacturer and model must be spelt as the device reports them (Build.MANUFACTURER,
        Build.MODEL), which is case-sensitive at Google; the cache knows the spellings in use."""
        for name, given, known in (
            ("manufacturer", candidate.manufacturer, self.manufacturers),
            ("model", candidate.model, self.models),
        ):
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
        if customer := self.customers_by_text.get(owner):  # a known id as written, the usual row
            return customer, True
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
        # The identifiers are normalised already (read_identifier), as the rules expect.
        errors = claim_errors(
            customer=customer,
            customer_given=given,
            imei=candidate.imei,
            meid=candidate.meid,
            serial_number=candidate.serial_number,
            manufacturer=candidate.manufacturer,
            model=candidate.model,
            # A move's claim is zero-touch's (``_section_rules`` refused any other).
            section_type=candidate.section_type if self.claim else SectionType.ZERO_TOUCH,
            simlock_profile_id=candidate.simlock_profile_id,
            metadata=candidate.metadata,
        )
        if errors:
            candidate.errors.extend(self._new(candidate, errors))
        if customer is not None:
            candidate.customer_id = customer.company_id

    @staticmethod
    def _new(candidate: Candidate, errors: dict[str, str]) -> list[str]:
        """The rules' messages not said yet (an identifier already explained is not explained twice)."""
        skip = {"imei", "meid"} if candidate.identifier_explained else set()
        return [
            message
            for field, message in errors.items()
            if field not in skip and message not in candidate.errors
        ]

    def _move_rules(self, candidate: Candidate) -> None:
        """A move ends in a claim: the row names its device and the customer it goes to as a claim's
        row does. The customer it leaves is the job's "from" customer when one was chosen (a device
        anyone else holds is refused, as an unclaim refuses it), else whoever the cache shows."""
        self._claim_rules(candidate)
        if self.from_customer is not None:
            candidate.expected_owner = self.from_customer.company_id

    def _device_rules(self, candidate: Candidate) -> None:
        self._expected_owner(candidate)
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

    def _expected_owner(self, candidate: Candidate) -> None:
        """Whose devices an unclaim (or a metadata change) may touch: the row's customer, else the one
        chosen for the job. An unclaim names one unless the person chose "whichever customer holds
        each device"; a metadata change without a customer may touch any of the reseller's devices."""
        if self.any_owner:
            return
        customer, given = self._customer(candidate)
        if customer is not None:
            candidate.expected_owner = customer.company_id
        elif given:
            if not candidate.errors:
                candidate.errors.append("This customer is not known to the portal; pick one from the list.")
        elif self.action == BatchJob.Action.UNCLAIM:
            candidate.errors.append(
                "Choose the customer these devices are unclaimed from, or choose to unclaim each device "
                "from whichever customer holds it."
            )

    def _owner_name(self, company_id: int) -> str:
        customer = self.customers.get(company_id)
        return customer.name if customer is not None else f"customer id {company_id}"

    def _held_by_another(self, candidate: Candidate) -> bool:
        """Refuse a device that the cache shows held by another customer than the one named (in the
        row's section)."""
        device, expected, holder = candidate.device, candidate.expected_owner, candidate.holder
        if expected is None:
            return False
        if device is None:
            if self.action == BatchJob.Action.UNCLAIM:
                candidate.errors.append(
                    f"The portal's cache holds no such device of {self._owner_name(expected)}, so it cannot "
                    "tell whose it is: find it on the Devices page (Look up in zero-touch) and try again."
                )
                return True
            return False
        if holder is not None and holder != expected:
            claimed = "Its SIM lock is claimed" if candidate.sim_lock else "Claimed"
            holder_name, expected_name = self._owner_name(holder), self._owner_name(expected)
            candidate.errors.append(f"{claimed} by {holder_name}, not by {expected_name}: left as it is.")
            return True
        return False

    # --- against the cache -------------------------------------------------------------------------

    def check_cache(self, candidate: Candidate) -> None:
        device = candidate.device
        if candidate.errors:
            return
        if self.move:
            self._move_check(candidate)
            return
        holder = candidate.holder  # of the claim in the row's section
        if device is not None and not self.claim:
            candidate.customer_id = holder  # whose device it is, for the history
        if device is not None and device.device_type == DeviceType.CHROME_OS and candidate.metadata:
            candidate.errors.append(
                "This is a ChromeOS device: order and phone numbers are for Android devices."
            )
            return
        if self.claim:
            if device is None or holder is None:
                return
            if holder != candidate.customer_id:
                other = self.customers.get(holder)
                name = f"{other.name} (id {other.pk})" if other else f"customer id {holder}"
                if candidate.sim_lock:
                    candidate.errors.append(
                        f"Its SIM lock is claimed by another customer, {name}: unclaim the SIM lock there "
                        "first."
                    )
                else:
                    candidate.errors.append(f"Claimed by another customer, {name}: unclaim it there first.")
            elif all(device.metadata.get(k) == v for k, v in candidate.metadata.items()):
                candidate.skip_reason = (
                    "Already claimed in SIM lock for this customer: nothing to do."
                    if candidate.sim_lock
                    else "Already claimed for this customer: nothing to do."
                )
        elif self._held_by_another(candidate):
            return
        elif self.action == BatchJob.Action.UNCLAIM:
            if device is not None and holder is None:
                candidate.skip_reason = (
                    "No SIM-lock claim: nothing to unclaim."
                    if candidate.sim_lock
                    else "Not claimed: nothing to unclaim."
                )
        elif self.action == BatchJob.Action.METADATA:
            if device is not None and device.owner_id is None:
                candidate.errors.append("Not claimed: zero-touch keeps metadata only on devices we claimed.")
            elif device is not None and all(
                device.metadata.get(k) == v for k, v in candidate.metadata.items()
            ):
                candidate.skip_reason = "The device has these values already: nothing to do."

    def _move_check(self, candidate: Candidate) -> None:
        """A move against the cache: the device must be known and claimed (its customer is where it
        moves from, and where it goes back to should its claim fail), by the "from" customer when
        one was chosen, and not for the customer it goes to already."""
        device = candidate.device
        if device is None:
            candidate.errors.append(
                "The portal's cache holds no such device, so it cannot tell whose it is to move it: find "
                "it on the Devices page (Look up in zero-touch) and try again."
            )
        elif device.device_type == DeviceType.CHROME_OS:
            candidate.errors.append(
                "This is a ChromeOS device: its claim needs a pre-provisioning token, which a batch "
                "cannot give. Unclaim it and claim it again on its page."
            )
        elif device.owner_id is None:
            candidate.errors.append("Not claimed: there is nothing to move it from. Use a claim instead.")
        elif self._held_by_another(candidate):
            return
        elif device.owner_id == candidate.customer_id:
            candidate.skip_reason = (
                f"Already claimed for {self._owner_name(device.owner_id)}: nothing to move."
            )
        else:
            candidate.from_customer_id = device.owner_id


# --- The cache ---------------------------------------------------------------------------------------


def _look_up(candidates: list[Candidate]) -> None:
    """Attach the cached device each candidate names (one query per kind and few thousand values):
    by IMEI, else by MEID, else by serial number with its manufacturer and model."""
    for kind in ("imei", "meid"):
        wanted = [c for c in candidates if not c.errors and getattr(c, kind) and c.device is None]
        if wanted:
            found = cached_devices(kind, {getattr(c, kind) for c in wanted})
            for candidate in wanted:
                matches = found.get(getattr(candidate, kind))
                candidate.device = matches[0] if matches else None
    wanted = [c for c in candidates if not c.errors and c.serial_number and not (c.imei or c.meid)]
    if wanted:
        found = cached_devices("serial", {c.serial_number for c in wanted})
        for candidate in wanted:
            matches = [
                m
                for m in found.get(candidate.serial_number, ())
                if m.manufacturer == candidate.manufacturer and m.model == candidate.model
            ]
            candidate.device = matches[0] if matches else None
    _look_up_sim_locks(candidates)


def _look_up_sim_locks(candidates: list[Candidate]) -> None:
    """Attach, to each SIM-lock row whose device the cache holds, who holds its SIM-lock claim (one
    query for the block, none when it has no such row)."""
    wanted = [c for c in candidates if c.sim_lock and c.device is not None]
    if wanted:
        holders = section_owners({c.device.device_id for c in wanted}, SectionType.SIM_LOCK)
        for candidate in wanted:
            candidate.section_holder = holders.get(candidate.device.device_id)


# --- Items -------------------------------------------------------------------------------------------


def _json(value: dict) -> str:
    return orjson.dumps(value).decode() if value else "{}"


RAW_MAX_BYTES = 4096  # of JSON text: the stored copy of one row as it was given
RAW_CUT = "(cut)"  # the mark on a copy that was cut, with what was left out
_RAW_CUT_ROOM = 120  # bytes kept for the braces and the mark


def _raw_json(raw: dict[str, str]) -> str:
    """The row's cells as given, as JSON text of at most ``RAW_MAX_BYTES``.

    A longer row keeps its first cells (the last of them cut to fit) and a mark saying how many
    were not kept whole. The copy only goes back out in the results file (the fields a job needs
    have columns of their own); uncapped, rows of long cells under long header names would store
    far more than the file weighed.
    """
    text = orjson.dumps(raw) if raw else b"{}"
    if len(text) <= RAW_MAX_BYTES:
        return text.decode()
    kept: dict[str, str] = {}
    room = RAW_MAX_BYTES - _RAW_CUT_ROOM
    whole = 0
    for name, value in raw.items():
        key = len(orjson.dumps(name)) + 2  # the name, its colon and a comma
        size = key + len(orjson.dumps(value))
        if size > room:
            cut = value[: max(room - key - 2, 0)]  # a character is a byte at least, plus two quotes
            while cut and (excess := key + len(orjson.dumps(cut)) - room) > 0:
                cut = cut[: max(len(cut) - excess, 0)]
            if cut:
                kept[name] = cut
            break
        kept[name] = value
        whole += 1
        room -= size
    kept[RAW_CUT] = (
        f"{len(raw) - whole:,} of {len(raw):,} cells not kept whole: the portal keeps the first "
        f"{RAW_MAX_BYTES // 1024} KB of a row"
    )
    return orjson.dumps(kept).decode()


def _item(job_id: int, candidate: Candidate) -> ItemRow:
    """The candidate as a BatchItem row."""
    if candidate.errors:
        state, message = State.INVALID, " ".join(candidate.errors)
    elif candidate.skip_reason:
        state, message = State.SKIPPED, candidate.skip_reason
    else:
        state, message = State.PENDING, ""
    device = candidate.device
    return ItemRow(
        job_id,
        candidate.row.number,
        state,
        candidate.imei[:32],
        candidate.meid[:32],
        candidate.serial_number[:128],
        candidate.manufacturer[:128],
        candidate.model[:128],
        candidate.customer_id,
        candidate.from_customer_id,
        _json(candidate.metadata),
        candidate.section_type,
        candidate.simlock_profile_id[:20],
        device.device_id if device is not None else None,
        "",
        "",
        message,
        candidate.suggestion[:128],
        _raw_json(candidate.row.raw),
    )


def _took_too_long(budget: float) -> FileRefused:
    return FileRefused(
        f"Checking the rows took longer than {budget:g} second{'' if budget == 1 else 's'}, so it was "
        "stopped and nothing was kept: split the devices into smaller files (or shorter lists) and "
        "try each."
    )


def checked_blocks(rows: Iterable[ParsedRow], *, checker: Checker) -> Iterator[list[Candidate]]:
    """The rows checked against the rules, a block at a time; ``items_of`` finishes each block.

    The pre-flight has ``ZT_BATCH_PREFLIGHT_SECONDS`` (reading, checking, and the caller's work
    between blocks): past it, ``FileRefused`` says so and the caller's transaction keeps nothing.
    A file within the limits takes a few seconds; the budget bounds what a hostile one holds a web
    worker for.
    """
    budget = float(getattr(settings, "ZT_BATCH_PREFLIGHT_SECONDS", 60))
    deadline = time.monotonic() + budget
    check = checker.check
    block: list[Candidate] = []
    for row in rows:
        if time.monotonic() > deadline:
            raise _took_too_long(budget)
        block.append(check(row))
        if len(block) >= BLOCK:
            yield block
            block = []
    if block:
        yield block


def items_of(checker: Checker, block: list[Candidate], *, job_id: int) -> list[tuple]:
    """A block of checked rows compared with the cache, as BatchItem rows (``ITEM_COLUMNS``)."""
    _look_up(block)
    check_cache = checker.check_cache
    for candidate in block:
        check_cache(candidate)
    return [_item(job_id, candidate) for candidate in block]


def checked_items(
    rows: Iterable[ParsedRow],
    *,
    job_id: int,
    action: str,
    customer: Customer | None,
    from_customer: Customer | None = None,
) -> Iterator[list[tuple]]:
    """The job's items as BatchItem rows (``ITEM_COLUMNS``), a block at a time, every row checked."""
    checker = Checker(action=action, customer=customer, from_customer=from_customer)
    for block in checked_blocks(rows, checker=checker):
        yield items_of(checker, block, job_id=job_id)


@contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """Python's cycle collector off for a while (as it was, after). A pre-flight makes a few objects
    per row, none in a reference cycle, and keeps a block of them alive: the collector would walk
    them, and every other object of the process, dozens of times per file (about a tenth of the
    pre-flight's CPU time, measured) and free nothing. Cycles made meanwhile are collected once it is
    back on. The switch is the whole process's: other threads go without the collector for those
    few seconds too, which delays their collection and changes nothing else."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
