"""``is_valid_imei`` adds up the Luhn weights from look-up tables; these tests hold it to the rule as
it is written in the standard, one digit at a time."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.identifiers import detect_identifier, identifier_errors, is_valid_imei, luhn_check_digit


def luhn_valid(value: str) -> bool:
    """The textbook rule: from the right, every second digit doubled (less 9 past 9), the sum a
    multiple of 10."""
    total = 0
    for position, char in enumerate(reversed(value)):
        digit = int(char)
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


DIGITS = st.text("0123456789", min_size=15, max_size=15)


@settings(max_examples=2000)
@given(value=DIGITS)
def test_the_tables_agree_with_the_digit_by_digit_rule(value):
    assert is_valid_imei(value) == luhn_valid(value)


@settings(max_examples=1000)
@given(body=st.text("0123456789", min_size=14, max_size=14))
def test_the_check_digit_makes_a_valid_imei_and_no_other_does(body):
    check = luhn_check_digit(body)

    assert is_valid_imei(body + str(check))
    assert [digit for digit in range(10) if is_valid_imei(body + str(digit))] == [check]


@settings(max_examples=500)
@given(
    value=st.text(st.characters(exclude_categories=("Cs",)), min_size=15, max_size=15).filter(
        lambda value: not (value.isascii() and value.isdigit())
    )
)
def test_fifteen_characters_that_are_not_all_ascii_digits_are_never_an_imei(value):
    assert not is_valid_imei(value)


@pytest.mark.parametrize("length", [0, 1, 14, 16, 30])
def test_only_fifteen_digits_can_be_an_imei(length):
    assert not is_valid_imei(("490154203237518" * 2)[:length])


def test_digits_of_other_scripts_are_refused_in_words_not_with_a_crash():
    """Fullwidth digits (typed on some East Asian keyboards) pass ``str.isdigit`` but are no IMEI."""
    fullwidth = "".join(chr(0xFF10 + int(digit)) for digit in "490154203237518")

    assert not is_valid_imei(fullwidth)
    assert identifier_errors(imei=fullwidth) == {"imei": "An IMEI is 15 digits; this has 15 characters."}
    assert detect_identifier(fullwidth).kind == "serial"
