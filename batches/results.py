"""A job's rows written back out as CSV: the columns as they came in, then what happened to each.

A job with rows in SIM lock adds a ``section`` column after ``row`` (Zero-touch or SIM lock), so that
every row says which claim it acted on, whatever its file called the column. Whatever a row held, no
cell of the file runs as a formula in a spreadsheet (``core.csv``).
"""

from collections.abc import Iterator

from batches.models import BatchJob
from core.csv import csv_line
from devices.models import SectionType

OUTCOME_COLUMNS = ["row", "result", "failure", "message", "device_id", "suggestion"]


def results_csv(job: BatchJob, *, states: list[str] | None = None) -> Iterator[str]:
    """The job's rows (or only those in ``states``) as CSV lines, streamed in file order."""
    items = job.items.select_related("chunk").order_by("row_number", "id")
    if states:
        items = items.filter(state__in=states)
    first = items.values_list("raw", flat=True).first() or {}
    columns = list(first)
    sections = items.filter(section_type=SectionType.SIM_LOCK).exists()
    outcome = [*OUTCOME_COLUMNS[:1], "section", *OUTCOME_COLUMNS[1:]] if sections else OUTCOME_COLUMNS
    yield "\ufeff" + csv_line([*columns, *outcome])  # a BOM: Excel then reads UTF-8
    for item in items.iterator(chunk_size=2000):
        yield csv_line(
            [
                *(item.raw.get(column, "") for column in columns),
                item.row_number,
                *([item.get_section_type_display()] if sections else []),
                item.progress_label,
                item.get_failure_kind_display() if item.failure_kind else "",
                item.message,
                item.device_id or "",
                item.suggestion,
            ]
        )
