"""The one cursor codec of keyset paging: links handed out by the devices and customers pages keep
working, and anything else is refused before it reaches a query."""

import base64

import pytest

from core.paging import InvalidCursor, decode_cursor, encode_cursor

# Cursors as the devices and the customers pages wrote them before they shared this codec.
DEVICES_BY_MODEL = "WyJSNThOLTAwMDEyIiwxMl0="  # ["R58N-00012", 12]
DEVICES_BY_ID = "WzQxMDAwMDAwMDAsNDEwMDAwMDAwMF0="  # [4100000000, 4100000000]
CUSTOMERS_BY_NAME = "WyJtXHUwMGZjbGxlciBzXHUwMGY2aG5lIGdtYmgiLDUwM10="  # ["müller söhne gmbh", 503]
CUSTOMERS_BY_DEVICES = "WzEyLCJ6ZW5pdGgiLDdd"  # [12, "zenith", 7]


def test_cursors_written_before_still_read_the_same():
    assert decode_cursor(DEVICES_BY_MODEL, (str, int), longest_text=256) == ["R58N-00012", 12]
    assert decode_cursor(DEVICES_BY_ID, (int, int), longest_text=256) == [4100000000, 4100000000]
    assert decode_cursor(CUSTOMERS_BY_NAME, (str, int), longest_text=300) == ["müller söhne gmbh", 503]
    assert decode_cursor(CUSTOMERS_BY_DEVICES, (int, str, int), longest_text=300) == [12, "zenith", 7]


def test_a_cursor_is_written_as_before():
    assert encode_cursor("R58N-00012", 12) == DEVICES_BY_MODEL
    assert encode_cursor("müller söhne gmbh", 503) == CUSTOMERS_BY_NAME


def _raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        _raw("{}"),
        _raw('["R58N", 12, 3]'),  # another sort's cursor
        _raw("[12, 12]"),  # a number where the sort value is text
        _raw('["R58N", true]'),  # a boolean is not an id
        _raw('["R58N", -1]'),
        _raw('["R58N", 9223372036854775808]'),  # past the largest 64-bit key
        _raw('["' + "x" * 257 + '", 12]'),
        _raw('["a\\u0000b", 12]'),  # PostgreSQL cannot store NUL
        _raw('["\\ud800", 12]'),  # a lone surrogate UTF-8 cannot encode
    ],
)
def test_anything_else_is_refused_with_the_pages_sentence(cursor):
    with pytest.raises(InvalidCursor, match=r"^Start over$"):
        decode_cursor(cursor, (str, int), longest_text=256, refusal="Start over")
