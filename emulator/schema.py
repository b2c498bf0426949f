"""Request messages of the partner API and a parser that reads JSON the way Google's front end does.

Google parses request bodies as proto3 JSON: field names in lowerCamelCase or their original
snake_case spelling, ``null`` meaning "not set", int64 as a JSON string or number, enums by name (or
number). An unknown field, a value of the wrong type or an unknown enum value is a 400
``INVALID_ARGUMENT`` whose message quotes the field path, as Google's do; the emulator copies that
so that a client's misspelt field fails here as it would against Google.

:func:`parse` returns a canonical copy: camelCase keys, unset fields dropped, int64 values as decimal
strings (the JSON form Google echoes back), int32 as ``int``.
"""

from __future__ import annotations

import re

from .errors import InvalidArgument

PACKAGE = "google.android.device.provisioning.v1"

SECTION_TYPES = ("SECTION_TYPE_UNSPECIFIED", "SECTION_TYPE_SIM_LOCK", "SECTION_TYPE_ZERO_TOUCH")
DEVICE_TYPES = ("DEVICE_TYPE_UNSPECIFIED", "DEVICE_TYPE_ANDROID", "DEVICE_TYPE_CHROME_OS")
TERMS_STATUSES = (
    "TERMS_STATUS_UNSPECIFIED",
    "TERMS_STATUS_NOT_ACCEPTED",
    "TERMS_STATUS_ACCEPTED",
    "TERMS_STATUS_STALE",
)

STRING = "string"
INT64 = "int64"
INT32 = "int32"
BOOL = "bool"
TIMESTAMP = "timestamp"
STRING_MAP = "map<string, string>"


class Enum:
    def __init__(self, name: str, values: tuple[str, ...]):
        self.name = name
        self.values = values


class Repeated:
    def __init__(self, item):
        self.item = item


SECTION_TYPE = Enum("DeviceProvisioningSectionType", SECTION_TYPES)
DEVICE_TYPE = Enum("DeviceIdentifier.DeviceType", DEVICE_TYPES)
TERMS_STATUS = Enum("Company.TermsStatus", TERMS_STATUSES)

MESSAGES: dict[str, dict[str, object]] = {
    "DeviceIdentifier": {
        "imei": STRING,
        "imei2": STRING,
        "meid": STRING,
        "meid2": STRING,
        "serialNumber": STRING,
        "manufacturer": STRING,
        "model": STRING,
        "deviceType": DEVICE_TYPE,
        "chromeOsAttestedDeviceId": STRING,
    },
    "DeviceMetadata": {"entries": STRING_MAP},
    "ClaimDeviceRequest": {
        "configurationId": INT64,
        "customerId": INT64,
        "deviceIdentifier": "DeviceIdentifier",
        "deviceMetadata": "DeviceMetadata",
        "googleWorkspaceCustomerId": STRING,
        "preProvisioningToken": STRING,
        "sectionType": SECTION_TYPE,
        "simlockProfileId": INT64,
    },
    "ClaimDevicesRequest": {"claims": Repeated("PartnerClaim")},
    "UnclaimDeviceRequest": {
        "deviceId": INT64,
        "deviceIdentifier": "DeviceIdentifier",
        "sectionType": SECTION_TYPE,
        "vacationModeDays": INT32,
        "vacationModeExpireTime": TIMESTAMP,
    },
    "UnclaimDevicesRequest": {"unclaims": Repeated("PartnerUnclaim")},
    "UpdateMetadataArguments": {
        "deviceId": INT64,
        "deviceIdentifier": "DeviceIdentifier",
        "deviceMetadata": "DeviceMetadata",
    },
    "UpdateDeviceMetadataInBatchRequest": {"updates": Repeated("UpdateMetadataArguments")},
    "UpdateDeviceMetadataRequest": {"deviceMetadata": "DeviceMetadata"},
    "FindDevicesByDeviceIdentifierRequest": {
        "deviceIdentifier": "DeviceIdentifier",
        "limit": INT64,
        "pageToken": STRING,
    },
    "FindDevicesByOwnerRequest": {
        "customerId": Repeated(INT64),
        "googleWorkspaceCustomerId": Repeated(STRING),
        "limit": INT64,
        "pageToken": STRING,
        "sectionType": SECTION_TYPE,
    },
    "GetDeviceSimLockStateRequest": {"deviceIdentifier": "DeviceIdentifier"},
    "GoogleWorkspaceAccount": {"customerId": STRING, "preProvisioningTokens": Repeated(STRING)},
    "Company": {
        "adminEmails": Repeated(STRING),
        "companyId": INT64,
        "companyName": STRING,
        "googleWorkspaceAccount": "GoogleWorkspaceAccount",
        "languageCode": STRING,
        "name": STRING,
        "ownerEmails": Repeated(STRING),
        "skipWelcomeEmail": BOOL,
        "termsStatus": TERMS_STATUS,
    },
    "CreateCustomerRequest": {"customer": "Company"},
}
MESSAGES["PartnerClaim"] = MESSAGES["ClaimDeviceRequest"]
MESSAGES["PartnerUnclaim"] = MESSAGES["UnclaimDeviceRequest"]

_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")
_INT = re.compile(r"-?\d+")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


_SNAKE_TO_CAMEL = {message: {snake(field): field for field in fields} for message, fields in MESSAGES.items()}


def _bad_value(path: str, type_name: str, value) -> InvalidArgument:
    shown = value if isinstance(value, str) else repr(value)
    return InvalidArgument(
        f"Invalid value at '{path}' ({type_name}), \"{shown}\"", reason="INVALID_JSON_PAYLOAD"
    )


def _join(path: str, field: str) -> str:
    return f"{path}.{snake(field)}" if path else snake(field)


def _scalar(kind, value, path: str):
    if isinstance(kind, Enum):
        if isinstance(value, str) and value in kind.values:
            return value
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(kind.values):
            return kind.values[value]
        raise _bad_value(path, f"type.googleapis.com/{PACKAGE}.{kind.name}", value)
    if kind == STRING:
        if isinstance(value, str):
            return value
        raise _bad_value(path, "TYPE_STRING", value)
    if kind in (INT64, INT32):
        low, high = (INT64_MIN, INT64_MAX) if kind == INT64 else (INT32_MIN, INT32_MAX)
        type_name = "TYPE_INT64" if kind == INT64 else "TYPE_INT32"
        if isinstance(value, bool):
            raise _bad_value(path, type_name, value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and _INT.fullmatch(value.strip()):
            number = int(value.strip())
        elif isinstance(value, int):
            number = value
        else:
            raise _bad_value(path, type_name, value)
        if not low <= number <= high:
            raise _bad_value(path, type_name, value)
        return str(number) if kind == INT64 else number
    if kind == BOOL:
        if isinstance(value, bool):
            return value
        raise _bad_value(path, "TYPE_BOOL", value)
    if kind == TIMESTAMP:
        if isinstance(value, str) and _TIMESTAMP.fullmatch(value):
            return value
        raise InvalidArgument(
            f"Invalid value at '{path}' (type.googleapis.com/google.protobuf.Timestamp), "
            f"Field '{path}', Invalid time format: \"{value}\"",
            reason="INVALID_JSON_PAYLOAD",
        )
    if kind == STRING_MAP:
        if not isinstance(value, dict):
            raise _bad_value(path, "map<string, string>", value)
        entries = {}
        for key, entry in value.items():
            if entry is None:
                entry = ""
            if not isinstance(entry, str):
                raise _bad_value(f"{path}[{key}]", "TYPE_STRING", entry)
            entries[key] = entry
        return entries
    raise AssertionError(kind)  # pragma: no cover


def _value(kind, value, path: str):
    if isinstance(kind, Repeated):
        if not isinstance(value, list):
            raise InvalidArgument(
                f"Invalid value at '{path}': a list was expected.", reason="INVALID_JSON_PAYLOAD"
            )
        return [_value(kind.item, item, f"{path}[{i}]") for i, item in enumerate(value) if item is not None]
    if isinstance(kind, str) and kind in MESSAGES:
        return parse_message(kind, value, path)
    return _scalar(kind, value, path)


def parse_message(message: str, body, path: str = "") -> dict:
    """Parse one JSON object as ``message``; raise ``InvalidArgument`` as Google's parser would."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        where = f" at '{path}'" if path else ""
        raise InvalidArgument(
            f"Invalid JSON payload received. Expected an object{where}.", reason="INVALID_JSON_PAYLOAD"
        )
    fields = MESSAGES[message]
    aliases = _SNAKE_TO_CAMEL[message]
    parsed: dict = {}
    for key, value in body.items():
        name = key if key in fields else aliases.get(key)
        if name is None:
            where = f" at '{path}'" if path else ""
            raise InvalidArgument(
                f'Invalid JSON payload received. Unknown name "{key}"{where}: Cannot find field.',
                reason="INVALID_JSON_PAYLOAD",
            )
        if value is None:
            continue
        parsed[name] = _value(fields[name], value, _join(path, name))
    return parsed


def parse(message: str, body) -> dict:
    """Parse a request body (already decoded from JSON) as ``message``."""
    return parse_message(message, body)
