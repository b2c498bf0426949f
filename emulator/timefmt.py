"""RFC 3339 timestamps as Google's JSON writes them (UTC, ``Z`` suffix)."""

from __future__ import annotations

from datetime import UTC, datetime


def format_time(epoch_seconds: float) -> str:
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}Z"


def parse_time(value: str) -> float:
    """Seconds since the epoch for an RFC 3339 timestamp (``...Z`` or with an offset)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if "." in text:
        head, _, tail = text.partition(".")
        digits = ""
        while tail and tail[0].isdigit():
            digits, tail = digits + tail[0], tail[1:]
        text = f"{head}.{digits[:6].ljust(6, '0')}{tail}"
    return datetime.fromisoformat(text).timestamp()
