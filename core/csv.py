"""CSV files the portal hands out, safe to open in a spreadsheet.

Excel, LibreOffice and Google Sheets run a cell that starts with = + - @ (or a tab or a carriage
return) as a formula (CSV injection). Names, labels, order numbers and usernames come from people
and from the API, so any cell may start that way: every cell written here gets a leading quote
then, which makes it text. Lines end in CRLF, as the CSV format (RFC 4180) and Excel want.
"""

import csv
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from itertools import chain
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """``value`` as text a spreadsheet shows as it is (None: an empty cell). A moment is written in
    the portal's time zone as ``YYYY-MM-DD HH:MM:SS``, a day as ``YYYY-MM-DD``: the forms every
    spreadsheet reads as a date rather than as text."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        moment = timezone.localtime(value) if timezone.is_aware(value) else value
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Lines:
    """A file-like object for csv.writer that hands each written line back instead of storing it."""

    def write(self, line: str) -> str:
        return line


def csv_line(cells: Iterable[Any]) -> str:
    """One line of CSV, every cell made safe."""
    return csv.writer(_Lines(), lineterminator="\r\n").writerow([safe_cell(cell) for cell in cells])


def csv_lines(header: Iterable[Any], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """The header's line, then one line per row, written as the rows are read (for a streamed
    response of any length), every cell made safe."""
    writer = csv.writer(_Lines(), lineterminator="\r\n")
    yield writer.writerow([safe_cell(cell) for cell in header])
    for row in rows:
        yield writer.writerow([safe_cell(cell) for cell in row])


def csv_download(
    header: Iterable[Any], rows: Iterable[Iterable[Any]], *, filename: str
) -> StreamingHttpResponse:
    """A CSV file for the browser to save, streamed as ``rows`` are read (any length): a BOM, so that
    Excel reads UTF-8, then the header and the rows, every cell made safe."""
    response = StreamingHttpResponse(
        chain(["\ufeff"], csv_lines(header, rows)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def export_refused(page: str) -> HttpResponse:
    """The answer to an export whose search is not valid: never a different list than the page showed."""
    return HttpResponse(
        f"The export's search is not valid: start from the {page} page again.",
        status=400,
        content_type="text/plain; charset=utf-8",
    )
