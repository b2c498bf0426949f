"""A job's rows written back out as CSV: the columns as they came in, then what happened to each.

Spreadsheets run a cell that starts with = + - @ (or a tab or carriage return) as a formula; a file
the portal hands out must never do that, whatever a row held, so such cells get a leading quote.
"""

import csv
import io
from collections.abc import Iterator

from batches.models import BatchJob

OUTCOME_COLUMNS = ["row", "result", "failure", "message", "device_id", "suggestion"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _line(cells: list) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([safe_cell(cell) for cell in cells])
    return buffer.getvalue()


def results_csv(job: BatchJob, *, states: list[str] | None = None) -> Iterator[str]:
    """The job's rows (or only those in ``states``) as CSV lines, streamed in file order."""
    items = job.items.select_related("chunk").order_by("row_number", "id")
    if states:
        items = items.filter(state__in=states)
    first = items.values_list("raw", flat=True).first() or {}
    columns = list(first)
    yield "\ufeff" + _line([*columns, *OUTCOME_COLUMNS])  # a BOM: Excel then reads UTF-8
    for item in items.iterator(chunk_size=2000):
        yield _line(
            [
                *(item.raw.get(column, "") for column in columns),
                item.row_number,
                item.progress_label,
                item.get_failure_kind_display() if item.failure_kind else "",
                item.message,
                item.device_id or "",
                item.suggestion,
            ]
        )
