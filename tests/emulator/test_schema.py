import pytest

from emulator import schema
from emulator.errors import InvalidArgument


def test_camel_case_and_snake_case_names_are_both_accepted():
    parsed = schema.parse(
        "ClaimDeviceRequest",
        {"customer_id": 12, "sectionType": "SECTION_TYPE_ZERO_TOUCH", "device_identifier": {"imei": "1"}},
    )
    assert parsed == {
        "customerId": "12",
        "sectionType": "SECTION_TYPE_ZERO_TOUCH",
        "deviceIdentifier": {"imei": "1"},
    }


def test_int64_accepts_strings_and_numbers_and_comes_back_as_a_string():
    assert schema.parse("FindDevicesByOwnerRequest", {"limit": "10", "customerId": [1, "2"]}) == {
        "limit": "10",
        "customerId": ["1", "2"],
    }
    with pytest.raises(InvalidArgument, match=r"Invalid value at 'limit' \(TYPE_INT64\), \"ten\""):
        schema.parse("FindDevicesByOwnerRequest", {"limit": "ten"})


def test_an_unknown_field_is_refused_with_its_path():
    with pytest.raises(InvalidArgument) as caught:
        schema.parse("ClaimDevicesRequest", {"claims": [{"deviceIdentifier": {"imie": "1"}}]})
    assert caught.value.message == (
        'Invalid JSON payload received. Unknown name "imie" at '
        "'claims[0].device_identifier': Cannot find field."
    )
    with pytest.raises(InvalidArgument, match='Unknown name "customerID": Cannot find field'):
        schema.parse("ClaimDeviceRequest", {"customerID": "1"})


def test_an_unknown_enum_value_is_refused():
    with pytest.raises(InvalidArgument, match="DeviceProvisioningSectionType"):
        schema.parse("ClaimDeviceRequest", {"sectionType": "ZERO_TOUCH"})


def test_null_means_unset_and_enum_numbers_map_to_names():
    assert schema.parse("UnclaimDeviceRequest", {"deviceId": None, "sectionType": 2}) == {
        "sectionType": "SECTION_TYPE_ZERO_TOUCH"
    }


def test_wrong_json_types_are_refused():
    with pytest.raises(InvalidArgument):
        schema.parse("ClaimDevicesRequest", {"claims": {"not": "a list"}})
    with pytest.raises(InvalidArgument):
        schema.parse("UpdateDeviceMetadataRequest", {"deviceMetadata": {"entries": {"k": 1}}})
    with pytest.raises(InvalidArgument, match="Expected an object"):
        schema.parse("ClaimDeviceRequest", ["not", "an", "object"])
    with pytest.raises(InvalidArgument, match="Invalid time format"):
        schema.parse("UnclaimDeviceRequest", {"vacationModeExpireTime": "tomorrow"})
