"""Checks on text that came from outside (a cursor, a query parameter, a typed name) before it reaches
a query or the API."""

import unicodedata


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


# Characters a person cannot see that still change what a name or an address is: bidi controls
# (U+202A-U+202E, U+2066-U+2069), zero-width characters (U+200B-U+200D, U+2060) and the BOM. Most
# are in Unicode's "Cf" category too; they are named here so that the rule does not hang on it.
_INVISIBLE = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200c\u200d\u2060\ufeff")


def visible(text: str) -> str:
    """``text`` as a person sees it: NFKC-normalised ("gmail" in full-width letters is "gmail", the
    "fi" ligature is "fi"), with control and format characters (categories Cc and Cf, bidi overrides,
    zero-width characters) removed. Whitespace controls (tab, newline) become a space rather than
    gluing two words together, so that a list typed one per line stays a list."""
    kept = []
    for char in unicodedata.normalize("NFKC", text):
        if char.isspace():
            kept.append(" " if unicodedata.category(char) == "Cc" else char)
        elif char not in _INVISIBLE and unicodedata.category(char) not in ("Cc", "Cf"):
            kept.append(char)
    return "".join(kept)
