"""The rules a claim must pass before it is sent, shared by the claim form and every row of a batch.

``claim_check`` checks one device and its customer and returns either a ``ClaimRequest`` (a
customer id, not a model instance, so a batch can hold thousands) or the errors by field name. The
request becomes the API's ``PartnerClaim`` for a batch and the arguments of ``devices.claim`` for
one device, in one place each. The rules themselves are ``claim_errors``, which ``claim_check``
calls and which a batch's pre-flight calls for each row (without building a request it would not
keep).
"""

import re
from dataclasses import dataclass, field
from typing import TypedDict, Unpack

import zerotouch
from customers.models import Customer
from devices.changes import Action, Intent
from devices.identifiers import identifier_errors, normalize_imei, normalize_meid
from devices.models import SectionType

# Metadata the portal offers: the keys resellers use, with the longest value it accepts. The API
# documents no limit; these keep a typo (a pasted paragraph) from becoming a customer's metadata.
METADATA_LIMITS = {"ordernumber": 128, "phonenumber": 64}
METADATA_VALUE_LIMIT = 256
METADATA_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
METADATA_LABELS = {"ordernumber": "Order number", "phonenumber": "Phone number"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PHONE = re.compile(r"\+?[0-9 ().\-\[\]/]+")


@dataclass(frozen=True)
class ClaimRequest:
    """A claim that passed the rules: what to send, for which customer id."""

    customer_id: int
    imei: str = ""
    meid: str = ""
    serial_number: str = ""
    manufacturer: str = ""
    model: str = ""
    chrome_os: bool = False
    chrome_os_attested_device_id: str = ""
    google_workspace_customer_id: str = ""
    pre_provisioning_token: str = ""
    section_type: str = SectionType.ZERO_TOUCH
    simlock_profile_id: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    def identifier(self) -> zerotouch.DeviceIdentifier:
        return zerotouch.DeviceIdentifier(
            imei=self.imei or None,
            meid=self.meid or None,
            serial_number=self.serial_number or None,
            manufacturer=self.manufacturer or None,
            model=self.model or None,
            device_type="DEVICE_TYPE_CHROME_OS" if self.chrome_os else None,
            chrome_os_attested_device_id=self.chrome_os_attested_device_id or None,
        )

    def intent(self) -> Intent:
        """This claim as the one path of a device change takes it (``devices.changes``)."""
        return Intent(
            action=Action.CLAIM,
            identifier=self.identifier(),
            customer_id=self.customer_id,
            section_type=self.section_type,
            simlock_profile_id=self.simlock_profile_id,
            metadata=dict(self.metadata),
            chrome_os=self.chrome_os,
            google_workspace_customer_id=self.google_workspace_customer_id,
            pre_provisioning_token=self.pre_provisioning_token,
        )

    @property
    def label(self) -> str:
        return self.imei or self.meid or self.serial_number


def customer_errors(customer: Customer | None, *, given: bool) -> str:
    """Why devices cannot be claimed for this customer (empty: they can)."""
    if not given:
        return "Choose a customer."
    if customer is None:
        return "This customer is not known to the portal; pick one from the list."
    if customer.vendor_id is not None:
        vendor = customer.vendor.name if customer.vendor else f"vendor {customer.vendor_id}"
        return (
            f"{customer.name} is a customer of {vendor}: only that vendor can claim devices for it "
            "in zero-touch."
        )
    return ""


def metadata_key_error(key: str) -> str:
    """What is wrong with a metadata key (empty: fine)."""
    if key not in METADATA_LIMITS and not METADATA_KEY.match(key):
        return "Keys are lower-case letters, digits and underscores, e.g. assetowner."
    return ""


def metadata_value_error(key: str, value: str) -> str:
    """What is wrong with a metadata value (empty: fine). An empty value removes its key. A phone
    number holds digits, with + spaces dashes dots and brackets as people write them."""
    limit = METADATA_LIMITS.get(key, METADATA_VALUE_LIMIT)
    if key == "phonenumber" and value and not (_PHONE.fullmatch(value) and any(c.isdigit() for c in value)):
        return (
            f"Phone number {value[:40]!r} is not a phone number: use digits, with + spaces dashes and "
            "brackets if you like (e.g. +44 20 7946 0000)."
        )
    if len(value) <= limit and value.isprintable():
        return ""  # the common case, without the search for control characters below
    label = METADATA_LABELS.get(key, f"The value of {key}")
    if len(value) > limit:
        return f"{label} can be at most {limit} characters; this is {len(value)}."
    if _CONTROL.search(value):
        return f"{label} contains a control character (a tab, line break or NUL); remove it."
    return ""


# The API's SIM-lock profile ids are int64; ids start at 1.
SIMLOCK_PROFILE_ID_MAX = 2**63 - 1


def simlock_profile_error(section_type: str, simlock_profile_id: str) -> str:
    """What is wrong with a claim's SIM-lock profile id (empty: fine): a SIM-lock claim needs one, a
    whole number from 1 to the largest int64; a zero-touch claim takes none (the API refuses it)."""
    if section_type != SectionType.SIM_LOCK:
        if simlock_profile_id:
            return "A SIM-lock profile id is only for a claim in SIM lock: choose SIM lock or leave it empty."
        return ""
    if not simlock_profile_id:
        return "A claim in SIM lock needs the id of your SIM-lock profile (a number such as 12345)."
    if not (simlock_profile_id.isascii() and simlock_profile_id.isdigit()):
        return f"The SIM-lock profile id is a whole number such as 12345; {simlock_profile_id[:40]!r} is not."
    digits = simlock_profile_id.lstrip("0")
    if not digits:
        return "The SIM-lock profile id is 1 or more; 0 names no profile."
    if len(digits) > len(str(SIMLOCK_PROFILE_ID_MAX)) or int(digits) > SIMLOCK_PROFILE_ID_MAX:
        return f"The SIM-lock profile id is at most {SIMLOCK_PROFILE_ID_MAX}; this number is larger."
    return ""


def simlock_profile_id_normalized(value: str) -> str:
    """A SIM-lock profile id as the API writes an int64 (no leading zeros); anything but digits is
    left as given, for ``simlock_profile_error`` to say what is wrong with it."""
    if value.isascii() and value.isdigit():
        return value.lstrip("0") or "0"
    return value


def metadata_errors(entries: dict[str, str]) -> dict[str, str]:
    """What is wrong with metadata entries, by key (empty: fine)."""
    errors = {}
    for key, value in entries.items():
        if problem := metadata_key_error(key) or metadata_value_error(key, value):
            errors[key] = problem
    return errors


class ClaimFields(TypedDict, total=False):
    """The fields of one claim besides its customer and metadata, as the claim form names them
    (the names of ``ClaimRequest``): every one optional, "" (False) when not given."""

    chrome_os: bool
    imei: str
    meid: str
    serial_number: str
    manufacturer: str
    model: str
    chrome_os_attested_device_id: str
    google_workspace_customer_id: str
    pre_provisioning_token: str
    section_type: str
    simlock_profile_id: str


def claim_check(
    *,
    customer: Customer | None,
    customer_given: bool = True,
    metadata: dict[str, str] | None = None,
    **fields: Unpack[ClaimFields],
) -> tuple[ClaimRequest | None, dict[str, str]]:
    """Check one claim: (the request, {}) when it may be sent, else (None, errors by field name).

    Field names are the claim form's: imei, meid, serial_number, manufacturer, model,
    chrome_os_attested_device_id, customer, google_workspace_customer_id, pre_provisioning_token,
    section_type, simlock_profile_id, and the metadata keys (ordernumber, phonenumber). Values come
    without surrounding spaces (forms and the batch parser strip them); identifiers and the SIM-lock
    profile id are normalised here.
    """
    fields["imei"] = normalize_imei(fields.get("imei", ""))
    fields["meid"] = normalize_meid(fields.get("meid", ""))
    if profile := fields.get("simlock_profile_id", ""):
        fields["simlock_profile_id"] = simlock_profile_id_normalized(profile)
    metadata = {key: value for key, value in (metadata or {}).items() if value} if metadata else {}
    if fields.get("chrome_os") and not fields.get("google_workspace_customer_id") and customer is not None:
        fields["google_workspace_customer_id"] = customer.google_workspace_customer_id
    errors = claim_errors(customer=customer, customer_given=customer_given, metadata=metadata, **fields)
    if errors:
        return None, errors
    assert customer is not None  # customer_errors refused the other cases
    return ClaimRequest(customer_id=customer.company_id, metadata=metadata, **fields), {}


def claim_errors(
    *,
    customer: Customer | None,
    customer_given: bool = True,
    chrome_os: bool = False,
    imei: str = "",
    meid: str = "",
    serial_number: str = "",
    manufacturer: str = "",
    model: str = "",
    chrome_os_attested_device_id: str = "",
    google_workspace_customer_id: str = "",
    pre_provisioning_token: str = "",
    section_type: str = SectionType.ZERO_TOUCH,
    simlock_profile_id: str = "",
    metadata: dict[str, str],
) -> dict[str, str]:
    """The rules of ``claim_check`` alone, by field name (empty: the claim may be sent), for
    identifiers already normalised and metadata without empty values: a batch checks each of its
    hundred thousand rows with this, without building a request for every one."""
    errors = identifier_errors(
        imei=imei,
        meid=meid,
        serial_number=serial_number,
        manufacturer=manufacturer,
        model=model,
        chrome_os=chrome_os,
        chrome_os_attested_device_id=chrome_os_attested_device_id,
    )
    if problem := customer_errors(customer, given=customer_given):
        errors["customer"] = problem
    if problem := simlock_profile_error(section_type, simlock_profile_id):
        errors["simlock_profile_id"] = problem
    if chrome_os:
        if not google_workspace_customer_id and customer is not None:
            google_workspace_customer_id = customer.google_workspace_customer_id
        if not google_workspace_customer_id and "customer" not in errors:
            errors["google_workspace_customer_id"] = (
                "A ChromeOS device is claimed for a Google Workspace customer id; "
                "this customer has none on record."
            )
        if not pre_provisioning_token:
            errors["pre_provisioning_token"] = "A ChromeOS device needs its pre-provisioning token."  # noqa: S105
        if metadata:
            errors[next(iter(metadata))] = (
                "Order and phone numbers are for Android devices; zero-touch keeps other metadata "
                "for ChromeOS."
            )
    if metadata:
        errors.update(metadata_errors(metadata))
    return errors
