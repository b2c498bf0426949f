"""Checks on text that came from outside (a cursor, a query parameter) before it reaches a query."""


def storable(text: str) -> bool:
    """True when a database can store and compare ``text``: no NUL character (PostgreSQL refuses it)
    and no lone surrogate (JSON can spell one, ``"\\ud800"``, and UTF-8 cannot encode it)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
