"""Device identifier rules, shared by the search box, the one-device forms and the CSV import.

The API's rules (from Google's documentation): an IMEI is 15 digits whose last digit is a Luhn
check digit; a MEID is 14 hexadecimal characters; a serial number is case-sensitive and is only
meaningful together with the manufacturer and model. Spreadsheets turn long IMEIs into scientific
notation (3.5123E+14), which loses digits: such a value is refused, never guessed at.
"""

import re
from dataclasses import dataclass, field
from enum import StrEnum

IMEI_LENGTH = 15
MEID_LENGTH = 14

# ASCII digits only: ``\d`` also matches the digits of other scripts (the fullwidth digits of East Asian
# keyboards, say), which no IMEI holds and which the check-digit arithmetic below cannot read.
_DIGITS = re.compile(r"[0-9]+")
_HEX = re.compile(r"[0-9A-Fa-f]+")
_SCIENTIFIC = re.compile(r"^\d(?:[.,]\d+)?[eE][+]?\d+$")
_SEPARATORS = re.compile(r"[\s\-./]")


class IdentifierKind(StrEnum):
    IMEI = "imei"
    MEID = "meid"
    SERIAL = "serial"


# A digit doubled as the Luhn algorithm doubles it (9 for 18, its digits summed).
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn_check_digit(body: str) -> int:
    """The Luhn check digit that completes ``body`` (the first 14 digits of an IMEI): counting from
    the right of the body, every other digit doubled, starting with the last."""
    doubled = sum(_DOUBLED[ord(char) - 48] for char in body[::-1][::2])
    plain = sum(ord(char) - 48 for char in body[::-1][1::2])
    return (10 - (doubled + plain) % 10) % 10


# The Luhn weights of a run of digits that starts at an even position of an IMEI (the first digit
# counts once, the next doubled, and so on), looked up rather than computed: a batch checks a
# hundred thousand IMEIs, and four table look-ups take a fifth of the time of the digit-by-digit sum.
_DIGIT_CHARS = "0123456789"
_FOUR_DIGITS = {
    a + b + c + d: int(a) + _DOUBLED[int(b)] + int(c) + _DOUBLED[int(d)]
    for a in _DIGIT_CHARS
    for b in _DIGIT_CHARS
    for c in _DIGIT_CHARS
    for d in _DIGIT_CHARS
}
_LAST_THREE = {
    a + b + c: int(a) + _DOUBLED[int(b)] + int(c)
    for a in _DIGIT_CHARS
    for b in _DIGIT_CHARS
    for c in _DIGIT_CHARS
}


def is_valid_imei(value: str) -> bool:
    """15 ASCII digits whose last is the Luhn check digit of the others (the weighted sum of all 15,
    the check digit counted once, is a multiple of 10)."""
    if len(value) != IMEI_LENGTH:
        return False
    try:
        total = (
            _FOUR_DIGITS[value[:4]]
            + _FOUR_DIGITS[value[4:8]]
            + _FOUR_DIGITS[value[8:12]]
            + _LAST_THREE[value[12:]]
        )
    except KeyError:  # a character that is not an ASCII digit
        return False
    return total % 10 == 0


def is_valid_meid(value: str) -> bool:
    return len(value) == MEID_LENGTH and _HEX.fullmatch(value) is not None


def normalize_imei(value: str) -> str:
    """Digits only: people paste IMEIs with spaces, dashes or slashes between groups."""
    return _SEPARATORS.sub("", value.strip())


def normalize_meid(value: str) -> str:
    """MEIDs are hexadecimal; the API and the cache keep them in upper case."""
    return _SEPARATORS.sub("", value.strip()).upper()


_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def fold_search_text(text: str) -> str:
    """Text as the search keys keep it: ASCII letters in upper case, everything else as it is.

    Searching is case-insensitive (a serial typed in lower case finds it) while the device keeps its
    exact serial, which is case-sensitive at Google. Only ASCII is folded, as SQLite's and
    PostgreSQL's ``upper()`` under the "C" collation do when the keys are written.
    """
    return text.translate(_ASCII_UPPER)


def looks_like_scientific_notation(value: str) -> bool:
    return _SCIENTIFIC.match(value.strip()) is not None


@dataclass(frozen=True)
class IdentifierGuess:
    """What a typed value most likely is, with the value as the cache stores it."""

    kind: IdentifierKind
    value: str
    complete: bool  # a whole identifier of its kind, not a prefix
    warnings: list[str] = field(default_factory=list)
    suggested_value: str = ""  # for an IMEI whose check digit is wrong: the likely intended IMEI


def detect_identifier(text: str) -> IdentifierGuess:
    """Guess the kind of identifier a person typed: 15 digits are an IMEI, 14 hex a MEID, else a serial.

    Shorter runs of digits are IMEI prefixes; a wrong IMEI check digit gives a warning and the IMEI
    with the correct check digit (the usual typo is in the last digit or a swapped pair).
    """
    stripped = text.strip()
    if looks_like_scientific_notation(stripped):
        return IdentifierGuess(
            IdentifierKind.IMEI,
            stripped,
            complete=False,
            warnings=[
                "This looks like a number a spreadsheet shortened (scientific notation); "
                "the digits it dropped cannot be recovered. Copy the IMEI as text."
            ],
        )
    compact = _SEPARATORS.sub("", stripped)
    if _DIGITS.fullmatch(compact or "x"):
        if len(compact) == IMEI_LENGTH:
            expected = luhn_check_digit(compact[:-1])
            if expected != int(compact[-1]):
                suggestion = compact[:-1] + str(expected)
                return IdentifierGuess(
                    IdentifierKind.IMEI,
                    compact,
                    complete=True,
                    suggested_value=suggestion,
                    warnings=[
                        f"The last digit of this IMEI should be {expected} by its check digit: "
                        f"did you mean {suggestion}?"
                    ],
                )
            return IdentifierGuess(IdentifierKind.IMEI, compact, complete=True)
        if len(compact) < IMEI_LENGTH:
            return IdentifierGuess(IdentifierKind.IMEI, compact, complete=False)
        if len(compact) > IMEI_LENGTH:
            return IdentifierGuess(
                IdentifierKind.SERIAL,
                stripped,
                complete=True,
                warnings=[f"{len(compact)} digits is too long for an IMEI (15); searching serial numbers."],
            )
    if len(compact) == MEID_LENGTH and _HEX.fullmatch(compact):
        return IdentifierGuess(IdentifierKind.MEID, compact.upper(), complete=True)
    return IdentifierGuess(IdentifierKind.SERIAL, stripped, complete=True)


def identifier_errors(
    *,
    imei: str = "",
    meid: str = "",
    serial_number: str = "",
    manufacturer: str = "",
    model: str = "",
    chrome_os: bool = False,
    chrome_os_attested_device_id: str = "",
) -> dict[str, str]:
    """What is wrong with a device's identifiers before any API call, by field name (empty: fine).

    Android: an IMEI or a MEID, or a serial number with manufacturer and model; a serial number
    always travels with its manufacturer and model. ChromeOS: serial number, model and the attested
    device id. Values are expected normalized (``normalize_imei``/``normalize_meid``).
    """
    if imei and not (meid or serial_number or chrome_os) and is_valid_imei(imei):
        return {}  # the common case of a batch row: a valid IMEI and nothing else to check
    errors: dict[str, str] = {}
    if looks_like_scientific_notation(imei):
        errors["imei"] = (
            "This IMEI was shortened by a spreadsheet (scientific notation) and lost digits; "
            "copy it again as text."
        )
    elif imei and not (len(imei) == IMEI_LENGTH and _DIGITS.fullmatch(imei)):
        errors["imei"] = f"An IMEI is 15 digits; this has {len(imei)} characters."
    elif imei and not is_valid_imei(imei):
        expected = luhn_check_digit(imei[:-1])
        errors["imei"] = (
            f"This IMEI's check digit is wrong: the last digit should be {expected} "
            f"({imei[:-1]}{expected}). Check the number on the box."
        )
    if meid and not is_valid_meid(meid):
        errors["meid"] = "A MEID is 14 hexadecimal characters (0-9, A-F)."
    if chrome_os:
        for field_name, value, label in (
            ("serial_number", serial_number, "serial number"),
            ("model", model, "model"),
            ("chrome_os_attested_device_id", chrome_os_attested_device_id, "attested device id"),
        ):
            if not value:
                errors[field_name] = f"A ChromeOS device needs its {label}."
        return errors
    if not (imei or meid or serial_number):
        errors["imei"] = "Give the IMEI, the MEID, or the serial number with manufacturer and model."
    if serial_number:
        if not manufacturer:
            errors["manufacturer"] = "A serial number needs the manufacturer (as the device reports it)."
        if not model:
            errors["model"] = "A serial number needs the model (as the device reports it)."
    return errors
