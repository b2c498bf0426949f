import pytest

from emulator import catalog, identifiers
from emulator.errors import InvalidArgument

from .conftest import make_imei


def test_luhn_check_digit_completes_known_imeis():
    # The IMEI of Google's claim example and a textbook one.
    assert identifiers.is_valid_imei("098765432109875")
    assert identifiers.is_valid_imei("490154203237518")
    assert not identifiers.is_valid_imei("490154203237519")


@pytest.mark.parametrize("value", ["49015420323751", "4901542032375180", "49015420323751A", ""])
def test_imei_needs_fifteen_digits(value):
    assert not identifiers.is_valid_imei(value)


def test_a_bad_check_digit_is_refused_with_a_message_naming_the_imei():
    with pytest.raises(InvalidArgument) as caught:
        identifiers.validate({"imei": "490154203237519"})
    assert caught.value.reason == "INVALID_DEVICE_IDENTIFIER"
    assert "490154203237519" in caught.value.message
    assert caught.value.device_status == "SINGLE_DEVICE_STATUS_INVALID_DEVICE_IDENTIFIER"


def test_meid_is_fourteen_hex_characters_stored_upper_case():
    assert identifiers.validate({"meid": "a10000009296f2"}) == {"meid": "A10000009296F2"}
    for bad in ("A10000009296F", "A10000009296F2F", "G10000009296F2"):
        with pytest.raises(InvalidArgument):
            identifiers.validate({"meid": bad})


def test_a_serial_number_needs_manufacturer_and_model_to_register_a_device():
    with pytest.raises(InvalidArgument, match="manufacturer and model"):
        identifiers.validate({"serialNumber": "R58N12ABCDE", "manufacturer": "samsung"})
    assert identifiers.validate(
        {"serialNumber": "R58N12ABCDE", "manufacturer": "samsung", "model": "SM-S911B"}
    )
    # Looking a device up by serial number alone is fine.
    assert identifiers.validate({"serialNumber": "R58N12ABCDE"}, registering=False)


def test_manufacturer_and_model_are_case_sensitive_build_values():
    assert identifiers.validate({"imei": make_imei(1), "manufacturer": "samsung", "model": "SM-S911B"})
    with pytest.raises(InvalidArgument, match="Unknown manufacturer 'Samsung'"):
        identifiers.validate({"imei": make_imei(1), "manufacturer": "Samsung"})
    with pytest.raises(InvalidArgument, match="Unknown model 'pixel 8'"):
        identifiers.validate({"imei": make_imei(1), "manufacturer": "Google", "model": "pixel 8"})


def test_a_model_must_belong_to_its_manufacturer():
    with pytest.raises(InvalidArgument, match="of manufacturer 'motorola'"):
        identifiers.validate({"imei": make_imei(1), "manufacturer": "motorola", "model": "Pixel 8"})
    assert identifiers.validate({"imei": make_imei(1), "manufacturer": "motorola", "model": "moto g54 5G"})


def test_second_imei_only_next_to_the_first():
    both = identifiers.validate({"imei": make_imei(1), "imei2": make_imei(2)})
    assert both == {"imei": make_imei(1), "imei2": make_imei(2)}
    with pytest.raises(InvalidArgument, match="imei2"):
        identifiers.validate({"imei2": make_imei(2)})
    with pytest.raises(InvalidArgument):
        identifiers.validate({"imei": make_imei(1), "imei2": "123"})


def test_chrome_os_needs_serial_model_and_attested_device_id():
    chromebook = {
        "deviceType": "DEVICE_TYPE_CHROME_OS",
        "serialNumber": "5CD1234XYZ",
        "model": "HP Chromebook x360 14 G1",
        "chromeOsAttestedDeviceId": "5CD1234XYZ",
    }
    assert identifiers.validate(chromebook)["deviceType"] == "DEVICE_TYPE_CHROME_OS"
    for missing in ("serialNumber", "model", "chromeOsAttestedDeviceId"):
        partial = {k: v for k, v in chromebook.items() if k != missing}
        with pytest.raises(InvalidArgument, match=missing):
            identifiers.validate(partial)
    with pytest.raises(InvalidArgument, match="serial number, model and attested"):
        identifiers.validate({**chromebook, "imei": make_imei(3)})
    with pytest.raises(InvalidArgument, match="not a ChromeOS device"):
        identifiers.validate({**chromebook, "model": "Pixel 8"})


def test_attested_device_id_on_an_android_device_is_refused():
    with pytest.raises(InvalidArgument, match="DEVICE_TYPE_CHROME_OS"):
        identifiers.validate(
            {"deviceType": "DEVICE_TYPE_ANDROID", "imei": make_imei(1), "chromeOsAttestedDeviceId": "X"}
        )


def test_an_empty_identifier_is_refused():
    for empty in (None, {}, {"manufacturer": "Google", "model": "Pixel 8"}):
        with pytest.raises(InvalidArgument, match="IMEI, an MEID or a serial number"):
            identifiers.validate(empty)


def test_the_allow_list_holds_real_build_spellings():
    assert catalog.is_known_model("Pixel 8", "Google")
    assert catalog.is_known_model("SM-S911B", "samsung")
    assert catalog.is_known_model("moto g54 5G", "motorola")
    assert catalog.is_known_model("TC52", "Zebra Technologies")
    assert not catalog.is_known_model("Galaxy S23")
