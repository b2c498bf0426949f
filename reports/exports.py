"""Report tables as CSV files, every cell made formula-safe (the batches' results files' rule)."""

import csv
import io

from batches.results import safe_cell
from reports.selectors import Table


def table_csv(table: Table) -> str:
    """The table as CSV with a BOM (Excel then reads UTF-8), cells that a spreadsheet would run as a
    formula quoted."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(column) for column in table.columns])
    for row in table.rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return buffer.getvalue()
