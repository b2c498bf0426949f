"""Report tables as CSV files, every cell made formula-safe (``core.csv``)."""

from core.csv import csv_lines
from reports.selectors import Table


def table_csv(table: Table) -> str:
    """The table as CSV with a BOM (Excel then reads UTF-8), cells that a spreadsheet would run as a
    formula quoted."""
    return "\ufeff" + "".join(csv_lines(table.columns, table.rows))
