import codecs
import csv
import io
import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batches.parsing import (
    GOOGLE_TEMPLATE,
    TEMPLATES,
    FileRefused,
    Limits,
    ParsedRow,
    header_columns,
    parse_csv,
    parse_pasted,
)

IMEI = "490154203237518"
IMEI_2 = "352099001761481"
MEID = "A0000012345678"


def rows_of(content: bytes | str, **kwargs) -> list[ParsedRow]:
    if isinstance(content, str):
        content = content.encode()
    return list(parse_csv(io.BytesIO(content), **kwargs))


def refusal(content: bytes | str, **kwargs) -> str:
    with pytest.raises(FileRefused) as caught:
        rows_of(content, **kwargs)
    return str(caught.value)


def pasted_refusal(text: str, **kwargs) -> str:
    with pytest.raises(FileRefused) as caught:
        list(parse_pasted(text, **kwargs))
    return str(caught.value)


class TrickleStream:
    """A binary stream that returns at most ``step`` bytes per read, as a slow socket might."""

    def __init__(self, content: bytes, step: int) -> None:
        self.buffer = io.BytesIO(content)
        self.step = step

    def read(self, size: int = -1) -> bytes:
        return self.buffer.read(self.step if size < 0 else min(size, self.step))


class GeneratedCsv:
    """A binary stream that makes a CSV file as it is read: the test holds no copy of the file."""

    def __init__(self, header: str, row: str, rows: int) -> None:
        self.pending = header.encode()
        self.row = row
        self.rows = rows
        self.made = 0
        self.served = 0

    def read(self, size: int = -1) -> bytes:
        while (size < 0 or len(self.pending) < size) and self.made < self.rows:
            batch = range(self.made, min(self.made + 64, self.rows))
            self.pending += "".join(self.row.format(index) for index in batch).encode()
            self.made = batch.stop
        size = len(self.pending) if size < 0 else size
        piece, self.pending = self.pending[:size], self.pending[size:]
        self.served += len(piece)
        return piece


# --- The simple layout ---------------------------------------------------------------------------


def test_simple_layout_gives_fields_by_portal_name_and_raw_as_given():
    rows = rows_of(
        "IMEI,Serial Number,Manufacturer,Model,Order Number,Phone Number,Customer ID,Notes\r\n"
        f"{IMEI},,,,PO-1, +1 555 0100 ,501,first\r\n"
        ",R58M12ABCDE, samsung ,SM-G991B,,,501,second\r\n"
    )

    assert [row.number for row in rows] == [2, 3]
    assert rows[0].fields == {
        "imei": IMEI,
        "serial_number": "",
        "manufacturer": "",
        "model": "",
        "ordernumber": "PO-1",
        "phonenumber": "+1 555 0100",
        "customer_id": "501",
    }
    assert rows[1].fields["serial_number"] == "R58M12ABCDE"
    assert rows[1].fields["manufacturer"] == "samsung"
    assert rows[1].raw == {
        "IMEI": "",
        "Serial Number": "R58M12ABCDE",
        "Manufacturer": " samsung ",
        "Model": "SM-G991B",
        "Order Number": "",
        "Phone Number": "",
        "Customer ID": "501",
        "Notes": "second",
    }
    assert all(row.errors == () for row in rows)


@pytest.mark.parametrize(
    ("header", "canonical"),
    [
        ("imei", "imei"),
        (" IMEI ", "imei"),
        ("Meid", "meid"),
        ("serial", "serial_number"),
        ("serial_number", "serial_number"),
        ("SerialNumber", "serial_number"),
        ("Serial Number", "serial_number"),
        ("serial-no", "serial_number"),
        ("identifier", "identifier"),
        ("Device", "identifier"),
        ("order number", "ordernumber"),
        ("order_number", "ordernumber"),
        ("ORDERNUMBER", "ordernumber"),
        ("Order Number", "ordernumber"),
        ("phone number", "phonenumber"),
        ("Phone_Number", "phonenumber"),
        ("phone", "phonenumber"),
        ("customer", "customer_id"),
        ("Customer_ID", "customer_id"),
        ("owner", "customer_id"),
        ("Manufacturer", "manufacturer"),
        ("MODEL", "model"),
        ("profile type", "profiletype"),
        ("ChromeOS attested device id", "chrome_os_attested_device_id"),
    ],
)
def test_header_spellings(header, canonical):
    identifier = "" if canonical in ("imei", "meid", "serial_number", "identifier") else "imei,"
    rows = rows_of(f"{identifier}{header}\n{'1,' if identifier else ''}value\n")

    assert rows[0].fields[canonical] == "value"


def test_identifier_column_is_left_for_the_validator_to_classify():
    rows = rows_of(f"Device\n{IMEI}\nR58M12ABCDE\n3.5064E+14\n")

    assert [row.fields for row in rows] == [
        {"identifier": IMEI},
        {"identifier": "R58M12ABCDE"},
        {"identifier": "3.5064E+14"},
    ]


def test_scientific_notation_and_formula_cells_are_passed_through_as_text():
    rows = rows_of('imei,ordernumber,phonenumber\n3.5064E+14,"=HYPERLINK(""http://x"")",+1-2\n-1,@SUM(1),\n')

    assert rows[0].fields == {
        "imei": "3.5064E+14",
        "ordernumber": '=HYPERLINK("http://x")',
        "phonenumber": "+1-2",
    }
    assert rows[1].fields == {"imei": "-1", "ordernumber": "@SUM(1)", "phonenumber": ""}
    assert rows[0].raw["ordernumber"] == '=HYPERLINK("http://x")'


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("android", "android"),
        ("Android", "android"),
        ("chrome_os", "chrome_os"),
        ("ChromeOS", "chrome_os"),
        ("Chrome OS", "chrome_os"),
        ("DEVICE_TYPE_CHROME_OS", "chrome_os"),
    ],
)
def test_device_type_column_says_android_or_chrome_os(cell, expected):
    rows = rows_of(f"serial,model,device type,attested device id\nS1,Chromebook 14,{cell},ATT-1\n")

    assert rows[0].fields["device_type"] == expected
    assert rows[0].fields["chrome_os_attested_device_id"] == "ATT-1"
    assert rows[0].errors == ()


def test_an_empty_device_type_is_left_out_and_an_unknown_one_is_a_row_error():
    empty, unknown = rows_of(f"imei,device_type\n{IMEI},\n{IMEI_2},tablet\n")

    assert empty.fields == {"imei": IMEI}
    assert "device_type" not in unknown.fields
    assert unknown.errors == ("The device type is 'tablet'; it must be android or chrome_os.",)


def test_unknown_columns_are_kept_in_raw_only_and_reported_by_header_columns():
    header = header_columns(["Notes", "IMEI", "", "Order No"])

    assert header.layout == "simple"
    assert header.columns == {"imei": "IMEI", "ordernumber": "Order No"}
    assert header.ignored == ("Notes",)
    assert header.names == ("Notes", "IMEI", "(column C)", "Order No")
    row = rows_of(f"Notes,IMEI,,Order No\nhello,{IMEI},x,PO-7\n")[0]
    assert row.fields == {"imei": IMEI, "ordernumber": "PO-7"}
    assert row.raw == {"Notes": "hello", "IMEI": IMEI, "(column C)": "x", "Order No": "PO-7"}


# --- Google's layout -----------------------------------------------------------------------------

GOOGLE_HEADER = "modemtype,modemid,serial,model,manufacturer,profiletype,owner,ordernumber,phonenumber\n"


def test_google_layout_puts_modemid_under_its_modemtype():
    rows = rows_of(
        GOOGLE_HEADER + f"IMEI,{IMEI},,,,ZERO_TOUCH,501,PO-1,+15555550100\n"
        f"meid,{MEID},,,,ZERO_TOUCH,501,,\n"
        ",,R58M12ABCDE,SM-G991B,samsung,ZERO_TOUCH,502,,\n"
        f" Imei ,{IMEI_2},,,,zero_touch,501,,\n"
    )

    assert rows[0].fields == {
        "imei": IMEI,
        "serial_number": "",
        "model": "",
        "manufacturer": "",
        "profiletype": "ZERO_TOUCH",
        "customer_id": "501",
        "ordernumber": "PO-1",
        "phonenumber": "+15555550100",
    }
    assert rows[1].fields["meid"] == MEID
    assert "imei" not in rows[1].fields
    assert {
        key: rows[2].fields[key] for key in ("serial_number", "model", "manufacturer", "customer_id")
    } == {
        "serial_number": "R58M12ABCDE",
        "model": "SM-G991B",
        "manufacturer": "samsung",
        "customer_id": "502",
    }
    assert "imei" not in rows[2].fields and "meid" not in rows[2].fields
    assert rows[3].fields["imei"] == IMEI_2
    assert rows[3].fields["profiletype"] == "zero_touch"  # kept as given: the validator decides
    assert all(row.errors == () for row in rows)
    assert rows[0].raw["modemtype"] == "IMEI" and rows[0].raw["owner"] == "501"


def test_google_layout_without_the_optional_metadata_columns():
    rows = rows_of(
        f"modemtype,modemid,serial,model,manufacturer,profiletype,owner\nIMEI,{IMEI},,,,ZERO_TOUCH,501\n"
    )

    assert rows[0].fields["imei"] == IMEI
    assert "ordernumber" not in rows[0].fields


def test_google_layout_row_errors_for_modemtype():
    unknown, missing = rows_of(
        GOOGLE_HEADER + f"ESN,{IMEI},,,,ZERO_TOUCH,501,,\n,{IMEI},,,,ZERO_TOUCH,501,,\n"
    )

    assert unknown.errors == (
        "modemtype is 'ESN'; it must be IMEI or MEID (or empty for a device named by its serial number).",
    )
    assert "imei" not in unknown.fields
    assert missing.errors == ("modemid is filled but modemtype is empty: write IMEI or MEID in modemtype.",)


def test_google_header_with_half_of_modemtype_and_modemid_is_refused():
    assert refusal(f"modemid,serial\n{IMEI},\n") == (
        "The header has Google's modemid column but no modemtype column: add it (modemtype says IMEI or "
        "MEID, modemid holds the number) and upload again."
    )
    assert "has Google's modemtype column but no modemid column" in refusal("modemtype,serial\nIMEI,S1\n")


def test_google_layout_mixed_with_an_imei_column_is_refused():
    assert refusal(f"modemtype,modemid,IMEI\nIMEI,{IMEI},{IMEI}\n") == (
        "The header mixes Google's modemtype/modemid columns with the column 'IMEI': use one format and "
        "upload again."
    )


# --- Delimiters, quotes, cells -------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_each_delimiter_is_detected_from_the_header(delimiter):
    content = delimiter.join(["imei", "model", "ordernumber"]) + "\n"
    content += delimiter.join([IMEI, '"Galaxy S21, 5G; EU"', "PO-1"]) + "\n"

    assert rows_of(content)[0].fields == {"imei": IMEI, "model": "Galaxy S21, 5G; EU", "ordernumber": "PO-1"}


def test_semicolon_file_keeps_decimal_commas_in_cells():
    rows = rows_of(f"IMEI;Model;Phone number\n{IMEI};Pixel 8, 128 GB;+44 20 7946 0000\n")

    assert rows[0].fields["model"] == "Pixel 8, 128 GB"


def test_a_header_that_splits_equally_every_way_is_read_with_commas():
    rows = rows_of(f"imei\n{IMEI};{IMEI_2}\n")

    assert rows[0].fields == {"imei": f"{IMEI};{IMEI_2}"}


def test_quoted_cells_with_delimiters_quotes_and_line_breaks():
    rows = rows_of(f'imei,model,notes\n{IMEI},"Tab ""10"", LTE","two\r\nlines"\n{IMEI_2},x,y\n')

    assert rows[0].fields["model"] == 'Tab "10", LTE'
    assert rows[0].raw["notes"] == "two\r\nlines"
    assert [row.number for row in rows] == [2, 3]  # a spreadsheet shows the quoted line break as one row


def test_a_row_with_more_cells_than_the_header_is_a_row_error():
    rows = rows_of(f"imei,model\n{IMEI},Galaxy S21, 5G\n{IMEI_2},Pixel,,\n")

    assert rows[0].errors == (
        "This row has 3 cells but the header has 2: check for a comma inside a value that is not in quotes.",
    )
    assert rows[0].raw == {"imei": IMEI, "model": "Galaxy S21", "(column C)": " 5G"}
    assert rows[0].fields == {"imei": IMEI, "model": "Galaxy S21"}
    assert rows[1].errors == ()  # empty cells past the header, as spreadsheets write them, are harmless
    assert rows[1].raw == {"imei": IMEI_2, "model": "Pixel"}
    tab_row = rows_of(f"imei\tmodel\n{IMEI}\tTab\t10\n")[0]
    assert tab_row.errors == (
        "This row has 3 cells but the header has 2: check for a tab inside a value that is not in quotes.",
    )


def test_missing_cells_are_empty():
    row = rows_of(f"imei,model,ordernumber\n{IMEI}\n")[0]

    assert row.fields == {"imei": IMEI, "model": "", "ordernumber": ""}
    assert row.raw == {"imei": IMEI, "model": "", "ordernumber": ""}
    assert row.errors == ()


def test_blank_lines_are_skipped_but_keep_the_spreadsheet_row_numbers():
    rows = rows_of(f"\n , \nimei,model\n\n{IMEI},a\n,,\n\u00a0\n \t \n{IMEI_2},b\n\n")

    assert [(row.number, row.fields["imei"]) for row in rows] == [(5, IMEI), (9, IMEI_2)]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_line_endings(newline):
    rows = rows_of(newline.join(["imei", IMEI, IMEI_2, ""]))

    assert [(row.number, row.fields) for row in rows] == [(2, {"imei": IMEI}), (3, {"imei": IMEI_2})]


def test_utf8_byte_order_mark_is_dropped():
    rows = rows_of(codecs.BOM_UTF8 + "IMEI;Modèle\n".encode() + f"{IMEI};Téléphone\n".encode())

    assert rows[0].fields == {"imei": IMEI}
    assert list(rows[0].raw) == ["IMEI", "Modèle"]


def test_a_nul_character_inside_a_text_file_is_a_row_error():
    content = "imei,notes\n" + f"{IMEI},{'x' * 60}\n" * 80 + f"{IMEI_2},a\x00b\n"

    rows = rows_of(content)

    assert len(content) > 4096  # past the first few KB, where NULs mean a binary file
    assert rows[-1].errors == (
        "This row contains a NUL character (shown as \ufffd): remove it and upload again.",
    )
    assert rows[-1].raw["notes"] == "a\ufffdb"
    assert all(row.errors == () for row in rows[:-1])


# --- Refusals --------------------------------------------------------------------------------------


def test_a_header_without_an_identifier_column_is_refused_naming_what_it_has():
    assert refusal("Model,Manufacturer,Colour\nPixel 8,Google,red\n") == (
        "The first row must name the columns, but it names no device identifier (it has 'Model', "
        "'Manufacturer', 'Colour'): it needs an imei, meid, serial or identifier column, or Google's format "
        "(modemtype,modemid,serial,model,manufacturer,profiletype,owner)."
    )


def test_a_file_of_bare_imeis_is_refused_for_want_of_a_header():
    assert "names no device identifier (it has '490154203237518')" in refusal(f"{IMEI}\n{IMEI_2}\n")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("imei,model,IMEI", "The header has the column 'IMEI' twice: keep one of them and upload again."),
        ("notes,imei,notes", "The header has the column 'notes' twice: keep one of them and upload again."),
        (
            "serial,imei,Serial Number",
            "The columns 'serial' and 'Serial Number' both give the serial number: keep one of them and "
            "upload again.",
        ),
    ],
)
def test_duplicate_columns_are_refused(header, message):
    assert refusal(f"{header}\n1,2,3\n") == message


def test_latin1_bytes_are_refused_naming_the_line():
    content = f"imei,model\n{IMEI},a\n{IMEI_2},".encode() + "Modèle".encode("latin-1") + b"\n"

    assert refusal(content) == (
        "The file is not UTF-8 text (line 3 has bytes that are not): save it again as 'CSV UTF-8' (in Excel: "
        "Save As, file format CSV UTF-8) and upload that file."
    )


def test_a_decoding_error_far_into_the_file_names_its_line():
    content = ("imei\n" + f"{IMEI}\n" * 20_000).encode() + b"\xe9\n"

    assert "(line 20,002 has bytes that are not)" in refusal(content)
    assert "(line 20,002 has bytes that are not)" in refusal(content[:-1])  # no line break at the end


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_is_refused_with_the_way_to_save_utf8(encoding):
    content = f"imei,model\n{IMEI},Pixel\n".encode(encoding)

    assert refusal(content) == (
        "The file is saved as UTF-16 ('Unicode text'), not UTF-8: save it again as 'CSV UTF-8' (in Excel: "
        "Save As, file format CSV UTF-8) and upload that file."
    )


def test_an_excel_workbook_is_refused_with_how_to_save_it_as_csv():
    message = refusal(b"PK\x03\x04\x14\x00\x06\x00" + bytes(200), name="devices.xlsx")

    assert message == (
        "The file devices.xlsx is a spreadsheet workbook (Excel .xlsx or similar), not a CSV file: "
        "save it as CSV from Excel (Save As, file format CSV UTF-8) and upload that file."
    )


@pytest.mark.parametrize(
    ("content", "start"),
    [
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100),
            "The file is an Excel workbook (.xls), not a CSV file",
        ),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "The file is a PDF document, not a CSV file"),
        (b"\x89PNG\r\n\x1a\n" + bytes(20), "The file is an image, not a CSV file"),
        (b"imei\n" + bytes(range(256)), "The file is not a CSV file (it holds binary data)"),
        (f"imei\n{IMEI}\x00\n".encode(), "The file is not a CSV file (it holds binary data)"),
    ],
)
def test_binary_files_are_refused(content, start):
    assert refusal(content).startswith(start)


@pytest.mark.parametrize("content", [b"", b"\n\n", b" \r\n\t\r\n", b",,,\n;;\n", codecs.BOM_UTF8])
def test_an_empty_file_is_refused(content):
    assert refusal(content) == (
        "The file is empty: it needs a header line (e.g. imei,model) and a row for each device."
    )


@pytest.mark.parametrize("content", ["imei,model", "imei,model\r\n", "imei,model\n\n,\n"])
def test_a_file_with_only_a_header_is_refused(content):
    assert refusal(content) == "The file has a header but no rows of devices under it."


def test_a_file_over_the_byte_limit_is_refused_without_reading_it_all():
    stream = GeneratedCsv("imei,model\n", IMEI + ",{}\n", rows=10_000)

    with pytest.raises(FileRefused) as caught:
        list(parse_csv(stream, limits=Limits(max_bytes=100_000)))

    assert (
        str(caught.value)
        == "The file is larger than 100,000 bytes: split it into smaller files and upload each."
    )
    assert stream.served <= 100_001
    assert refusal(b"imei\n" + (b"7" * 60 + b"\n") * 20_000, limits=Limits(max_bytes=1024 * 1024)).startswith(
        "The file is larger than 1 MB:"
    )


def test_a_file_over_the_row_limit_is_refused_after_the_rows_within_it():
    content = "imei\n" + f"{IMEI}\n" * 4
    produced = []

    with pytest.raises(FileRefused) as caught:
        for row in parse_csv(io.BytesIO(content.encode()), limits=Limits(max_rows=3)):
            produced.append(row.number)

    assert (
        str(caught.value)
        == "The file has more than 3 rows: split it into files of at most 3 rows and upload each."
    )
    assert produced == [2, 3, 4]
    assert len(rows_of("imei\n" + f"{IMEI}\n" * 3, limits=Limits(max_rows=3))) == 3


def test_the_default_row_limit_is_one_hundred_thousand():
    assert "more than 100,000 rows: split it into files of at most 100,000 rows" in refusal(
        "imei\n" + f"{IMEI}\n" * 100_001
    )


def test_an_overlong_line_is_refused_naming_it():
    assert refusal(
        f"imei,notes\n{IMEI},{'x' * 50}\n{IMEI},{'y' * 200}\n", limits=Limits(max_line_length=100)
    ) == (
        "Line 3 is longer than 100 characters, so this is not a list of devices: check that this is the "
        "right file, or export it again as CSV."
    )
    # A line with no line break at all is refused before it is all in memory.
    stream = io.BytesIO(b"imei\n" + b"7" * 3_000_000)
    with pytest.raises(FileRefused, match=r"^Line 2 is longer than 65,536 characters"):
        list(parse_csv(stream))
    assert stream.tell() < 400_000


def test_a_row_of_more_than_200_cells_refuses_the_file_naming_it():
    wide = ",".join([IMEI_2, "b", *[""] * 199])  # 201 cells, all but two empty

    assert refusal(f"imei,model\n{IMEI},a\n\n{wide}\n{IMEI},c\n") == (
        "Row 4 has 201 cells; the header has 2. Check that this is the list of devices, and that values "
        "holding a comma are in quotes, then upload again."
    )
    assert rows_of(f"imei,model\n{IMEI},a{',' * 198}\n")[0].errors == ()  # 200 cells: read as before


def test_a_row_far_wider_than_its_header_refuses_the_file_naming_it():
    assert refusal(f"imei;model\n{IMEI};a\n{IMEI_2};b;1;2;;4;5;6\n") == (
        "Row 3 has 8 cells; the header has 2. Check that this is the list of devices, and that values "
        "holding a semicolon are in quotes, then upload again."
    )


def test_a_row_a_few_cells_wider_than_its_header_keeps_its_own_error():
    rows = rows_of(f"imei,model\n{IMEI},a,1,,3,4,5\n{IMEI_2},b{',' * 150}\n")

    assert rows[0].errors == (
        "This row has 7 cells but the header has 2: check for a comma inside a value that is not in quotes.",
    )
    assert rows[0].raw["(column G)"] == "5"
    assert rows[1].errors == ()  # empty cells past the header, however many up to 200, are harmless


def test_a_header_of_more_than_200_cells_is_refused():
    header = ",".join(["imei", *(f"c{number}" for number in range(200))])

    assert refusal(f"\n{header}\n{IMEI}\n") == (
        "Row 2 has 201 cells; a header may have at most 200. Check that this is the list of devices, or "
        "export it again as CSV with only the columns it needs."
    )


def test_a_file_of_rows_of_32001_cells_is_refused_at_its_first_row_without_reading_on(capsys):
    content = (HEADER_8 + (",".join([IMEI, *["x"] * 32_000]) + "\r\n") * 310).encode()
    stream = io.BytesIO(content)  # shares the bytes: the trace below is the parser's alone
    tracemalloc.start()
    try:
        with pytest.raises(FileRefused, match=r"^Row 2 has 32,001 cells; the header has 8\. "):
            list(parse_csv(stream))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert len(content) > 19_000_000
    assert stream.tell() <= 256 * 1024
    assert peak < 2 * 1024 * 1024
    with capsys.disabled():
        print(
            f"\nparse_csv: 32,001 cells a row, refused after {stream.tell():,} B, {peak / 1e6:.1f} MB traced"
        )


def test_a_record_joined_over_many_lines_by_quotes_is_refused_before_it_is_held_whole():
    """A quote closed at the start of each line and opened again at its end makes one record of the
    whole file: it is refused once it runs past a line and a field, before the csv module holds it."""
    line = '",' + ",".join(["ab"] * 20_000) + ',"\n'
    content = (f'imei,model\n{IMEI},a\n{IMEI_2},"\n' + line * 60).encode()
    tracemalloc.start()
    try:
        message = refusal(content)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert message == (
        "Row 3 (from line 3) runs on over several lines for more than 196,608 characters, so this is not a "
        'list of devices: check the quotes (") in that row, or export the file again as CSV.'
    )
    assert peak < 16 * 1024 * 1024


def test_blank_lines_count_toward_the_row_limit():
    stream = GeneratedCsv("imei\n", "\r\n", rows=5_000_000)

    with pytest.raises(FileRefused) as caught:
        list(parse_csv(stream, limits=Limits(max_rows=1000)))

    assert str(caught.value) == (
        "The file has more than 1,000 rows, blank rows included: delete the blank rows, or split it into "
        "files of at most 1,000 rows and upload each."
    )
    assert stream.served <= 128 * 1024
    assert len(rows_of("imei\n" + f"{IMEI}\n" * 999 + "\n", limits=Limits(max_rows=1000))) == 999
    assert refusal("imei\n" + f"{IMEI}\n" * 999 + "\n\n", limits=Limits(max_rows=1000)).startswith(
        "The file has more than 1,000 rows, blank rows included"
    )


def test_blank_lines_before_the_header_count_toward_the_row_limit():
    assert refusal("\r\n" * 1001 + f"imei\n{IMEI}\n", limits=Limits(max_rows=1000)).startswith(
        "The file has more than 1,000 rows, blank rows included"
    )
    assert [
        row.number for row in rows_of("\r\n" * 998 + f"imei\n{IMEI}\n", limits=Limits(max_rows=1000))
    ] == [1000]


def test_blank_pasted_lines_count_toward_the_line_limit():
    assert pasted_refusal(f"{IMEI}\n\n" * 3, limits=Limits(max_rows=3)) == (
        "The pasted text has more than 3 lines, blank lines included: delete the blank lines, or paste at "
        "most 3 at a time."
    )
    assert pasted_refusal("\n" * 10 + IMEI, limits=Limits(max_rows=3)).startswith(
        "The pasted text has more than 3 lines, blank lines included"
    )


def test_a_quote_that_is_never_closed_is_refused_naming_the_row():
    assert refusal(f'imei,model\n{IMEI},a\n{IMEI_2},"Galaxy\n{IMEI},b\n') == (
        'Row 3 (from line 3) opens a quote (") that is never closed: fix the quotes in that row and upload '
        "again."
    )


def test_text_after_a_closing_quote_is_refused_naming_the_row():
    assert refusal(f'imei,model\n{IMEI},"Galaxy" S21\n') == (
        'Row 2 (from line 2) has text after a closing quote ("): fix the quotes in that row and upload again.'
    )


def test_the_file_name_in_a_refusal_is_cleaned():
    assert refusal(b"", name="dev\x00ices\n.csv").startswith("The file devices.csv is empty")


# --- Streaming -------------------------------------------------------------------------------------


@pytest.mark.parametrize("step", [1, 2, 3, 7, 4095, 4097])
def test_reads_of_any_size_give_the_same_rows(step):
    content = (
        codecs.BOM_UTF8
        + f'IMEI;Modèle\r\n\r\n{IMEI};"Tab\r\n""10"""\r{IMEI_2};é€😀\r\n'.encode()
        + f"{IMEI};x\r\n{IMEI_2};y\r\r{IMEI};z\n".encode() * 300
    )

    assert list(parse_csv(TrickleStream(content, step))) == rows_of(content)


def test_a_decoding_error_names_the_same_line_whatever_the_read_size():
    content = ("imei\n" + f"{IMEI}\n" * 1000).encode() + b"\xff\n"

    assert "(line 1,002 has" in refusal(content)
    with pytest.raises(FileRefused, match=r"\(line 1,002 has"):
        list(parse_csv(TrickleStream(content, 13)))


def test_the_first_row_comes_before_the_file_is_read():
    stream = GeneratedCsv("imei,model\n", IMEI + ",Pixel {}\n", rows=100_000)

    first = next(parse_csv(stream))

    assert first.fields == {"imei": IMEI, "model": "Pixel 0"}
    assert stream.served <= 128 * 1024


HEADER_8 = "imei,meid,serial,manufacturer,model,customer_id,ordernumber,phonenumber\r\n"
ROW_8 = IMEI + ",,R58M{0:07d},samsung,SM-G991B,123456789,PO-{0:07d},+15555550100\r\n"


def test_a_hundred_thousand_rows_stream_through(capsys):
    content = (HEADER_8 + "".join(ROW_8.format(index) for index in range(100_000))).encode()

    started = time.perf_counter()
    count = sum(1 for _ in parse_csv(io.BytesIO(content)))
    elapsed = time.perf_counter() - started

    assert count == 100_000
    with capsys.disabled():
        print(f"\nparse_csv: 100,000 rows of 8 columns ({len(content):,} bytes) in {elapsed:.2f} s")


def test_peak_memory_stays_small_for_a_20_mb_file(capsys):
    # 20 MB in 25,000 rows that carry a long notes column (fewer rows keep tracemalloc's cost down).
    row = ROW_8.rstrip("\r\n") + "," + "n" * 730 + "\r\n"
    stream = GeneratedCsv(HEADER_8.rstrip("\r\n") + ",notes\r\n", row, rows=25_000)
    tracemalloc.start()
    try:
        count = sum(1 for _ in parse_csv(stream, limits=Limits(max_bytes=21 * 1024 * 1024)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert count == 25_000
    assert stream.served > 20_000_000
    assert peak < 2 * 1024 * 1024
    with capsys.disabled():
        print(f"\nparse_csv: {stream.served:,} bytes with a peak of {peak / 1024 / 1024:.2f} MB traced")


# --- Pasted text -----------------------------------------------------------------------------------


def test_pasted_identifiers_one_per_line():
    rows = list(parse_pasted(f" {IMEI} \r\n\r\nR58M12ABCDE\n{MEID}"))

    assert [(row.number, row.fields, row.raw) for row in rows] == [
        (1, {"identifier": IMEI}, {"identifier": f" {IMEI} "}),
        (3, {"identifier": "R58M12ABCDE"}, {"identifier": "R58M12ABCDE"}),
        (4, {"identifier": MEID}, {"identifier": MEID}),
    ]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_pasted_text_under_a_header_is_read_as_csv(delimiter):
    text = f"\nIMEI{delimiter}Order Number\n{IMEI}{delimiter}PO-1\n\n{IMEI_2}\n"

    rows = list(parse_pasted(text))

    assert [(row.number, row.fields) for row in rows] == [
        (3, {"imei": IMEI, "ordernumber": "PO-1"}),
        (5, {"imei": IMEI_2, "ordernumber": ""}),
    ]


def test_a_pasted_spreadsheet_column_with_its_header():
    rows = list(parse_pasted(f"IMEI\n{IMEI}\n{IMEI_2}\n"))

    assert [row.fields for row in rows] == [{"imei": IMEI}, {"imei": IMEI_2}]


def test_a_pasted_word_that_is_not_a_column_name_is_an_identifier():
    rows = list(parse_pasted(f"model\n{IMEI}\n"))

    assert [row.fields for row in rows] == [{"identifier": "model"}, {"identifier": IMEI}]


def test_pasted_lines_with_several_values_are_row_errors():
    rows = list(parse_pasted(f"{IMEI}\tPixel 8\n{IMEI_2}\n"))

    assert rows[0].errors == (
        "This line holds several values separated by a tab: paste one identifier per line, or start with a "
        "header line such as imei,model.",
    )
    assert rows[1].errors == ()


def test_pasted_header_without_an_identifier_column_is_refused():
    assert pasted_refusal("model,manufacturer\nPixel 8,Google\n").startswith(
        "The first row must name the columns, but it names no device identifier"
    )


@pytest.mark.parametrize("text", ["", "\n", "  \r\n\t\n"])
def test_empty_pasted_text_is_refused(text):
    assert pasted_refusal(text) == "The pasted text is empty: paste one IMEI, MEID or serial number per line."


def test_pasted_header_without_rows_is_refused():
    assert pasted_refusal("imei,model\n") == "The pasted text has a header but no rows of devices under it."


def test_pasted_text_limits():
    assert pasted_refusal(f"{IMEI}\n" * 4, limits=Limits(max_rows=3)) == (
        "The pasted text has more than 3 lines: paste at most 3 at a time."
    )
    assert len(list(parse_pasted(f"{IMEI}\n" * 3, limits=Limits(max_rows=3)))) == 3
    assert pasted_refusal("imei\n" + f"{IMEI}\n" * 4, limits=Limits(max_rows=3)).startswith(
        "The pasted text has more than 3 rows"
    )
    assert pasted_refusal("é" * 60, limits=Limits(max_bytes=100)) == (
        "The pasted text is larger than 100 bytes: paste it in smaller parts."
    )
    assert pasted_refusal(f"{IMEI}\n{'x' * 101}\n", limits=Limits(max_line_length=100)).startswith(
        "Line 2 is longer than 100 characters"
    )


def test_a_nul_in_pasted_text_is_a_row_error():
    row = next(parse_pasted("R58\x00M\n"))

    assert row.fields == {"identifier": "R58\ufffdM"}
    assert row.errors == ("This line contains a NUL character (shown as \ufffd): remove it and paste again.",)


# --- Templates -------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["claim", "unclaim", "move", "metadata"])
def test_each_template_reads_back_as_one_row_without_errors(action):
    rows = rows_of(TEMPLATES[action])

    assert len(rows) == 1
    assert rows[0].errors == ()
    assert rows[0].fields["imei"] == IMEI
    assert ("ordernumber" in rows[0].fields) is (action != "unclaim")


def test_google_claim_template_reads_back():
    assert TEMPLATES.keys() == {"claim", "unclaim", "move", "metadata"}
    rows = rows_of(GOOGLE_TEMPLATE["claim"])

    assert rows[0].fields["imei"] == IMEI
    assert rows[0].fields["profiletype"] == "ZERO_TOUCH"
    assert rows[0].fields["customer_id"] == "123456789"
    assert list(rows[0].raw)[:7] == [
        "modemtype",
        "modemid",
        "serial",
        "model",
        "manufacturer",
        "profiletype",
        "owner",
    ]


# --- Properties ------------------------------------------------------------------------------------

LIMITS = st.builds(
    Limits,
    max_bytes=st.integers(1, 600),
    max_rows=st.integers(1, 6),
    max_line_length=st.integers(1, 120),
)
CSV_TOKENS = b"imei modemtype modemid serial Model IMEI meid =1+2 490154203237518".split()
CSVISH_BYTES = st.lists(
    st.sampled_from([*CSV_TOKENS, b",", b";", b"\t", b'"', b"\r", b"\n", b" ", b"\x00", codecs.BOM_UTF8])
    | st.sampled_from([b"\r\n", b"\xc3", b"\xa9", b"\xff", "é".encode()]),
    max_size=60,
).map(b"".join)


def check_rows(rows: list[ParsedRow]) -> None:
    numbers = [row.number for row in rows]
    assert numbers == sorted(set(numbers))
    for row in rows:
        assert all(value == value.strip() for value in row.fields.values())
        assert all(isinstance(message, str) and message for message in row.errors)


@settings(max_examples=300, deadline=None)
@given(content=st.one_of(st.binary(max_size=400), CSVISH_BYTES), limits=st.one_of(st.just(Limits()), LIMITS))
def test_any_bytes_give_rows_or_a_refusal(content, limits):
    try:
        rows = list(parse_csv(io.BytesIO(content), limits=limits))
    except FileRefused as refused:
        assert str(refused)
    else:
        check_rows(rows)


SIMPLE_COLUMNS = {
    "imei": "imei",
    "MEID": "meid",
    "Serial Number": "serial_number",
    "identifier": "identifier",
    "manufacturer": "manufacturer",
    "Model": "model",
    "customer_id": "customer_id",
    "Order Number": "ordernumber",
    "phone_number": "phonenumber",
    "profiletype": "profiletype",
    "attested_device_id": "chrome_os_attested_device_id",
}
CELL = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)


@st.composite
def tables(draw):
    names = draw(st.lists(st.sampled_from(list(SIMPLE_COLUMNS)), min_size=1, max_size=6, unique=True))
    if not any(SIMPLE_COLUMNS[name] in ("imei", "meid", "serial_number", "identifier") for name in names):
        names.insert(draw(st.integers(0, len(names))), "imei")
    rows = draw(st.lists(st.lists(CELL, min_size=len(names), max_size=len(names)), max_size=8))
    delimiter = draw(st.sampled_from([",", ";", "\t"])) if len(names) > 1 else ","
    return names, rows, delimiter


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables(), newline=st.sampled_from(["\r\n", "\n"]), bom=st.booleans())
def test_a_table_written_by_the_csv_module_reads_back(table, newline, bom):
    names, rows, delimiter = table
    written = io.StringIO()
    writer = csv.writer(written, delimiter=delimiter, lineterminator=newline)
    writer.writerow(names)
    writer.writerows(rows)
    content = written.getvalue().encode("utf-8-sig" if bom else "utf-8")
    expected = [
        (number, {SIMPLE_COLUMNS[name]: cell.strip() for name, cell in zip(names, cells, strict=True)})
        for number, cells in enumerate(rows, 2)
        if "".join(cells).strip()
    ]

    try:
        parsed = rows_of(content)
    except FileRefused as refused:
        assert not expected and str(refused) == "The file has a header but no rows of devices under it."
    else:
        assert [(row.number, row.fields) for row in parsed] == expected
        assert [row.raw for row in parsed] == [
            dict(zip(names, cells, strict=True)) for cells in rows if "".join(cells).strip()
        ]
        assert all(row.errors == () for row in parsed)


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=300),
        st.lists(
            st.sampled_from(["imei", "IMEI", ",", ";", "\t", '"', "\n", "\r", " ", "\x00", IMEI, "model"])
        ).map("".join),
    ),
    limits=st.one_of(st.just(Limits()), LIMITS),
)
def test_any_pasted_text_gives_rows_or_a_refusal(text, limits):
    try:
        rows = list(parse_pasted(text, limits=limits))
    except FileRefused as refused:
        assert str(refused)
    else:
        check_rows(rows)


@settings(max_examples=100, deadline=None)
@given(tail=CSVISH_BYTES, step=st.integers(1, 9))
def test_the_read_size_never_changes_the_outcome(tail, step):
    content = b"imei;model\r\n" + b"1;2\r\n" * 900 + tail  # past the first 4 KB, read whole at the start

    def outcome(stream):
        try:
            return list(parse_csv(stream))
        except FileRefused as refused:
            return str(refused)

    assert outcome(TrickleStream(content, step)) == outcome(io.BytesIO(content))


GOOGLE_CELL = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["IMEI", "MEID", "imei", "meid"]),
            st.lists(GOOGLE_CELL, min_size=6, max_size=9),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_google_rows_read_the_same_however_modemtype_is_capitalised(rows):
    """IMEI and MEID as Google writes them take a short path through the reader; any other
    capitalisation takes the general one. Both give the same fields, errors and numbering."""

    def google_file(modem_type) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(GOOGLE_HEADER.strip().split(","))
        for kind, cells in rows:
            writer.writerow([modem_type(kind), *cells])
        return out.getvalue().encode()

    as_written = rows_of(google_file(str))
    recased = rows_of(google_file(str.capitalize))

    assert [(row.number, row.fields, row.errors) for row in as_written] == [
        (row.number, row.fields, row.errors) for row in recased
    ]
    for short, general in zip(as_written, recased, strict=True):
        assert {**general.raw, "modemtype": short.raw["modemtype"]} == short.raw
