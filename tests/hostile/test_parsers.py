"""The batch parsers under hostile files and pasted text: any input gives rows or a ``FileRefused``
sentence, never another exception, and what comes out is safe to store and to show.

tests/batches/test_parsing.py holds the parsers' own property tests (random bytes, round trips, read
sizes); these add the shapes an attacker or a careless export makes: other encodings, NULs, formula
cells, huge lines, mixed delimiters."""

import codecs
import io

from hypothesis import assume, given
from hypothesis import strategies as st

from batches.parsing import FileRefused, Limits, parse_csv, parse_pasted
from core.csv import safe_cell
from tests.hostile.strategies import ATOMS, bounded, hostile_text

HEADERS = [
    "imei",
    "IMEI;model",
    "imei\tmodel\tordernumber",
    "serial,model,manufacturer",
    "modemtype,modemid,serial,model,manufacturer,profiletype,owner,ordernumber,phonenumber",
    "identifier",
    "=imei,model",
    "imei,imei",
    "Imei , Order Number",
]
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252", "shift_jis"]
FORMULAS = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", '=HYPERLINK("http://x")', "\t=1", "\r=1"]


@st.composite
def hostile_files(draw):
    """A device list as a careless export or an attacker writes it: a header, rows of hostile cells
    joined by any delimiter (not always the header's), any line ending, in any encoding."""
    header = draw(st.sampled_from(HEADERS))
    rows = draw(
        st.lists(
            st.lists(st.one_of(hostile_text, st.sampled_from(FORMULAS)), min_size=1, max_size=5).map(
                lambda cells: draw(st.sampled_from([",", ";", "\t", ",;"])).join(cells)
            ),
            max_size=6,
        )
    )
    newline = draw(st.sampled_from(["\r\n", "\n", "\r"]))
    text = newline.join([header, *rows]) + draw(st.sampled_from(["", newline]))
    encoding = draw(st.sampled_from(ENCODINGS))
    return text.encode(encoding, "replace")


DEFAULT_LIMITS = Limits()
LIMITS = st.one_of(
    st.just(DEFAULT_LIMITS),
    st.builds(
        Limits,
        max_bytes=st.integers(16, 4000),
        max_rows=st.integers(1, 8),
        max_line_length=st.integers(4, 200),
    ),
)


def read(content: bytes, limits: Limits = DEFAULT_LIMITS, name: str = "devices.csv"):
    """(rows, None) or (None, the refusal's sentence)."""
    try:
        return list(parse_csv(io.BytesIO(content), limits=limits, name=name)), None
    except FileRefused as refused:
        return None, str(refused)


def assert_sentence(message: str) -> None:
    assert message[:1].isupper() and message.endswith("."), message
    assert 20 <= len(message) <= 600, message
    assert "Traceback" not in message and "b'" not in message, message


def assert_safe_rows(rows) -> None:
    """What a row holds may be stored (no NUL: PostgreSQL refuses it) and shown; its errors are
    sentences (some start with a column's name, in lower case: "modemtype is ...")."""
    for row in rows:
        for key, value in [*row.fields.items(), *row.raw.items()]:
            assert "\x00" not in key and "\x00" not in value, row
        for message in row.errors:
            assert message[:1].isalpha() and message.endswith("."), message
            assert len(message) >= 20 and "Traceback" not in message, message


@bounded
@given(content=hostile_files(), limits=LIMITS, name=hostile_text)
def test_any_file_gives_rows_or_one_sentence(content, limits, name):
    rows, refusal = read(content, limits, name)

    if refusal is not None:
        assert_sentence(refusal)
        assert "\x00" not in refusal
    else:
        assert_safe_rows(rows)
        assert len(rows) <= limits.max_rows


@bounded
@given(content=hostile_files())
def test_a_file_that_is_not_utf8_is_refused_never_read_as_mojibake(content):
    body = content.removeprefix(codecs.BOM_UTF8)
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        assume(False)

    rows, refusal = read(content)

    assert rows is None
    assert_sentence(refusal)


@bounded
@given(
    header=st.sampled_from(HEADERS),
    rows=st.lists(hostile_text, min_size=1, max_size=5),
    spiked=st.integers(0, 4),
    at=st.integers(0, 50),
    padding=st.sampled_from([0, 10, 2100, 5000]),
)
def test_a_nul_in_a_row_never_reaches_the_row(header, rows, spiked, at, padding):
    """A NUL in the first 4 KB refuses the file (binary data); past them, where the sniff does not
    look, it becomes U+FFFD with a row error. (A NUL in the header past 4 KB: test_known_bugs.py.)"""
    row = rows[spiked % len(rows)]
    rows[spiked % len(rows)] = row[:at] + "\x00" + row[at:]
    content = ("\r\n" * padding + "\r\n".join([header, *rows])).encode()

    found, refusal = read(content)

    if refusal is not None:
        assert_sentence(refusal)
    else:
        assert_safe_rows(found)
        assert any("NUL character" in message for row in found for message in row.errors)


@bounded
@given(content=hostile_files())
def test_a_byte_order_mark_changes_nothing(content):
    try:
        text = content.removeprefix(codecs.BOM_UTF8).decode("utf-8")
    except UnicodeDecodeError:
        assume(False)

    assert read(text.encode("utf-8")) == read(codecs.BOM_UTF8 + text.encode("utf-8"))


@bounded
@given(
    length=st.integers(1, 300), limit=st.integers(4, 200), where=st.sampled_from(["header", "row", "last"])
)
def test_a_line_past_the_limit_refuses_the_file(length, limit, where):
    lines = {
        "header": ["imei," + "m" * length, "490154203237518"],
        "row": ["imei", "9" * length, "490154203237518"],
        "last": ["imei", "490154203237518", "9" * length],
    }[where]

    rows, refusal = read("\r\n".join(lines).encode(), Limits(max_line_length=limit))

    if max(len(line) for line in lines) > limit:
        assert rows is None and "longer than" in refusal, refusal
    else:
        assert refusal is None or "longer than" not in refusal, refusal


@bounded
@given(
    cells=st.lists(
        st.sampled_from(FORMULAS + [atom for atom in ATOMS if "\x00" not in atom]), min_size=1, max_size=5
    )
)
def test_formula_cells_are_read_as_text_and_exported_inert(cells):
    """A formula is data: it reaches the row verbatim (the validator refuses it as an identifier),
    and the results export neutralises it so that no spreadsheet runs it."""
    content = "order number,imei\r\n" + "".join(
        f'"{cell.replace(chr(34), chr(34) * 2)}",490154203237518\r\n' for cell in cells
    )

    rows, refusal = read(content.encode())

    assert refusal is None, refusal
    assert [row.raw["order number"] for row in rows] == cells
    for row in rows:
        assert row.fields["ordernumber"] == row.raw["order number"].strip()
        assert not safe_cell(row.raw["order number"]).startswith(("=", "+", "-", "@", "\t", "\r"))


@bounded
@given(
    text=st.one_of(
        hostile_text,
        st.lists(st.one_of(hostile_text, st.sampled_from(FORMULAS)), max_size=8).map("\n".join),
        hostile_files().map(lambda content: content.decode("utf-8", "replace")),
    ),
    limits=LIMITS,
)
def test_any_pasted_text_gives_rows_or_one_sentence(text, limits):
    try:
        rows = list(parse_pasted(text, limits=limits))
    except FileRefused as refused:
        assert_sentence(str(refused))
    else:
        assert_safe_rows(rows)
        assert all(row.fields for row in rows)


@bounded
@given(lines=st.integers(0, 40), limit=st.integers(1, 20))
def test_pasted_lines_past_the_row_limit_are_refused(lines, limit):
    text = "\n".join(["490154203237518"] * lines)

    try:
        rows = list(parse_pasted(text, limits=Limits(max_rows=limit)))
    except FileRefused as refused:
        assert lines > limit or lines == 0
        assert_sentence(str(refused))
    else:
        assert len(rows) == lines <= limit
