"""Rules and helpers shared by the backend's topics: section types, limits, ids."""

from __future__ import annotations

import sqlite3

from .errors import InvalidArgument

ZERO_TOUCH = "SECTION_TYPE_ZERO_TOUCH"
SIM_LOCK = "SECTION_TYPE_SIM_LOCK"
SECTION_TYPES = (ZERO_TOUCH, SIM_LOCK)

PAGE_LIMIT_MAX = 100
DEVICE_UNKNOWN = "SINGLE_DEVICE_STATUS_INVALID_DEVICE_IDENTIFIER"
MAX_ASYNC_DEVICES = 100_000


def int64(value, field: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise InvalidArgument(
            f"Invalid value at '{field}' (TYPE_INT64), \"{value}\"", reason="INVALID_ARGUMENT"
        ) from None


def section_type(request: dict) -> str:
    section = request.get("sectionType")
    if section not in SECTION_TYPES:
        raise InvalidArgument(
            "sectionType is required: SECTION_TYPE_ZERO_TOUCH or SECTION_TYPE_SIM_LOCK.",
            reason="INVALID_SECTION_TYPE",
            device_status="SINGLE_DEVICE_STATUS_INVALID_SECTION_TYPE",
        )
    return section


def page_limit(request: dict) -> int:
    raw = request.get("limit")
    if raw in (None, ""):
        raise InvalidArgument("limit is required and must be between 1 and 100.", reason="INVALID_LIMIT")
    limit = int64(raw, "limit")
    if not 1 <= limit <= PAGE_LIMIT_MAX:
        raise InvalidArgument(f"limit must be between 1 and 100, got {limit}.", reason="INVALID_LIMIT")
    return limit


def list_page_size(value) -> int:
    """``pageSize`` of a list call: absent or 0 means everything."""
    if value in (None, ""):
        return 0
    try:
        size = int(value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"Invalid value at 'page_size' (TYPE_INT32), \"{value}\"") from None
    if size < 0:
        raise InvalidArgument("pageSize must not be negative.", reason="INVALID_PAGE_SIZE")
    return size


def exactly_one(request: dict, first: str, second: str, what: str) -> str:
    has_first, has_second = first in request, second in request
    if has_first and has_second:
        raise InvalidArgument(
            f"Set either {first} or {second} to identify the {what}, not both.", reason="INVALID_ARGUMENT"
        )
    if not has_first and not has_second:
        raise InvalidArgument(f"{first} or {second} is required.", reason="INVALID_ARGUMENT")
    return first if has_first else second


def next_id(conn: sqlite3.Connection, table: str, column: str, floor: int) -> int:
    """A fresh id for a new row: one more than the largest, and at least ``floor``."""
    row = conn.execute(f"SELECT MAX({column}) FROM {table}").fetchone()  # noqa: S608 - constants
    return max(floor, (row[0] or 0) + 1)
