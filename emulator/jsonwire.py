"""JSON on the wire, fast enough for pages of devices.

Device documents are kept pre-serialized in the state file and spliced into responses as
:class:`RawJSON` fragments instead of being parsed and serialized again on every request. A
``RawJSON`` behaves as a read-only mapping (parsed on first access), so code that calls the backend
directly (tests) reads it like any dict.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator, Mapping

_NONCE = secrets.token_hex(4)
_PLACEHOLDER = re.compile(r'"\\u0000' + _NONCE + r':(\d+)\\u0000"')


class RawJSON(Mapping):
    """An already serialized JSON object."""

    __slots__ = ("_parsed", "text")

    def __init__(self, text: str):
        self.text = text
        self._parsed: dict | None = None

    def _value(self) -> dict:
        if self._parsed is None:
            self._parsed = json.loads(self.text)
        return self._parsed

    def __getitem__(self, key):
        return self._value()[key]

    def __iter__(self) -> Iterator:
        return iter(self._value())

    def __len__(self) -> int:
        return len(self._value())

    def __repr__(self) -> str:
        return f"RawJSON({self.text})"


_PLAIN = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII but " and \: nothing to escape


def string(value: str) -> str:
    """A JSON string literal."""
    return f'"{value}"' if _PLAIN.fullmatch(value) else json.dumps(value, ensure_ascii=False)


def _dumps_member(value) -> str:
    if type(value) is list and value and all(type(item) is RawJSON for item in value):
        return "[" + ",".join(item.text for item in value) + "]"
    return _dumps_any(value)


def dumps(payload) -> bytes:
    """Compact JSON of ``payload``, with every ``RawJSON`` fragment spliced in verbatim.

    The common shape, an object whose lists hold only fragments (pages of devices), is written
    directly; anything else goes through the encoder with placeholders.
    """
    if type(payload) is dict:
        members = ",".join(f"{string(key)}:{_dumps_member(value)}" for key, value in payload.items())
        return ("{" + members + "}").encode()
    return _dumps_any(payload).encode()


def _dumps_any(payload) -> str:
    fragments: list[str] = []

    def placeholder(value):
        if isinstance(value, RawJSON):
            fragments.append(value.text)
            return f"\x00{_NONCE}:{len(fragments) - 1}\x00"
        if isinstance(value, Mapping):
            return dict(value)
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=placeholder)
    if fragments:
        text = _PLACEHOLDER.sub(lambda match: fragments[int(match.group(1))], text)
    return text
