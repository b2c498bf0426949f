# ruff: noqa: RUF001 - confusable characters (fullwidth, mathematical digits) are the point here
"""What the hostile-input tests generate, and how long Hypothesis may look.

Every property test here takes ``@bounded``: a few dozen examples each, no deadline (a page renders in
tens of milliseconds, more on a busy machine) and no example database, so ``make test`` stays fast and
leaves nothing behind. ``HOSTILE_EXAMPLES=2000 pytest tests/hostile`` looks much harder, for a bug hunt.
A case Hypothesis finds belongs in ``corpus/`` afterwards, where every run replays it.
"""

import base64
import json
import os
import re

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "30"))

bounded = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    # The Django test client and the database are the same for every example of a test: the
    # examples only read, or add draft jobs that no later example depends on.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)

# Pieces that have broken parsers and pages elsewhere: spreadsheet formulas, control and direction
# characters, other scripts' digits, numbers past 64 bits, paths, markup and SQL.
ATOMS = [
    '=HYPERLINK("http://evil.example","x")',
    "=cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\t=1",
    "\x00",
    "\x7f",
    "\x1b[31m",
    "\u202e",
    "\u200f",
    "\u200b",
    "\ufeff",
    "\ufffd",
    "１２３４５",
    "٣٤٥",
    "𝟏𝟐𝟑",
    "Ⅻ",
    "ǅ",
    "ß",
    "İ",
    "e\u0301",
    "🙂",
    str(2**63),
    str(2**70),
    "-" + str(2**63),
    "1e400",
    "3.5064E+14",
    "NaN",
    "-0",
    "../../etc/passwd",
    "..\\..\\boot.ini",
    "%00",
    "%2e%2e%2f",
    "<script>alert(1)</script>",
    '"><svg onload=alert(1)>',
    "{{ 7*7 }}",
    "{% debug %}",
    "' OR '1'='1",
    "1; DROP TABLE devices_device;--",
    "\r\n",
    "\r",
    "\n",
    ",",
    ";",
    "\t",
    '"',
    " ",
    "x" * 300,
]

# Text a browser can send: any character but lone surrogates, which no UTF-8 query string or form
# body can carry (Django decodes broken UTF-8 to U+FFFD before a view sees it).
sendable_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)

hostile_text = st.one_of(
    sendable_text,
    st.lists(st.one_of(st.sampled_from(ATOMS), sendable_text), min_size=1, max_size=6).map("".join),
    st.integers().map(str),
    st.sampled_from(ATOMS),
)


def numbers_as_text(limit: int | None = None):
    """Integers written out, small and past 64 bits, with the spellings people paste: signs, zeros,
    spaces, decimals. ``limit``: none larger in absolute value (for inputs kept in range on purpose)."""
    integers = st.integers() if limit is None else st.integers(-limit, limit)
    return st.one_of(
        integers.map(str),
        integers.map(lambda n: f" {n} "),
        integers.map(lambda n: f"+{n}" if n >= 0 else str(n)),
        integers.map(lambda n: f"00{abs(n)}"),
        integers.map(lambda n: f"{n}.0"),
        integers.map(lambda n: str(abs(n)).translate(FULLWIDTH)),
    )


FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def cursor_of(value) -> str:
    """A page cursor as the pages write them: JSON, base64url."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


def cursors(*, surrogates: bool = True):
    """Cursors a hand or a bot could make: well-formed JSON of any shape (lists of the right length
    with wrong types included), base64 of any bytes, and text that is not base64 at all.
    ``surrogates=False`` leaves out strings holding lone surrogates (a known bug, tested apart)."""
    text = st.text(max_size=30)
    if not surrogates:
        text = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
    pairs = st.lists(
        st.one_of(st.integers(), text, st.floats(), st.booleans(), st.none()), min_size=1, max_size=4
    )
    return st.one_of(
        pairs.map(cursor_of),
        (json_values if surrogates else json_values.filter(lambda v: not _has_surrogate(v))).map(cursor_of),
        st.binary(max_size=60).map(lambda raw: base64.urlsafe_b64encode(raw).decode()),
        st.binary(max_size=60).map(lambda raw: base64.urlsafe_b64encode(raw).decode().rstrip("=")),
        sendable_text,
    )


def _has_surrogate(value) -> bool:
    return bool(re.search(r"\\ud[89a-f]", json.dumps(value), re.IGNORECASE))
