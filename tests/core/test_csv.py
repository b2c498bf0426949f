"""CSV the portal hands out: cells a spreadsheet would run as a formula are made text."""

from datetime import UTC, date, datetime

from core.csv import csv_line, csv_lines, safe_cell


def test_a_cell_that_would_run_as_a_formula_becomes_text():
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert safe_cell(f"{start}SUM(A1)") == f"'{start}SUM(A1)"
    assert safe_cell("Zenith Logistics") == "Zenith Logistics"
    assert safe_cell(None) == ""
    assert safe_cell(12) == "12"


def test_lines_end_in_crlf_and_quote_what_csv_needs():
    assert csv_line(["a,b", 'say "hi"', "=1+1", None]) == '"a,b","say ""hi""",\'=1+1,\r\n'
    assert list(csv_lines(["name", "@who"], [["-1", 2]])) == ["name,'@who\r\n", "'-1,2\r\n"]


def test_moments_and_days_are_written_as_a_spreadsheet_reads_dates(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    moment = datetime(2026, 12, 7, 19, 5, 9, 123456, tzinfo=UTC)

    assert safe_cell(moment) == "2026-12-07 20:05:09"  # the portal's own time, no offset, no T
    assert safe_cell(date(2026, 12, 7)) == "2026-12-07"
    assert csv_line([moment, None]) == "2026-12-07 20:05:09,\r\n"
