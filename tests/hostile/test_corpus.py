"""The stored corpus of hostile input (tests/hostile/corpus/*.json), replayed on every run.

Each file holds cases for one entry point: CSV files and pasted text for the batch parsers,
identifiers for the claim rules, requests for the pages. A case says what must come out (a refusal
with words, rows, a status); ``xfail`` names a known bug, strictly, optionally only on one database
(``xfail_on``). Add a case for every bug found, by Hypothesis or by hand."""

import io
import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from batches.parsing import FileRefused, Limits, parse_csv, parse_pasted
from devices.identifiers import (
    detect_identifier,
    identifier_errors,
    is_valid_imei,
    is_valid_meid,
    normalize_imei,
    normalize_meid,
)
from tests.hostile.conftest import assert_clear_answer, body_of, said_why

CORPUS = Path(__file__).parent / "corpus"


def cases(name: str) -> list:
    found = json.loads((CORPUS / name).read_text(encoding="utf-8"))["cases"]
    return [pytest.param(case, id=case["id"], marks=_marks(case)) for case in found]


def _marks(case: dict) -> list:
    if "xfail" not in case:
        return []
    # The database is known when the cases are collected: tests.settings read DATABASE_URL.
    applies = case.get("xfail_on", connection.vendor) == connection.vendor
    return [pytest.mark.xfail(applies, reason=case["xfail"], strict=True)]


def test_the_corpus_holds_at_least_200_cases():
    total = sum(len(json.loads(path.read_text())["cases"]) for path in CORPUS.glob("*.json"))

    assert total >= 200


def content_of(parts: list) -> bytes:
    content = b""
    for part in parts:
        if isinstance(part, str):
            content += part.encode("utf-8", "surrogatepass")
        elif "hex" in part:
            content += bytes.fromhex(part["hex"])
        elif "encoding" in part:
            content += part["text"].encode(part["encoding"])
        else:
            content += part["text"].encode() * part.get("times", 1)
    return content


def check_outcome(case: dict, read) -> None:
    limits = Limits(**case.get("limits", {}))
    if case["expect"] == "refused":
        with pytest.raises(FileRefused) as refused:
            read(limits)
        message = str(refused.value)
        assert case["contains"] in message
        assert message[:1].isupper() and message.endswith("."), message
        assert "\x00" not in message
        return
    rows = read(limits)
    assert len(rows) == case["rows"], rows
    for row in rows:
        for key, value in [*row.fields.items(), *row.raw.items()]:
            assert "\x00" not in key and "\x00" not in value, row
    for name, value in case.get("field", {}).items():
        assert rows[0].fields[name] == value
    if "row_error" in case:
        assert any(case["row_error"] in error for row in rows for error in row.errors), rows
    else:
        assert all(not row.errors for row in rows), rows


@pytest.mark.parametrize("case", cases("csv_files.json"))
def test_a_stored_csv_file(case):
    content = content_of(case["parts"])

    check_outcome(
        case, lambda limits: list(parse_csv(io.BytesIO(content), limits=limits, name=case.get("name", "")))
    )
    if "name" in case and case["expect"] == "refused":
        with pytest.raises(FileRefused) as refused:
            list(parse_csv(io.BytesIO(content), name=case["name"]))
        assert "\x00" not in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("case", cases("pasted.json"))
def test_a_stored_paste(case):
    check_outcome(case, lambda limits: list(parse_pasted(case["text"], limits=limits)))


@pytest.mark.parametrize("case", cases("identifiers.json"))
def test_a_stored_identifier(case):
    value = case["value"]
    imei, meid = normalize_imei(value), normalize_meid(value)
    guess = detect_identifier(value)
    errors = identifier_errors(imei=imei)

    if "valid_imei" in case:
        assert is_valid_imei(imei) is case["valid_imei"]
    if "kind" in case:
        assert guess.kind == case["kind"]
    if "suggestion" in case:
        assert guess.suggested_value == case["suggestion"]
    if "meid_ok" in case:
        assert is_valid_meid(meid) is case["meid_ok"]
        assert ("meid" in identifier_errors(meid=meid)) is not case["meid_ok"]
    if case.get("no_error"):
        assert errors == {}
    if "error" in case:  # as the claim form and a batch row see it: normalised first
        assert case["error"] in errors["imei"], errors
    if "raw_error" in case:  # as given, before the separators (a dot included) are taken out
        assert case["raw_error"] in identifier_errors(imei=value.strip())["imei"]
    for message in errors.values():
        assert message[:1].isupper(), message


@pytest.mark.parametrize("case", cases("requests.json"))
def test_a_stored_request(site, emulator, case):
    params = dict(case["params"])
    if "upload" in case:
        content = content_of([case["upload"]])
        params["file"] = SimpleUploadedFile(case["upload_name"], content, content_type="text/csv")
    send = site.post if case["method"] == "POST" else site.get

    response = send(case["path"], params)

    if case["status"] is not None:
        assert response.status_code == case["status"], body_of(response)[:600]
    if response.status_code != 404:
        assert_clear_answer(response, says_why=case.get("says_why", True))
    if case["contains"]:
        assert any(case["contains"] in reason for reason in said_why(response)), said_why(response)
