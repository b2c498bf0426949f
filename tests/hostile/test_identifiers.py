"""Identifier normalisation and the claim rules under any text: they never raise, they accept only
what the API would, and every refusal is a sentence."""

import string

from hypothesis import given
from hypothesis import strategies as st

from devices.claims import claim_errors, metadata_errors
from devices.identifiers import (
    IdentifierKind,
    detect_identifier,
    identifier_errors,
    is_valid_imei,
    is_valid_meid,
    normalize_imei,
    normalize_meid,
)
from tests.hostile.strategies import FULLWIDTH, bounded, hostile_text

any_text = st.one_of(hostile_text, st.text(max_size=40))  # lone surrogates too: these are plain functions
digits = st.text(alphabet=string.digits, min_size=1, max_size=20)
separated_digits = st.lists(
    st.tuples(digits, st.sampled_from(["", " ", "-", "/", ".", "\t"])), max_size=5
).map(lambda parts: "".join(d + s for d, s in parts))


def luhn_valid(imei: str) -> bool:
    """The check digit, written independently of devices.identifiers."""
    total = 0
    for position, char in enumerate(reversed(imei)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


@bounded
@given(text=st.one_of(any_text, separated_digits))
def test_normalising_never_raises_and_is_stable(text):
    assert normalize_imei(normalize_imei(text)) == normalize_imei(text)
    assert normalize_meid(normalize_meid(text)) == normalize_meid(text)


@bounded
@given(
    text=st.one_of(
        any_text, digits, st.text(alphabet=string.digits + "０１２３４５６７８９٣", min_size=15, max_size=15)
    )
)
def test_only_fifteen_ascii_digits_with_their_check_digit_are_an_imei(text):
    expected = len(text) == 15 and all(char in string.digits for char in text) and luhn_valid(text)

    assert is_valid_imei(text) is expected


@bounded
@given(body=st.text(alphabet=string.digits, min_size=14, max_size=14))
def test_the_fullwidth_spelling_of_a_valid_imei_is_refused_in_words(body):
    check = next(d for d in string.digits if luhn_valid(body + d))
    fullwidth = (body + check).translate(FULLWIDTH)

    assert is_valid_imei(body + check)
    assert not is_valid_imei(fullwidth)
    assert identifier_errors(imei=normalize_imei(fullwidth))["imei"].startswith("An IMEI is 15 digits")


@bounded
@given(text=st.one_of(any_text, separated_digits))
def test_detecting_any_text_gives_a_kind_and_a_usable_value(text):
    guess = detect_identifier(text)

    assert guess.kind in IdentifierKind
    if guess.kind is IdentifierKind.IMEI and guess.complete and not guess.warnings:
        assert is_valid_imei(guess.value)
    if guess.kind is IdentifierKind.MEID:
        assert is_valid_meid(guess.value) and guess.value == guess.value.upper()
    if guess.suggested_value:
        assert is_valid_imei(guess.suggested_value)
        assert guess.suggested_value[:14] == guess.value[:14]
        assert guess.suggested_value in guess.warnings[0]


@bounded
@given(
    imei=any_text,
    meid=any_text,
    serial=any_text,
    manufacturer=any_text,
    model=any_text,
    chrome_os=st.booleans(),
    attested=any_text,
)
def test_the_identifier_rules_take_any_text(imei, meid, serial, manufacturer, model, chrome_os, attested):
    errors = identifier_errors(
        imei=normalize_imei(imei),
        meid=normalize_meid(meid),
        serial_number=serial,
        manufacturer=manufacturer,
        model=model,
        chrome_os=chrome_os,
        chrome_os_attested_device_id=attested,
    )

    for message in errors.values():
        assert message[:1].isupper() and message.rstrip(")").endswith((".", "?")), message
    if not chrome_os and normalize_imei(imei) and "imei" not in errors:
        assert is_valid_imei(normalize_imei(imei))
    if normalize_meid(meid) and "meid" not in errors:
        assert is_valid_meid(normalize_meid(meid))


@bounded
@given(
    metadata=st.dictionaries(
        st.one_of(st.sampled_from(["ordernumber", "phonenumber"]), any_text), any_text, max_size=4
    ),
    imei=any_text,
)
def test_the_claim_rules_take_any_metadata(metadata, imei):
    """No customer: that alone is an error; the rest must still be checked without raising."""
    errors = claim_errors(customer=None, imei=normalize_imei(imei), metadata=metadata)

    assert errors["customer"]
    for key, value in metadata.items():
        if any(char in value for char in "\x00\n\r\t"):
            assert key in errors and errors[key] == metadata_errors({key: value})[key]
