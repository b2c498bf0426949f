import pytest

from devices.identifiers import (
    IdentifierKind,
    detect_identifier,
    is_valid_imei,
    is_valid_meid,
    looks_like_scientific_notation,
    luhn_check_digit,
)


@pytest.mark.parametrize(
    ("body", "check"), [("49015420323751", 8), ("35209900176148", 1), ("00000000000000", 0)]
)
def test_luhn_check_digit_of_known_imeis(body, check):
    assert luhn_check_digit(body) == check


def test_imei_validity():
    assert is_valid_imei("490154203237518")
    assert not is_valid_imei("490154203237517")  # wrong check digit
    assert not is_valid_imei("49015420323751")  # 14 digits
    assert not is_valid_imei("49015420323751A")


def test_meid_validity():
    assert is_valid_meid("A0000012345678")
    assert is_valid_meid("a0000012345678")
    assert not is_valid_meid("A000001234567G")
    assert not is_valid_meid("A000001234567")


def test_fifteen_digits_are_an_imei():
    guess = detect_identifier(" 490154203237518 ")

    assert (guess.kind, guess.value, guess.complete, guess.warnings) == (
        IdentifierKind.IMEI,
        "490154203237518",
        True,
        [],
    )


def test_an_imei_typed_in_groups_is_read_as_digits():
    assert detect_identifier("49-015420-323751-8").value == "490154203237518"


def test_a_wrong_check_digit_warns_and_suggests_the_likely_imei():
    guess = detect_identifier("490154203237517")

    assert guess.kind is IdentifierKind.IMEI
    assert guess.suggested_value == "490154203237518"
    assert "should be 8" in guess.warnings[0]


def test_fewer_digits_are_an_imei_prefix():
    guess = detect_identifier("49015420")

    assert (guess.kind, guess.complete) == (IdentifierKind.IMEI, False)


def test_fourteen_hex_characters_are_a_meid_in_upper_case():
    guess = detect_identifier("a0000012345678")

    assert (guess.kind, guess.value) == (IdentifierKind.MEID, "A0000012345678")


def test_anything_else_is_a_serial_kept_as_typed():
    guess = detect_identifier("R58N12abcXY")

    assert (guess.kind, guess.value) == (IdentifierKind.SERIAL, "R58N12abcXY")


def test_a_spreadsheet_shortened_imei_is_flagged_not_guessed():
    assert looks_like_scientific_notation("4.90154E+14")
    guess = detect_identifier("4.90154E+14")

    assert guess.complete is False
    assert "scientific notation" in guess.warnings[0]


def test_identifier_errors_of_a_good_android_device():
    from devices.identifiers import identifier_errors

    assert identifier_errors(imei="490154203237518") == {}
    assert identifier_errors(meid="A0000012345678") == {}
    assert identifier_errors(serial_number="R58N1", manufacturer="Google", model="Pixel 8") == {}


def test_identifier_errors_name_the_field_and_say_what_to_do():
    from devices.identifiers import identifier_errors

    assert "should be 8" in identifier_errors(imei="490154203237517")["imei"]
    assert "15 digits" in identifier_errors(imei="4901542032375")["imei"]
    assert "scientific notation" in identifier_errors(imei="4.90154E+14")["imei"]
    assert "hexadecimal" in identifier_errors(meid="A000001234567Z")["meid"]
    assert set(identifier_errors(serial_number="R58N1")) == {"manufacturer", "model"}
    assert "Give the IMEI" in identifier_errors()["imei"]


def test_a_chromeos_device_needs_serial_model_and_attested_id():
    from devices.identifiers import identifier_errors

    assert set(identifier_errors(chrome_os=True)) == {
        "serial_number",
        "model",
        "chrome_os_attested_device_id",
    }
    assert (
        identifier_errors(
            chrome_os=True, serial_number="5CD1", model="Chromebook 14", chrome_os_attested_device_id="5CD1"
        )
        == {}
    )
