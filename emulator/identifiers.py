"""Rules for the hardware identifiers of a ``DeviceIdentifier``, as Google's identifier guide states them.

- IMEI: 15 digits, the last one a Luhn check digit. A dual-SIM device is registered by its first
  IMEI (``imei``); ``imei2`` may accompany it.
- MEID: 14 hexadecimal characters (stored in upper case).
- A serial number always comes with a manufacturer and a model; serial numbers are case-sensitive.
- Manufacturer and model must be launched devices' ``Build.MANUFACTURER`` / ``Build.MODEL`` values,
  compared case-sensitively (see :mod:`emulator.catalog`).
- ChromeOS (``deviceType: DEVICE_TYPE_CHROME_OS``): serial number + model +
  ``chromeOsAttestedDeviceId``; no IMEI or MEID.
"""

from __future__ import annotations

import re

from . import catalog
from .errors import InvalidArgument

ANDROID = "DEVICE_TYPE_ANDROID"
CHROME_OS = "DEVICE_TYPE_CHROME_OS"
UNSPECIFIED = "DEVICE_TYPE_UNSPECIFIED"

FIELDS = (
    "imei",
    "imei2",
    "meid",
    "meid2",
    "serialNumber",
    "manufacturer",
    "model",
    "deviceType",
    "chromeOsAttestedDeviceId",
)

_IMEI = re.compile(r"[0-9]{15}")
_MEID = re.compile(r"[0-9A-Fa-f]{14}")
_SERIAL = re.compile(r"[\x21-\x7e]{1,64}")


_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # a digit doubled, its two digits summed


def luhn_check_digit(body: str) -> int:
    """The Luhn digit that completes ``body`` (the first 14 digits of an IMEI)."""
    digits = body.encode()
    # From the right: the last digit of the body is doubled, the one before it is not, and so on.
    doubled = sum(_DOUBLED[d - 48] for d in digits[-1::-2])
    plain = sum(digits[-2::-2]) - 48 * len(digits[-2::-2])
    return (10 - (doubled + plain) % 10) % 10


def is_valid_imei(value: str) -> bool:
    return bool(_IMEI.fullmatch(value)) and luhn_check_digit(value[:14]) == ord(value[14]) - 48


def is_valid_meid(value: str) -> bool:
    return bool(_MEID.fullmatch(value))


def _invalid(message: str) -> InvalidArgument:
    return InvalidArgument(
        message,
        reason="INVALID_DEVICE_IDENTIFIER",
        device_status="SINGLE_DEVICE_STATUS_INVALID_DEVICE_IDENTIFIER",
    )


def normalize(identifier: dict | None) -> dict[str, str]:
    """The identifier with empty fields dropped and MEIDs in upper case (no validation)."""
    if not identifier:
        return {}
    clean = {}
    for field in FIELDS:
        value = identifier.get(field)
        if value in (None, ""):
            continue
        value = str(value)
        if field in ("meid", "meid2"):
            value = value.upper()
        clean[field] = value
    if clean.get("deviceType") == UNSPECIFIED:
        del clean["deviceType"]
    return clean


def validate(identifier: dict | None, *, registering: bool = True) -> dict[str, str]:
    """Check an identifier and return its normalized form; raise ``InvalidArgument`` otherwise.

    ``registering`` is true when the identifier may create a device (claims): then a serial number
    needs its manufacturer and model. Look-ups (find, unclaim, metadata) accept a bare serial number.
    """
    ident = normalize(identifier)
    if "imei2" in ident and "imei" not in ident:
        raise _invalid("imei2 is only accepted together with imei (register a device by its first IMEI).")
    if "meid2" in ident and "meid" not in ident:
        raise _invalid("meid2 is only accepted together with meid.")
    if not any(k in ident for k in ("imei", "meid", "serialNumber", "chromeOsAttestedDeviceId")):
        raise _invalid("The device identifier needs an IMEI, an MEID or a serial number.")
    for field in ("imei", "imei2"):
        if field in ident and not is_valid_imei(ident[field]):
            raise _invalid(
                f"Invalid {field} '{ident[field]}': an IMEI has 15 digits and ends with a Luhn check digit."
            )
    for field in ("meid", "meid2"):
        if field in ident and not is_valid_meid(ident[field]):
            raise _invalid(f"Invalid {field} '{ident[field]}': an MEID has 14 hexadecimal characters.")
    serial = ident.get("serialNumber")
    if serial is not None and not _SERIAL.fullmatch(serial):
        raise _invalid(f"Invalid serial number '{serial}'.")

    manufacturer = ident.get("manufacturer")
    model = ident.get("model")
    if manufacturer is not None and not catalog.is_known_manufacturer(manufacturer):
        raise _invalid(
            f"Unknown manufacturer '{manufacturer}': use the device's Build.MANUFACTURER value "
            "(case-sensitive) from the list of launched devices."
        )
    if model is not None and not catalog.is_known_model(model, manufacturer):
        owner = f" of manufacturer '{manufacturer}'" if manufacturer else ""
        raise _invalid(
            f"Unknown model '{model}'{owner}: use the device's Build.MODEL value (case-sensitive) "
            "from the list of launched devices."
        )

    chrome = ident.get("deviceType") == CHROME_OS or "chromeOsAttestedDeviceId" in ident
    if model is not None and catalog.is_chrome_os_model(model):
        chrome = True
    if chrome:
        if ident.get("deviceType", CHROME_OS) != CHROME_OS:
            raise _invalid("chromeOsAttestedDeviceId is only accepted for DEVICE_TYPE_CHROME_OS devices.")
        if "imei" in ident or "meid" in ident:
            raise _invalid("A ChromeOS device is identified by serial number, model and attested device ID.")
        if registering:
            missing = [k for k in ("serialNumber", "model", "chromeOsAttestedDeviceId") if k not in ident]
            if missing:
                raise _invalid(
                    "A ChromeOS device needs serialNumber, model and chromeOsAttestedDeviceId; missing: "
                    + ", ".join(missing)
                    + "."
                )
            if not catalog.is_chrome_os_model(ident["model"]):
                raise _invalid(f"Model '{ident['model']}' is not a ChromeOS device.")
        ident["deviceType"] = CHROME_OS
    elif registering and serial is not None and (manufacturer is None or model is None):
        raise _invalid("A serial number needs the device's manufacturer and model.")
    return ident
