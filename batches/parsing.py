"""Reading an uploaded CSV file or pasted text into rows for a bulk claim, unclaim or metadata job.

Parsing only: this module says what each row holds, by the portal's field names, and refuses a file
it cannot read with one sentence a salesperson can act on. Whether an IMEI is valid or a customer
exists is the validator's business (``devices.identifiers``, ``devices.claims``), so values are passed
through as text, scientific-notation IMEIs and formula-looking cells included.

Two layouts are read: Google's reseller-portal CSV (``modemtype,modemid,serial,model,manufacturer,
profiletype,owner`` plus ``ordernumber``/``phonenumber``) and the portal's simple form (an ``imei``,
``meid``, ``serial`` or ``identifier`` column with optional others). Either may add ``sectiontype``
and ``simlockprofileid`` for claims and unclaims in SIM lock (the pre-flight reads their values).
Files are read in chunks and rows are yielded as they are read, so a 100,000-row file never sits
whole in memory; a refusal (``FileRefused``) can therefore come in the middle of the iteration, after
some rows were yielded.
"""

import codecs
import csv
import io
import re
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import BinaryIO, NamedTuple


class FileRefused(Exception):
    """The whole file or text is refused, with one sentence a salesperson can act on (str(exc))."""


class ParsedRow(NamedTuple):
    """One row of devices as read, before any validation.

    ``number`` is the row as a spreadsheet shows it: the header is 1 when it is on the first line,
    blank rows count (they are skipped, not renumbered) and a quoted cell spanning several lines
    stays one row. For pasted identifiers it is the line number. (A named tuple rather than a frozen
    dataclass: as immutable, and made several times faster, which counts at 100,000 rows a file.)
    """

    number: int
    fields: dict[str, str]
    raw: dict[str, str]
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Limits:
    """Past these a file is refused whole: bytes read, rows under the header (blank rows count too:
    each costs a read), characters on one line (a longer line means this is not a device list, or a
    quote left open) and cells in one row (the header, or a row: a wider one is not a device list)."""

    max_bytes: int = 20 * 1024 * 1024
    max_rows: int = 100_000
    max_line_length: int = 64 * 1024  # characters on one line of the file
    max_cells: int = 200  # cells in one row, the header included


@dataclass(frozen=True)
class HeaderColumns:
    """What a header row means.

    ``names`` are the raw keys of every row, in the header's order: each header cell as given, or
    ``(column F)`` for a cell left empty. ``columns`` maps the portal's names (imei, meid,
    serial_number, manufacturer, model, customer_id, ordernumber, phonenumber, profiletype,
    section_type, simlock_profile_id, device_type, chrome_os_attested_device_id, identifier,
    modemtype, modemid) to the header cell
    that gives them; ``ignored`` are the header cells the portal does not read.
    """

    layout: str  # "google" (modemtype/modemid) or "simple"
    names: tuple[str, ...]
    columns: dict[str, str]
    ignored: tuple[str, ...]


# --- Header names --------------------------------------------------------------------------------

# Header cells are compared case-insensitively without spaces, underscores, hyphens or dots, so
# "Order Number", "order_number" and "ORDERNUMBER" are one column.
_ALIASES = {
    "imei": "imei",
    "imeinumber": "imei",
    "meid": "meid",
    "meidnumber": "meid",
    "serial": "serial_number",
    "serialnumber": "serial_number",
    "serialno": "serial_number",
    "manufacturer": "manufacturer",
    "model": "model",
    "customer": "customer_id",
    "customerid": "customer_id",
    "owner": "customer_id",
    "companyid": "customer_id",
    "ordernumber": "ordernumber",
    "orderno": "ordernumber",
    "phonenumber": "phonenumber",
    "phone": "phonenumber",
    "phoneno": "phonenumber",
    "profiletype": "profiletype",
    "sectiontype": "section_type",
    "simlockprofileid": "simlock_profile_id",
    "simlockprofile": "simlock_profile_id",
    "devicetype": "device_type",
    "chromeosattesteddeviceid": "chrome_os_attested_device_id",
    "attesteddeviceid": "chrome_os_attested_device_id",
    "identifier": "identifier",
    "device": "identifier",
    "deviceidentifier": "identifier",
    "modemtype": "modemtype",
    "modemid": "modemid",
}
_IDENTIFIER_COLUMNS = {"imei", "meid", "serial_number", "identifier", "modemid"}
_LABELS = {
    "imei": "the IMEI",
    "meid": "the MEID",
    "serial_number": "the serial number",
    "manufacturer": "the manufacturer",
    "model": "the model",
    "customer_id": "the customer",
    "ordernumber": "the order number",
    "phonenumber": "the phone number",
    "profiletype": "the profile type",
    "section_type": "the section type",
    "simlock_profile_id": "the SIM-lock profile id",
    "device_type": "the device type",
    "chrome_os_attested_device_id": "the attested device id",
    "identifier": "the device identifier",
    "modemtype": "the modem type",
    "modemid": "the modem id",
}
_NAME_NOISE = re.compile(r"[\s_\-.]+")
_DEVICE_TYPES = {
    "android": "android",
    "devicetypeandroid": "android",
    "chromeos": "chrome_os",
    "chrome": "chrome_os",
    "devicetypechromeos": "chrome_os",
}
_MODEM_TYPES = {"imei": "imei", "meid": "meid"}
_MODEM_TYPES_AS_WRITTEN = {
    "IMEI": "imei",
    "MEID": "meid",
    "imei": "imei",
    "meid": "meid",
}  # no reading needed
_EXPECTED = (
    "it needs an imei, meid, serial or identifier column, "
    "or Google's format (modemtype,modemid,serial,model,manufacturer,profiletype,owner)"
)


def _column_key(name: str) -> str:
    return _NAME_NOISE.sub("", name).casefold()


def _column_letter(index: int) -> str:
    """The spreadsheet's name of a 0-based column: A, B, ... Z, AA, AB, ..."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


# C0 controls, DEL and C1 controls (ESC, BEL, the one-character CSI U+009B...): what a terminal acts on.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with its control characters shown as '?': a user's text quoted in a message, or printed
    on an operator's terminal, where an escape sequence would otherwise retitle or clear it."""
    return _CONTROL.sub("?", text)


def _shown(text: str, limit: int = 40) -> str:
    """A user's text quoted in a message: control characters made visible, long text cut."""
    text = printable(text)
    return f"'{text[:limit]}…'" if len(text) > limit else f"'{text}'"


def header_columns(names: Sequence[str]) -> HeaderColumns:
    """Which of the portal's columns a header row gives; ``FileRefused`` when it cannot be used.

    Refused: a header naming no identifier column (the message lists the columns it has and the ones
    expected), a column given twice (the same name, or two spellings of one column), and a header
    that mixes Google's modemtype/modemid with imei/meid/identifier columns or has one of modemtype
    and modemid without the other.
    """
    if any("\x00" in name for name in names):  # it would become a key of every row's raw cells
        raise FileRefused("The header row contains a NUL character: remove it and upload again.")
    keys = []
    columns: dict[str, str] = {}
    ignored = []
    seen: dict[str, str] = {}
    for index, name in enumerate(names):
        stripped = name.strip()
        if not stripped:
            keys.append(f"(column {_column_letter(index)})")
            continue
        folded = stripped.casefold()
        if folded in seen:
            raise FileRefused(
                f"The header has the column {_shown(stripped)} twice: keep one of them and upload again."
            )
        seen[folded] = stripped
        keys.append(name)
        canonical = _ALIASES.get(_column_key(stripped))
        if canonical is None:
            ignored.append(name)
        elif canonical in columns:
            raise FileRefused(
                f"The columns {_shown(columns[canonical].strip())} and {_shown(stripped)} both give "
                f"{_LABELS[canonical]}: keep one of them and upload again."
            )
        else:
            columns[canonical] = name
    if not _IDENTIFIER_COLUMNS & columns.keys():
        found = ", ".join(_shown(name.strip()) for name in seen.values()) or "no column names"
        if len(seen) > 12:
            found = ", ".join(_shown(name) for name in list(seen.values())[:12]) + ", …"
        raise FileRefused(
            f"The first row must name the columns, but it names no device identifier "
            f"(it has {found}): {_EXPECTED}."
        )
    google = {"modemtype", "modemid"} & columns.keys()
    if google:
        if len(google) == 1:
            present, missing = ("modemtype", "modemid") if "modemtype" in google else ("modemid", "modemtype")
            raise FileRefused(
                f"The header has Google's {present} column but no {missing} column: "
                "add it (modemtype says IMEI or MEID, modemid holds the number) and upload again."
            )
        if mixed := sorted({"imei", "meid", "identifier"} & columns.keys()):
            raise FileRefused(
                f"The header mixes Google's modemtype/modemid columns with the column "
                f"{_shown(columns[mixed[0]].strip())}: use one format and upload again."
            )
    return HeaderColumns(
        layout="google" if google else "simple",
        names=tuple(keys),
        columns=columns,
        ignored=tuple(ignored),
    )


def ignored_columns(raw: dict[str, str], *, unread: Collection[str] = ()) -> list[str]:
    """The columns of a row's header that the portal does not read (named in the preview), from the
    row's raw cells: unnamed columns and cells beyond the header are left out. ``unread`` are the
    portal's column names (``section_type``...) that the job at hand does not read either."""
    return [
        name.strip()
        for name in raw
        if not name.startswith("(column ")
        and ((canonical := _ALIASES.get(_column_key(name.strip()))) is None or canonical in unread)
    ]


# --- Reading lines -----------------------------------------------------------------------------

_CHUNK = 64 * 1024
_SNIFF = 4096
_DELIMITERS = (",", ";", "\t")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
_SAVE_AS_UTF8 = "save it again as 'CSV UTF-8' (in Excel: Save As, file format CSV UTF-8) and upload that file"
_SIGNATURES = (
    (
        b"PK\x03\x04",
        "is a spreadsheet workbook (Excel .xlsx or similar), not a CSV file: save it as CSV "
        "from Excel (Save As, file format CSV UTF-8) and upload that file",
    ),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "is an Excel workbook (.xls), not a CSV file: save it as CSV "
        "from Excel (Save As, file format CSV UTF-8) and upload that file",
    ),
    (b"%PDF", "is a PDF document, not a CSV file: export the device list as CSV and upload that"),
    (b"\x89PNG", "is an image, not a CSV file: export the device list as CSV and upload that"),
    (b"\xff\xd8\xff", "is an image, not a CSV file: export the device list as CSV and upload that"),
    (b"GIF8", "is an image, not a CSV file: export the device list as CSV and upload that"),
    (b"\x1f\x8b", "is a compressed (gzip) file, not a CSV file: upload the CSV file itself"),
    (b"\xff\xfe", f"is saved as UTF-16 ('Unicode text'), not UTF-8: {_SAVE_AS_UTF8}"),
    (b"\xfe\xff", f"is saved as UTF-16 ('Unicode text'), not UTF-8: {_SAVE_AS_UTF8}"),
)


def _subject(name: str) -> str:
    name = _CONTROL.sub("", name)[:80].strip()
    return f"The file {name}" if name else "The file"


def _size(count: int) -> str:
    for unit, size in (("MB", 1024 * 1024), ("KB", 1024)):
        if count >= size and count % size == 0:
            return f"{count // size:,} {unit}"
    return f"{count:,} bytes"


def _sniff(head: bytes, subject: str) -> None:
    """Refuse what is plainly not CSV text, from the first few KB of the file."""
    for signature, problem in _SIGNATURES:
        if head.startswith(signature):
            raise FileRefused(f"{subject} {problem}.")
    sample = head[:_SNIFF]
    if b"\x00" in sample:
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        half = max(len(sample) // 2, 1)
        if max(even, odd) > 0.3 * half and min(even, odd) < 0.05 * half:
            raise FileRefused(f"{subject} is saved as UTF-16 ('Unicode text'), not UTF-8: {_SAVE_AS_UTF8}.")
        raise FileRefused(
            f"{subject} is not a CSV file (it holds binary data): export the device list as CSV "
            "(UTF-8) and upload that file."
        )


def _too_long(line_number: int, limits: Limits) -> FileRefused:
    return FileRefused(
        f"Line {line_number:,} is longer than {limits.max_line_length:,} characters, so this is not a "
        "list of devices: check that this is the right file, or export it again as CSV."
    )


def _byte_lines(stream: BinaryIO, limits: Limits, subject: str) -> Iterator[str]:
    """The stream's lines as text, line endings kept, read a chunk at a time.

    Lines end at \\n, \\r\\n or a lone \\r (old Mac Excel), as ``newline=""`` reads them; a chunk is
    cut after its last line ending so that UTF-8 is decoded by whole lines and a decoding error
    names its line.
    """
    total = 0
    lines_before = 0
    pending = b""
    first = True
    eof = False
    while not eof:
        # Read a chunk, or less when a slow stream has already given a line ending (and, at the
        # start, enough bytes to tell a binary file).
        parts = [pending]
        got = 0
        while True:
            chunk = stream.read(min(_CHUNK, limits.max_bytes - total + 1))
            if not chunk:
                eof = True
                break
            total += len(chunk)
            if total > limits.max_bytes:
                raise FileRefused(
                    f"{subject} is larger than {_size(limits.max_bytes)}: split it into smaller files "
                    "and upload each."
                )
            parts.append(chunk)
            got += len(chunk)
            if got >= _CHUNK or (got >= (_SNIFF if first else 1) and (b"\n" in chunk or b"\r" in chunk)):
                break
        data = b"".join(parts)
        if first:
            first = False
            _sniff(data, subject)
            if data.startswith(codecs.BOM_UTF8):
                data = data[len(codecs.BOM_UTF8) :]
        if eof:
            block, pending = data, b""
        else:
            # A \r at the very end may be the first half of \r\n: keep it for the next chunk.
            searched = data[:-1] if data.endswith(b"\r") else data
            cut = max(searched.rfind(b"\n"), searched.rfind(b"\r")) + 1
            block, pending = data[:cut], data[cut:]
            if len(pending) > 4 * limits.max_line_length + 4:  # 4 bytes per character at most
                raise _too_long(lines_before + len(block.splitlines()) + 1, limits)
        if not block:
            continue
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError as error:
            prefix = block[: error.start]
            line_number = lines_before + len(prefix.splitlines())
            if not prefix or prefix.endswith((b"\n", b"\r")):
                line_number += 1
            raise FileRefused(
                f"{subject} is not UTF-8 text (line {line_number:,} has bytes that are not): {_SAVE_AS_UTF8}."
            ) from None
        for line in io.StringIO(text, newline=""):
            lines_before += 1
            if len(line) > limits.max_line_length and len(line.rstrip("\r\n")) > limits.max_line_length:
                raise _too_long(lines_before, limits)
            yield line


def _text_lines(text: str, limits: Limits) -> Iterator[str]:
    for number, line in enumerate(io.StringIO(text, newline=""), 1):
        if len(line) > limits.max_line_length and len(line.rstrip("\r\n")) > limits.max_line_length:
            raise _too_long(number, limits)
        yield line


# --- Reading rows ------------------------------------------------------------------------------

_DELIMITERS_AND_QUOTES = str.maketrans("", "", ',;\t"')


def _known_columns(line: str, delimiter: str) -> int:
    try:
        cells = next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return 0
    return sum(1 for cell in cells if _column_key(cell.strip()) in _ALIASES)


def _detect_delimiter(line: str) -> str:
    """Of comma, semicolon and tab, the one that splits the header into the most known columns
    (ties: the first of that order, so comma)."""
    return max(_DELIMITERS, key=lambda delimiter: _known_columns(line, delimiter))


def _csv_error(error: csv.Error, number: int, line: int) -> FileRefused:
    detail = str(error)
    if "end of data" in detail or "field larger" in detail:
        problem = 'opens a quote (") that is never closed'
    elif "expected after" in detail:
        problem = 'has text after a closing quote (")'
    else:
        problem = f"is not valid CSV ({detail})"
    return FileRefused(
        f"Row {number:,} (from line {line:,}) {problem}: fix the quotes in that row and upload again."
    )


def _too_many_rows(subject: str, limits: Limits, *, blank: bool) -> FileRefused:
    most = f"{limits.max_rows:,}"
    if blank:
        return FileRefused(
            f"{subject} has more than {most} rows, blank rows included: delete the blank rows, or split "
            f"it into files of at most {most} rows and upload each."
        )
    return FileRefused(
        f"{subject} has more than {most} rows: split it into files of at most {most} rows and upload each."
    )


def _too_many_lines(subject: str, limits: Limits, *, blank: bool) -> FileRefused:
    most = f"{limits.max_rows:,}"
    if blank:
        return FileRefused(
            f"{subject} has more than {most} lines, blank lines included: delete the blank lines, or paste "
            f"at most {most} at a time."
        )
    return FileRefused(f"{subject} has more than {most} lines: paste at most {most} at a time.")


# A row may have this many cells with text past the header's width and still be read (each such row
# gets an error of its own); one with more, or with more than ``Limits.max_cells`` cells at all,
# refuses the file: it is not a list of devices, and its cells would be stored with every row.
_EXTRA_CELLS = 5


def _too_wide(
    number: int, cells: int, *, limits: Limits, header: int = 0, delimiter: str = ""
) -> FileRefused:
    """The refusal of a row of ``cells`` cells: the header's own (``header`` 0), or a row under it."""
    if not header:
        return FileRefused(
            f"Row {number:,} has {cells:,} cells; a header may have at most {limits.max_cells:,}. Check that "
            "this is the list of devices, or export it again as CSV with only the columns it needs."
        )
    return FileRefused(
        f"Row {number:,} has {cells:,} cells; the header has {header:,}. Check that this is the list of "
        f"devices, and that values holding a {delimiter} are in quotes, then upload again."
    )


class _RecordTooLong(Exception):
    pass


class _RecordFeed:
    """The lines the csv reader reads, with a cap on the characters of one record.

    A quote closed at the start of a line and opened again at its end joins lines into one record:
    without a cap a 20 MB file could become one record of millions of cells, which the csv module
    holds as one list before the row is looked at. The cap is a line and a whole field past the
    longest line, so a quote left open is still refused by the field limit (in its own words) first.
    ``spent`` is set back to 0 at each record.
    """

    __slots__ = ("lines", "spent")

    def __init__(self, lines: Iterator[str], limits: Limits) -> None:
        self.spent = 0
        self.lines = self._capped(lines, limits.max_line_length + csv.field_size_limit())

    def _capped(self, lines: Iterator[str], cap: int) -> Iterator[str]:
        for line in lines:
            self.spent += len(line)
            if self.spent > cap:
                raise _RecordTooLong(cap)
            yield line


def _first_content_line(
    lines: Iterator[str], *, limits: Limits, refusal: Callable[[], FileRefused]
) -> tuple[list[str], str | None]:
    """The lines up to and including the first that holds more than delimiters and spaces; the
    blank lines before it count toward the row limit (``refusal()`` past it), as blank rows do."""
    peeked = []
    for line in lines:
        peeked.append(line)
        if line.translate(_DELIMITERS_AND_QUOTES).strip():
            return peeked, line
        if len(peeked) > limits.max_rows:
            raise refusal()
    return peeked, None


class _Table:
    """How a header's columns become a row's ``fields`` and ``raw``."""

    def __init__(self, header: HeaderColumns, delimiter: str, limits: Limits) -> None:
        self.delimiter = _DELIMITER_NAMES[delimiter]
        self.limits = limits
        self.names = header.names
        self.width = len(header.names)
        position = {name: index for index, name in enumerate(header.names)}
        self.picks = [
            (canonical, position[name])
            for canonical, name in header.columns.items()
            if canonical not in ("modemtype", "modemid", "device_type")
        ]
        self.google = header.layout == "google"
        self.modem_type_at = position.get(header.columns.get("modemtype", ""), -1)
        self.modem_id_at = position.get(header.columns.get("modemid", ""), -1)
        self.device_type_at = position.get(header.columns.get("device_type", ""), -1)
        self.plain = not self.google and self.device_type_at < 0
        self.plain_google = self.google and self.device_type_at < 0

    def row(self, number: int, cells: list[str], joined: str) -> ParsedRow:
        if len(cells) == self.width and "\x00" not in joined:  # the common cases, quickly
            if self.plain:
                return ParsedRow(
                    number,
                    {canonical: cells[index].strip() for canonical, index in self.picks},
                    dict(zip(self.names, cells)),  # noqa: B905  (same length, checked above)
                )
            if self.plain_google and (kind := _MODEM_TYPES_AS_WRITTEN.get(cells[self.modem_type_at])):
                fields = {canonical: cells[index].strip() for canonical, index in self.picks}
                fields[kind] = cells[self.modem_id_at].strip()
                return ParsedRow(number, fields, dict(zip(self.names, cells)))  # noqa: B905  (as above)
        if len(cells) > self.width:
            self._check_width(number, cells)
        errors: tuple[str, ...] = ()
        if "\x00" in joined:
            cells = [cell.replace("\x00", "\ufffd") for cell in cells]
            errors += ("This row contains a NUL character (shown as \ufffd): remove it and upload again.",)
        width = self.width
        if len(cells) < width:
            cells += [""] * (width - len(cells))
        raw = dict(zip(self.names, cells))  # noqa: B905  (cells beyond the header are added below)
        if len(cells) > width:
            extra = cells[width:]
            while extra and not extra[-1].strip():
                extra.pop()
            if extra:
                for offset, cell in enumerate(extra):
                    raw[f"(column {_column_letter(width + offset)})"] = cell
                errors += (
                    f"This row has {width + len(extra)} cells but the header has {width}: check for a "
                    f"{self.delimiter} inside a value that is not in quotes.",
                )
        fields = {canonical: cells[index].strip() for canonical, index in self.picks}
        if self.google:
            modem_type = cells[self.modem_type_at].strip()
            modem_id = cells[self.modem_id_at].strip()
            if kind := _MODEM_TYPES.get(modem_type.casefold()):
                fields[kind] = modem_id
            elif modem_type:
                errors += (
                    f"modemtype is {_shown(modem_type)}; it must be IMEI or MEID "
                    "(or empty for a device named by its serial number).",
                )
            elif modem_id:
                errors += ("modemid is filled but modemtype is empty: write IMEI or MEID in modemtype.",)
        if self.device_type_at >= 0 and (device_type := cells[self.device_type_at].strip()):
            if kind := _DEVICE_TYPES.get(_column_key(device_type)):
                fields["device_type"] = kind
            else:
                errors += (f"The device type is {_shown(device_type)}; it must be android or chrome_os.",)
        return ParsedRow(number, fields, raw, errors)

    def _check_width(self, number: int, cells: list[str]) -> None:
        """Refuse the file at a row far wider than the header (see ``_EXTRA_CELLS``)."""
        used = len(cells)
        if used <= self.limits.max_cells:
            while used > self.width and not cells[used - 1].strip():
                used -= 1
            if used - self.width <= _EXTRA_CELLS:
                return
        raise _too_wide(number, len(cells), header=self.width, delimiter=self.delimiter, limits=self.limits)


def _parse_table(
    peeked: list[str], lines: Iterator[str], delimiter: str, limits: Limits, subject: str
) -> Iterator[ParsedRow]:
    """Rows under the first non-blank record (the header); blank records are counted, not yielded.

    Every record but the header counts toward ``limits.max_rows``, blank ones included: a file of
    millions of blank lines is refused at the limit rather than read to its end.
    """
    feed = _RecordFeed(chain(peeked, lines), limits)
    reader = csv.reader(feed.lines, delimiter=delimiter, strict=True)
    table = None
    number = 0  # records read, blank ones included: the spreadsheet's row number
    count = 0  # rows of devices
    line_before = 0
    try:
        for cells in reader:
            feed.spent = 0
            number += 1
            if number > limits.max_rows + 1:
                raise _too_many_rows(subject, limits, blank=count < limits.max_rows)
            joined = "".join(cells)
            if joined.strip():
                if table is not None:
                    count += 1
                    yield table.row(number, cells, joined)
                else:
                    if len(cells) > limits.max_cells:
                        raise _too_wide(number, len(cells), limits=limits)
                    table = _Table(header_columns(cells), delimiter, limits)
            line_before = reader.line_num
    except csv.Error as error:
        raise _csv_error(error, number + 1, line_before + 1) from None
    except _RecordTooLong as error:
        raise FileRefused(
            f"Row {number + 1:,} (from line {line_before + 1:,}) runs on over several lines for more than "
            f'{error.args[0]:,} characters, so this is not a list of devices: check the quotes (") in that '
            "row, or export the file again as CSV."
        ) from None
    if table is None:
        raise FileRefused(
            f"{subject} is empty: it needs a header line (e.g. imei,model) and a row for each device."
        )
    if not count:
        raise FileRefused(f"{subject} has a header but no rows of devices under it.")


def parse_csv(stream: BinaryIO, *, limits: Limits = Limits(), name: str = "") -> Iterator[ParsedRow]:
    """The device rows of an uploaded CSV file, read incrementally from a binary stream.

    The file must be UTF-8 (a byte-order mark is allowed), separated by commas, semicolons or tabs
    (whichever splits the header into the most known columns; comma on a tie) and start with a
    header row. Blank rows are skipped (and count toward the row limit). Raises ``FileRefused``
    (possibly after rows were yielded) for a file that is not CSV text, has no usable header or no
    rows, has a row far wider than its header, or passes ``limits``.
    ``name`` is the uploaded file's name, used in the refusal's sentence.
    """
    subject = _subject(name)
    lines = _byte_lines(stream, limits, subject)
    peeked, header_line = _first_content_line(
        lines, limits=limits, refusal=lambda: _too_many_rows(subject, limits, blank=True)
    )
    if header_line is None:
        raise FileRefused(
            f"{subject} is empty: it needs a header line (e.g. imei,model) and a row for each device."
        )
    yield from _parse_table(peeked, lines, _detect_delimiter(header_line), limits, subject)


def _pasted_header(line: str) -> str | None:
    """The delimiter when a pasted first line is a header, else None (a list of identifiers).

    A header names a known column and has a comma, semicolon or tab; a line holding only the name of
    an identifier column (``IMEI`` copied with its spreadsheet column) is a header too.
    """
    delimiter = _detect_delimiter(line)
    if not _known_columns(line, delimiter):
        return None
    if any(character in line for character in _DELIMITERS):
        return delimiter
    return delimiter if _ALIASES.get(_column_key(line.strip())) in _IDENTIFIER_COLUMNS else None


def parse_pasted(text: str, *, limits: Limits = Limits()) -> Iterator[ParsedRow]:
    """The device rows of pasted text: one identifier per line, or CSV under a header line.

    One identifier per line gives ``fields["identifier"]`` for the validator to classify; a line
    holding a tab, comma or semicolon gets a row error (several values pasted without a header).
    When the first non-blank line is a header (see ``_pasted_header``) the text is read as CSV with
    ``parse_csv``'s rules. The same size, line and row limits apply (blank lines count).
    """
    subject = "The pasted text"
    if len(text) > limits.max_bytes or (
        4 * len(text) > limits.max_bytes and len(text.encode("utf-8", "surrogatepass")) > limits.max_bytes
    ):
        raise FileRefused(f"{subject} is larger than {_size(limits.max_bytes)}: paste it in smaller parts.")
    lines = _text_lines(text, limits)
    peeked, first = _first_content_line(
        lines, limits=limits, refusal=lambda: _too_many_lines(subject, limits, blank=True)
    )
    if first is None:
        raise FileRefused(f"{subject} is empty: paste one IMEI, MEID or serial number per line.")
    if delimiter := _pasted_header(first):
        yield from _parse_table(peeked, lines, delimiter, limits, subject)
        return
    count = 0
    for number, line in enumerate(chain(peeked, lines), 1):
        if number > limits.max_rows:  # blank lines count: each costs a read
            raise _too_many_lines(subject, limits, blank=count < number - 1)
        value = line.rstrip("\r\n")
        identifier = value.strip()
        if not identifier:
            continue
        count += 1
        errors = []
        if "\x00" in value:
            value, identifier = value.replace("\x00", "\ufffd"), identifier.replace("\x00", "\ufffd")
            errors.append("This line contains a NUL character (shown as \ufffd): remove it and paste again.")
        if separator := next((_DELIMITER_NAMES[sign] for sign in "\t;," if sign in identifier), None):
            errors.append(
                f"This line holds several values separated by a {separator}: paste one identifier per line, "
                "or start with a header line such as imei,model."
            )
        yield ParsedRow(number, {"identifier": identifier}, {"identifier": value}, tuple(errors))


# --- Templates ---------------------------------------------------------------------------------

EXAMPLE_IMEI = "490154203237518"
TEMPLATES: dict[str, str] = {
    "claim": (
        f"imei,meid,serial,manufacturer,model,ordernumber,phonenumber\r\n{EXAMPLE_IMEI},,,,,PO-1001,+15555550100\r\n"
    ),
    "unclaim": f"imei,meid,serial,manufacturer,model\r\n{EXAMPLE_IMEI},,,,\r\n",
    # A move ends in a claim: its rows may carry the metadata the claim for the new customer sets.
    "move": (
        f"imei,meid,serial,manufacturer,model,ordernumber,phonenumber\r\n{EXAMPLE_IMEI},,,,,PO-1001,+15555550100\r\n"
    ),
    "metadata": (
        f"imei,meid,serial,manufacturer,model,ordernumber,phonenumber\r\n{EXAMPLE_IMEI},,,,,PO-1001,+15555550100\r\n"
    ),
}
GOOGLE_TEMPLATE: dict[str, str] = {
    "claim": (
        "modemtype,modemid,serial,model,manufacturer,profiletype,owner,ordernumber,phonenumber\r\n"
        f"IMEI,{EXAMPLE_IMEI},,,,ZERO_TOUCH,123456789,PO-1001,+15555550100\r\n"
    ),
}
# Claims and unclaims in a section of their own: a claim in SIM lock names the reseller's SIM-lock
# profile; an unclaim needs the section alone (the profile id of a claim's file is not read).
SIM_LOCK_TEMPLATE = (
    "imei,meid,serial,manufacturer,model,sectiontype,simlockprofileid\r\n"
    f"{EXAMPLE_IMEI},,,,,SIM_LOCK,12345\r\n"
)

__all__ = [
    "GOOGLE_TEMPLATE",
    "SIM_LOCK_TEMPLATE",
    "TEMPLATES",
    "FileRefused",
    "HeaderColumns",
    "Limits",
    "ParsedRow",
    "header_columns",
    "parse_csv",
    "parse_pasted",
    "printable",
]
