"""The API's resources as small frozen dataclasses, and their mapping to and from JSON.

This module is the only place that knows the wire names (``deviceIdentifier``, ``perDeviceStatus``…).
Every resource has ``from_json()`` (tolerant: absent fields become ``None`` or empty, unknown fields are
ignored, unknown enum values are kept as plain strings) and, where the client sends it, ``to_json()``
(which leaves out unset fields, because the API treats an absent field and an empty one differently,
e.g. an empty metadata value deletes the key).

Enum-valued fields hold plain strings; the ``StrEnum`` classes below are the known values, and since
their members are strings they compare equal to what the API returns.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ClaimResult",
    "Company",
    "Device",
    "DeviceClaim",
    "DeviceIdentifier",
    "DeviceMetadata",
    "DeviceType",
    "MetadataUpdate",
    "Operation",
    "OperationMetadata",
    "OperationStatus",
    "PartnerClaim",
    "PartnerUnclaim",
    "PerDeviceResult",
    "ProcessingStatus",
    "SectionType",
    "SimLockState",
    "SingleDeviceStatus",
    "TermsStatus",
]


class SectionType(enum.StrEnum):
    UNSPECIFIED = "SECTION_TYPE_UNSPECIFIED"
    SIM_LOCK = "SECTION_TYPE_SIM_LOCK"
    ZERO_TOUCH = "SECTION_TYPE_ZERO_TOUCH"


class DeviceType(enum.StrEnum):
    UNSPECIFIED = "DEVICE_TYPE_UNSPECIFIED"
    ANDROID = "DEVICE_TYPE_ANDROID"
    CHROME_OS = "DEVICE_TYPE_CHROME_OS"


class TermsStatus(enum.StrEnum):
    UNSPECIFIED = "TERMS_STATUS_UNSPECIFIED"
    NOT_ACCEPTED = "TERMS_STATUS_NOT_ACCEPTED"
    ACCEPTED = "TERMS_STATUS_ACCEPTED"
    STALE = "TERMS_STATUS_STALE"


class SimLockState(enum.StrEnum):
    UNSPECIFIED = "SIM_LOCK_STATE_UNSPECIFIED"
    UNLOCKED = "UNLOCKED"
    LOCKED_TO_PARTNER = "LOCKED_TO_PARTNER"
    LOCKED_TO_OTHER_PARTNER = "LOCKED_TO_OTHER_PARTNER"


class ProcessingStatus(enum.StrEnum):
    UNSPECIFIED = "BATCH_PROCESS_STATUS_UNSPECIFIED"
    PENDING = "BATCH_PROCESS_PENDING"
    IN_PROGRESS = "BATCH_PROCESS_IN_PROGRESS"
    PROCESSED = "BATCH_PROCESS_PROCESSED"


class SingleDeviceStatus(enum.StrEnum):
    UNSPECIFIED = "SINGLE_DEVICE_STATUS_UNSPECIFIED"
    UNKNOWN_ERROR = "SINGLE_DEVICE_STATUS_UNKNOWN_ERROR"
    OTHER_ERROR = "SINGLE_DEVICE_STATUS_OTHER_ERROR"
    SUCCESS = "SINGLE_DEVICE_STATUS_SUCCESS"
    PERMISSION_DENIED = "SINGLE_DEVICE_STATUS_PERMISSION_DENIED"
    INVALID_DEVICE_IDENTIFIER = "SINGLE_DEVICE_STATUS_INVALID_DEVICE_IDENTIFIER"
    INVALID_SECTION_TYPE = "SINGLE_DEVICE_STATUS_INVALID_SECTION_TYPE"
    SECTION_NOT_YOURS = "SINGLE_DEVICE_STATUS_SECTION_NOT_YOURS"
    INVALID_TOKEN = "SINGLE_DEVICE_STATUS_INVALID_TOKEN"  # noqa: S105 - an enum value, not a secret
    REVOKED_TOKEN = "SINGLE_DEVICE_STATUS_REVOKED_TOKEN"  # noqa: S105 - an enum value, not a secret
    DEVICE_LIMIT_EXCEEDED = "SINGLE_DEVICE_STATUS_DEVICE_LIMIT_EXCEEDED"


# Shorthand for the operations' result type, under the name the portal uses for it.
OperationStatus = SingleDeviceStatus


def _str_or_none(value: Any) -> str | None:
    """IDs are int64 on the wire but travel as JSON strings; accept ints from sloppy callers."""
    if value is None or value.__class__ is str:
        return value
    return str(value)


def _int(value: Any, default: int = 0) -> int:
    """int32 fields arrive as JSON numbers, int64 ones as strings; both become ``int``."""
    if value is None or value == "":
        return default
    return int(value)


def _compact(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Drop unset fields so the request carries only what the caller chose to send."""
    return {key: value for key, value in mapping.items() if value is not None}


# ---------------------------------------------------------------------------------------------------
# Devices


@dataclass(frozen=True, slots=True)
class DeviceIdentifier:
    """Hardware and product IDs of one manufactured device.

    Android: an IMEI or MEID (manufacturer recommended), or a serial number with manufacturer and model.
    ChromeOS: serial number, model and ``chrome_os_attested_device_id``.
    """

    imei: str | None = None
    imei2: str | None = None
    meid: str | None = None
    meid2: str | None = None
    serial_number: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    device_type: str | None = None
    chrome_os_attested_device_id: str | None = None

    @classmethod
    def from_json(cls, payload: Mapping[str, Any] | None) -> DeviceIdentifier:
        if not payload:
            return cls()
        get = payload.get  # positional arguments in field order: this runs for every device of a page
        return cls(
            get("imei"),
            get("imei2"),
            get("meid"),
            get("meid2"),
            get("serialNumber"),
            get("manufacturer"),
            get("model"),
            get("deviceType"),
            get("chromeOsAttestedDeviceId"),
        )

    def to_json(self) -> dict[str, Any]:
        return _compact(
            {
                "imei": self.imei,
                "imei2": self.imei2,
                "meid": self.meid,
                "meid2": self.meid2,
                "serialNumber": self.serial_number,
                "manufacturer": self.manufacturer,
                "model": self.model,
                "deviceType": None if self.device_type is None else str(self.device_type),
                "chromeOsAttestedDeviceId": self.chrome_os_attested_device_id,
            }
        )


@dataclass(frozen=True, slots=True)
class DeviceMetadata:
    """The reseller's key-value metadata on a device (``phonenumber``, ``ordernumber``…).

    In an update, an empty string as a value deletes that key.
    """

    entries: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, payload: Mapping[str, Any] | None) -> DeviceMetadata:
        entries = payload.get("entries") if payload else None
        return cls(dict(entries) if entries else {})

    def to_json(self) -> dict[str, Any]:
        return {"entries": dict(self.entries)}


@dataclass(frozen=True, slots=True)
class DeviceClaim:
    """One claim on a device's provisioning record: which section, for which customer, by whom."""

    section_type: str | None = None
    owner_company_id: str | None = None
    reseller_id: str | None = None
    google_workspace_customer_id: str | None = None
    vacation_mode_start_time: str | None = None
    vacation_mode_expire_time: str | None = None
    additional_service: str | None = None

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> DeviceClaim:
        get = payload.get
        return cls(
            get("sectionType"),
            _str_or_none(get("ownerCompanyId")),
            _str_or_none(get("resellerId")),
            get("googleWorkspaceCustomerId"),
            get("vacationModeStartTime"),
            get("vacationModeExpireTime"),
            get("additionalService"),
        )

    def to_json(self) -> dict[str, Any]:
        return _compact(
            {
                "sectionType": None if self.section_type is None else str(self.section_type),
                "ownerCompanyId": self.owner_company_id,
                "resellerId": self.reseller_id,
                "googleWorkspaceCustomerId": self.google_workspace_customer_id,
                "vacationModeStartTime": self.vacation_mode_start_time,
                "vacationModeExpireTime": self.vacation_mode_expire_time,
                "additionalService": self.additional_service,
            }
        )


@dataclass(frozen=True, slots=True)
class Device:
    """A device registered for zero-touch enrollment, as the API reports it."""

    device_id: str
    name: str | None = None
    identifier: DeviceIdentifier = field(default_factory=DeviceIdentifier)
    metadata: DeviceMetadata = field(default_factory=DeviceMetadata)
    claims: tuple[DeviceClaim, ...] = ()
    configuration: str | None = None

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> Device:
        get = payload.get
        claims = get("claims")
        return cls(
            str(get("deviceId", "")),
            get("name"),
            DeviceIdentifier.from_json(get("deviceIdentifier")),
            DeviceMetadata.from_json(get("deviceMetadata")),
            tuple([DeviceClaim.from_json(claim) for claim in claims]) if claims else (),
            get("configuration"),
        )

    def to_json(self) -> dict[str, Any]:
        """The device as the API writes it (what ``from_json`` reads)."""
        return _compact(
            {
                "deviceId": self.device_id,
                "name": self.name,
                "deviceIdentifier": self.identifier.to_json(),
                "deviceMetadata": self.metadata.to_json(),
                "claims": [claim.to_json() for claim in self.claims],
                "configuration": self.configuration,
            }
        )

    def claim_for(self, section_type: str = SectionType.ZERO_TOUCH) -> DeviceClaim | None:
        """The claim on ``section_type``, if the device has one."""
        for claim in self.claims:
            if claim.section_type == section_type:
                return claim
        return None


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """What ``devices.claim`` answers: the server-assigned device ID and resource name."""

    device_id: str
    device_name: str | None = None

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> ClaimResult:
        return cls(device_id=str(payload.get("deviceId", "")), device_name=payload.get("deviceName"))


# ---------------------------------------------------------------------------------------------------
# Companies


@dataclass(frozen=True, slots=True)
class Company:
    """A customer, vendor or reseller.

    ``owner_emails`` and ``language_code`` are input-only in the API: they are sent on creation and
    never returned, so a Company read back from the API has them empty.
    """

    company_id: str
    company_name: str
    name: str | None = None
    admin_emails: tuple[str, ...] = ()
    owner_emails: tuple[str, ...] = ()
    terms_status: str | None = None
    language_code: str | None = None
    google_workspace_customer_id: str | None = None
    pre_provisioning_tokens: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> Company:
        workspace = payload.get("googleWorkspaceAccount") or {}
        return cls(
            company_id=str(payload.get("companyId", "")),
            company_name=payload.get("companyName", ""),
            name=payload.get("name"),
            admin_emails=tuple(payload.get("adminEmails") or ()),
            owner_emails=tuple(payload.get("ownerEmails") or ()),
            terms_status=payload.get("termsStatus"),
            language_code=payload.get("languageCode"),
            google_workspace_customer_id=workspace.get("customerId"),
            pre_provisioning_tokens=tuple(workspace.get("preProvisioningTokens") or ()),
        )

    def to_json(self) -> dict[str, Any]:
        """The input fields of a new customer (server-assigned fields are never sent)."""
        return _compact(
            {
                "companyName": self.company_name,
                "ownerEmails": list(self.owner_emails),
                "adminEmails": list(self.admin_emails) or None,
                "languageCode": self.language_code,
            }
        )


# ---------------------------------------------------------------------------------------------------
# Batch requests (the items of claimAsync, unclaimAsync and updateMetadataAsync)


@dataclass(frozen=True, slots=True)
class PartnerClaim:
    """One device to claim in a ``claimAsync`` batch (also echoed back in the operation's results)."""

    identifier: DeviceIdentifier
    customer_id: str | None = None
    google_workspace_customer_id: str | None = None
    section_type: str = SectionType.ZERO_TOUCH
    metadata: DeviceMetadata | None = None
    pre_provisioning_token: str | None = None
    configuration_id: str | None = None
    simlock_profile_id: str | None = None

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> PartnerClaim:
        return cls(
            identifier=DeviceIdentifier.from_json(payload.get("deviceIdentifier")),
            customer_id=_str_or_none(payload.get("customerId")),
            google_workspace_customer_id=payload.get("googleWorkspaceCustomerId"),
            section_type=payload.get("sectionType", SectionType.UNSPECIFIED),
            metadata=(
                DeviceMetadata.from_json(payload["deviceMetadata"]) if "deviceMetadata" in payload else None
            ),
            pre_provisioning_token=payload.get("preProvisioningToken"),
            configuration_id=_str_or_none(payload.get("configurationId")),
            simlock_profile_id=_str_or_none(payload.get("simlockProfileId")),
        )

    def to_json(self) -> dict[str, Any]:
        return _compact(
            {
                "deviceIdentifier": self.identifier.to_json(),
                "customerId": _str_or_none(self.customer_id),
                "googleWorkspaceCustomerId": self.google_workspace_customer_id,
                "sectionType": str(self.section_type),
                "deviceMetadata": None if self.metadata is None else self.metadata.to_json(),
                "preProvisioningToken": self.pre_provisioning_token,
                "configurationId": _str_or_none(self.configuration_id),
                "simlockProfileId": _str_or_none(self.simlock_profile_id),
            }
        )


@dataclass(frozen=True, slots=True)
class PartnerUnclaim:
    """One device to unclaim in an ``unclaimAsync`` batch: by ``device_id`` or by ``identifier``."""

    device_id: str | None = None
    identifier: DeviceIdentifier | None = None
    section_type: str = SectionType.ZERO_TOUCH
    vacation_mode_days: int | None = None
    vacation_mode_expire_time: str | None = None

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> PartnerUnclaim:
        return cls(
            device_id=_str_or_none(payload.get("deviceId")),
            identifier=(
                DeviceIdentifier.from_json(payload["deviceIdentifier"])
                if "deviceIdentifier" in payload
                else None
            ),
            section_type=payload.get("sectionType", SectionType.UNSPECIFIED),
            vacation_mode_days=payload.get("vacationModeDays"),
            vacation_mode_expire_time=payload.get("vacationModeExpireTime"),
        )

    def to_json(self) -> dict[str, Any]:
        return _compact(
            {
                "deviceId": _str_or_none(self.device_id),
                "deviceIdentifier": None if self.identifier is None else self.identifier.to_json(),
                "sectionType": str(self.section_type),
                "vacationModeDays": self.vacation_mode_days,
                "vacationModeExpireTime": self.vacation_mode_expire_time,
            }
        )


@dataclass(frozen=True, slots=True)
class MetadataUpdate:
    """One device's metadata in an ``updateMetadataAsync`` batch: by ``device_id`` or ``identifier``."""

    metadata: DeviceMetadata
    device_id: str | None = None
    identifier: DeviceIdentifier | None = None

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> MetadataUpdate:
        return cls(
            metadata=DeviceMetadata.from_json(payload.get("deviceMetadata")),
            device_id=_str_or_none(payload.get("deviceId")),
            identifier=(
                DeviceIdentifier.from_json(payload["deviceIdentifier"])
                if "deviceIdentifier" in payload
                else None
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return _compact(
            {
                "deviceId": _str_or_none(self.device_id),
                "deviceIdentifier": None if self.identifier is None else self.identifier.to_json(),
                "deviceMetadata": self.metadata.to_json(),
            }
        )


# ---------------------------------------------------------------------------------------------------
# Long-running operations


@dataclass(frozen=True, slots=True)
class OperationMetadata:
    """Progress of a batch operation: ``PENDING`` → ``IN_PROGRESS`` → ``PROCESSED``.

    ``progress`` (0-100) may read 100 before the operation is ``done``; only ``Operation.done`` says
    that the results are final.
    """

    processing_status: str | None = None
    progress: int = 0
    devices_count: int = 0

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> OperationMetadata:
        return cls(
            processing_status=payload.get("processingStatus"),
            progress=_int(payload.get("progress")),
            devices_count=_int(payload.get("devicesCount")),
        )


@dataclass(frozen=True, slots=True)
class PerDeviceResult:
    """The outcome for one item of a batch, with a copy of the item the server received.

    Exactly one of ``claim``, ``unclaim`` and ``update`` is set, matching the operation's kind.
    """

    status: str | None = None
    device_id: str | None = None
    error_identifier: str | None = None
    error_message: str | None = None
    claim: PartnerClaim | None = None
    unclaim: PartnerUnclaim | None = None
    update: MetadataUpdate | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == SingleDeviceStatus.SUCCESS

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> PerDeviceResult:
        result = payload.get("result") or {}
        return cls(
            status=result.get("status"),
            device_id=_str_or_none(result.get("deviceId")),
            error_identifier=result.get("errorIdentifier"),
            error_message=result.get("errorMessage"),
            claim=PartnerClaim.from_json(payload["claim"]) if "claim" in payload else None,
            unclaim=PartnerUnclaim.from_json(payload["unclaim"]) if "unclaim" in payload else None,
            update=(
                MetadataUpdate.from_json(payload["updateMetadata"]) if "updateMetadata" in payload else None
            ),
        )


@dataclass(frozen=True, slots=True)
class Operation:
    """A long-running batch operation (``claimAsync``, ``unclaimAsync``, ``updateMetadataAsync``).

    For these operations the API never sets ``error``: failures are per device, in ``results`` (in the
    order of the request), with ``success_count`` as a summary. ``error_*`` is kept for completeness.
    """

    name: str
    done: bool = False
    metadata: OperationMetadata | None = None
    results: tuple[PerDeviceResult, ...] = ()
    success_count: int | None = None
    error_code: int | None = None
    error_message: str | None = None

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> Operation:
        metadata = payload.get("metadata")
        response = payload.get("response")
        error = payload.get("error") or {}
        return cls(
            name=payload.get("name", ""),
            done=bool(payload.get("done", False)),
            metadata=None if metadata is None else OperationMetadata.from_json(metadata),
            results=tuple(
                PerDeviceResult.from_json(item) for item in (response or {}).get("perDeviceStatus") or ()
            ),
            success_count=None if response is None else _int(response.get("successCount")),
            error_code=error.get("code"),
            error_message=error.get("message"),
        )

    @property
    def failed_results(self) -> tuple[PerDeviceResult, ...]:
        return tuple(result for result in self.results if not result.succeeded)

    def next_poll_in(self, elapsed_seconds: float | None, *, minimum: float, maximum: float) -> float:
        """Seconds to wait before reading this unfinished operation again: the time it still needs at
        the pace of its progress so far (``elapsed * (100 - progress) / progress``), kept between
        ``minimum`` and ``maximum``. ``minimum`` while it shows no progress yet, or when the time since
        it was submitted (``elapsed_seconds``) is unknown: a small batch may be done by then."""
        progress = self.metadata.progress if self.metadata is not None else 0
        if progress <= 0 or elapsed_seconds is None:
            return minimum
        remaining = elapsed_seconds * (100 - progress) / progress
        return max(minimum, min(maximum, remaining))
