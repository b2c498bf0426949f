"""Opaque page tokens.

A token carries where the next page starts and a fingerprint of the query that produced it, so a
token sent with a different query (another customer, another section type) is refused with 400 as
Google refuses it, instead of silently paging through the wrong list.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib

from .errors import InvalidArgument

VERSION = 1


def fingerprint(*parts) -> int:
    return zlib.crc32(json.dumps(parts, separators=(",", ":"), default=str).encode())


def encode(query_fingerprint: int, *position) -> str:
    raw = json.dumps([VERSION, query_fingerprint, *position], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str, query_fingerprint: int, size: int) -> list:
    """The position stored in ``token``; 400 INVALID_ARGUMENT when it is not one of ours for this query."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError):
        values = None
    if (
        not isinstance(values, list)
        or len(values) != size + 2
        or values[0] != VERSION
        or values[1] != query_fingerprint
    ):
        raise InvalidArgument("Invalid page token.", reason="INVALID_PAGE_TOKEN")
    return values[2:]
