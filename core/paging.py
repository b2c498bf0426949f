"""Keyset paging's one cursor codec: what a "next page" link carries.

A cursor is the last row's sort key (its sort value(s), then its id) as a compact JSON list in
URL-safe base64. The format is the one the devices and customers pages have always written, so
links already handed out keep working. A cursor comes back from the browser, so ``decode_cursor``
refuses anything but the values the page would have written (edited by hand, from another sort,
out of range, text a database cannot compare) with ``InvalidCursor``, before it reaches a query.
"""

import base64
import binascii
import json
from collections.abc import Sequence

from core.converters import MAX_ID
from core.text import storable

STALE_CURSOR = "This page link is not valid any more; start again."


class InvalidCursor(ValueError):
    """The page cursor was not one the portal made (edited by hand, or from an older release)."""


def encode_cursor(*values: int | str) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode()


def decode_cursor(
    cursor: str, kinds: Sequence[type], *, longest_text: int, refusal: str = STALE_CURSOR
) -> list:
    """The values a cursor carries, one of each type of ``kinds`` (int or str) in that order.

    Whole numbers must be ids or counts (0 to the largest 64-bit key); text at most ``longest_text``
    characters, and storable. Anything else raises ``InvalidCursor`` with ``refusal``, the sentence
    the page shows.
    """
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor(refusal) from exc
    if not isinstance(values, list) or len(values) != len(kinds):
        raise InvalidCursor(refusal)
    for value, kind in zip(values, kinds, strict=True):
        if type(value) is not kind:
            raise InvalidCursor(refusal)
        if kind is int and not 0 <= value <= MAX_ID:
            raise InvalidCursor(refusal)
        if kind is str and (len(value) > longest_text or not storable(value)):
            raise InvalidCursor(refusal)
    return values
