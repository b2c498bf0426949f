"""What ``zt_batch`` prints from a file (cells, file names, refusals) cannot drive the operator's
terminal: no escape sequence, bell or other control character reaches its output."""

import io
import json
import re

import pytest
from django.core.management import CommandError, call_command

from batches.models import BatchJob
from tests.devices.factories import make_customer, make_imei

# Retitles the terminal, clears the screen, rings the bell, and the one-character CSI (U+009B).
HOSTILE = ["\x1b]0;pwned\x07", "\x1b[2J", "\x07", "\u009b31m", "\x7f", "\x08"]
# Control characters a terminal acts on, but the line break the command ends its lines with.
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def assert_inert(text: str) -> None:
    assert not CONTROL.search(text), repr(text)
    raw = text.encode("utf-8")
    assert not re.search(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]", raw), raw


@pytest.fixture
def customer(db):
    return make_customer(5551234, "Acme \x1b[2J Rentals")


def run(*args: str) -> tuple[str, str]:
    """The command's stdout and stderr, with a refusal's message as stderr shows it."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("zt_batch", *args, stdout=out, stderr=err)
    except CommandError as refusal:
        err.write(f"CommandError: {refusal}\n")
    return out.getvalue(), err.getvalue()


def hostile_file(tmp_path, name: str = "dev\x1b]0;pwned\x07ices\u009b2J.csv"):
    lines = ["imei,serial,manufacturer,model,ordernumber", f"{make_imei(97950)},,,,"]
    for number, sequence in enumerate(HOSTILE):
        lines += [
            f"35{sequence}{number}0000000,,,,",  # an IMEI that is not one
            f",SN{sequence}{number},,,",  # a serial without make and model
            f",SN{number},Google{sequence},Pixel {sequence}8,",  # a model that is not known
            f"{make_imei(97960 + number)},,,,PO{sequence}",  # an order number with a control in it
        ]
    path = tmp_path / name
    path.write_bytes("\n".join(lines).encode() + b"\n")
    return path


def test_rows_and_messages_from_a_hostile_file_print_without_control_characters(tmp_path, customer):
    path = hostile_file(tmp_path)

    out, err = run("claim", str(path), "--customer", str(customer.pk))

    assert "with errors" in out and "row 3" in out and "nothing was sent" in out
    assert "?" in out  # the sequences are shown, defused, not dropped silently
    assert_inert(out)
    assert_inert(err)
    assert BatchJob.objects.get().source_name == path.name  # the job keeps the name as it was


def test_json_output_and_its_refusals_print_without_control_characters(tmp_path, customer):
    binary = tmp_path / "book\x1b]0;pwned\x07.xlsx"
    binary.write_bytes(b"PK\x03\x04" + bytes(200))

    sent = run("claim", str(hostile_file(tmp_path)), "--customer", str(customer.pk), "--json", "--yes")
    refused = run("claim", str(binary), "--json")

    assert json.loads(sent[0])["job"] == BatchJob.objects.get().pk  # one JSON object, nothing else
    assert refused[0] == "" and "not a CSV file" in refused[1]
    for out, err in (sent, refused):
        assert_inert(out)
        assert_inert(err)


@pytest.mark.django_db
def test_a_refused_file_a_missing_file_and_an_unknown_user_are_named_without_control_characters(tmp_path):
    header = tmp_path / "bad\x1b[2Jheader\x07.csv"
    header.write_bytes(b"imei\x1b]0;pwned\x07,imei\x1b]0;pwned\x07\n1,2\n")
    missing = tmp_path / "gone\x1b[2J\u009b.csv"

    answers = [
        run("claim", str(header)),
        run("claim", str(missing)),
        run("claim", str(header), "--user", "sam\x1b]0;pwned\x07"),
    ]

    for out, err in answers:
        assert "CommandError" in err, (out, err)
        assert_inert(out)
        assert_inert(err)
    assert "twice" in answers[0][1] and "No file at" in answers[1][1] and "No portal user" in answers[2][1]
