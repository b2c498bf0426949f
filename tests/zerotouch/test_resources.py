"""The JSON mapping of the API's resources: one place, both directions."""

from zerotouch import (
    Company,
    Device,
    DeviceIdentifier,
    DeviceMetadata,
    MetadataUpdate,
    Operation,
    OperationMetadata,
    PartnerClaim,
    PartnerUnclaim,
    ProcessingStatus,
    SectionType,
    SingleDeviceStatus,
)

DEVICE_JSON = {
    "deviceId": "3145728",
    "name": "partners/1000001/devices/3145728",
    "deviceIdentifier": {
        "imei": "490154203237518",
        "manufacturer": "Google",
        "model": "Pixel 8",
        "deviceType": "DEVICE_TYPE_ANDROID",
    },
    "deviceMetadata": {"entries": {"ordernumber": "SO-1", "phonenumber": "+1 800 555 0100"}},
    "claims": [
        {
            "sectionType": "SECTION_TYPE_ZERO_TOUCH",
            "ownerCompanyId": "77",
            "resellerId": "1000001",
        }
    ],
    "someFutureField": True,
}


def test_device_from_json_reads_every_field_and_ignores_unknown_ones():
    device = Device.from_json(DEVICE_JSON)

    assert device.device_id == "3145728"
    assert device.name == "partners/1000001/devices/3145728"
    assert device.identifier == DeviceIdentifier(
        imei="490154203237518", manufacturer="Google", model="Pixel 8", device_type="DEVICE_TYPE_ANDROID"
    )
    assert device.metadata.entries == {"ordernumber": "SO-1", "phonenumber": "+1 800 555 0100"}
    assert device.claim_for(SectionType.ZERO_TOUCH).owner_company_id == "77"
    assert device.claim_for(SectionType.SIM_LOCK) is None


def test_device_to_json_writes_what_from_json_reads():
    device = Device.from_json(DEVICE_JSON)

    written = device.to_json()

    assert written == {key: value for key, value in DEVICE_JSON.items() if key != "someFutureField"}
    assert Device.from_json(written) == device


def test_device_without_optional_parts_has_empty_defaults():
    device = Device.from_json({"deviceId": "5"})

    assert device.claims == ()
    assert device.metadata.entries == {}
    assert device.identifier == DeviceIdentifier()


def test_identifier_round_trips_and_leaves_unset_fields_out():
    identifier = DeviceIdentifier(serial_number="SN-1", manufacturer="Samsung", model="SM-G991B")

    assert identifier.to_json() == {"serialNumber": "SN-1", "manufacturer": "Samsung", "model": "SM-G991B"}
    assert DeviceIdentifier.from_json(identifier.to_json()) == identifier


def test_metadata_keeps_empty_values_because_they_delete_keys():
    assert DeviceMetadata(entries={"ordernumber": ""}).to_json() == {"entries": {"ordernumber": ""}}


def test_new_customer_sends_only_input_fields():
    company = Company(company_id="", company_name="XYZ Corp", owner_emails=("liz@example.com",))

    assert company.to_json() == {"companyName": "XYZ Corp", "ownerEmails": ["liz@example.com"]}


def test_company_from_json_flattens_the_workspace_account():
    company = Company.from_json(
        {
            "companyId": 42,
            "companyName": "XYZ Corp",
            "name": "partners/1/customers/42",
            "adminEmails": ["jane@example.com"],
            "termsStatus": "TERMS_STATUS_NOT_ACCEPTED",
            "googleWorkspaceAccount": {"customerId": "C0123", "preProvisioningTokens": ["t1"]},
        }
    )

    assert company.company_id == "42"
    assert company.admin_emails == ("jane@example.com",)
    assert company.terms_status == "TERMS_STATUS_NOT_ACCEPTED"
    assert company.google_workspace_customer_id == "C0123"
    assert company.pre_provisioning_tokens == ("t1",)


def test_batch_items_serialise_with_the_api_names():
    claim = PartnerClaim(
        identifier=DeviceIdentifier(imei="490154203237518"),
        customer_id=77,
        metadata=DeviceMetadata(entries={"ordernumber": "SO-1"}),
    )
    unclaim = PartnerUnclaim(device_id=3145728)
    update = MetadataUpdate(device_id="9", metadata=DeviceMetadata(entries={"phonenumber": "1"}))

    assert claim.to_json() == {
        "deviceIdentifier": {"imei": "490154203237518"},
        "customerId": "77",
        "sectionType": "SECTION_TYPE_ZERO_TOUCH",
        "deviceMetadata": {"entries": {"ordernumber": "SO-1"}},
    }
    assert unclaim.to_json() == {"deviceId": "3145728", "sectionType": "SECTION_TYPE_ZERO_TOUCH"}
    assert update.to_json() == {"deviceId": "9", "deviceMetadata": {"entries": {"phonenumber": "1"}}}
    assert PartnerClaim.from_json(claim.to_json()) == PartnerClaim(
        identifier=claim.identifier, customer_id="77", metadata=claim.metadata
    )


def test_running_operation_reports_progress_but_no_results():
    operation = Operation.from_json(
        {
            "name": "operations/apibatchoperation/123",
            "metadata": {
                "@type": "type.googleapis.com/"
                "google.android.device.provisioning.v1.DevicesLongRunningOperationMetadata",
                "processingStatus": "BATCH_PROCESS_IN_PROGRESS",
                "progress": 100,
                "devicesCount": 2,
            },
        }
    )

    assert not operation.done
    assert operation.metadata.processing_status == ProcessingStatus.IN_PROGRESS
    assert operation.metadata.progress == 100
    assert operation.metadata.devices_count == 2
    assert operation.results == ()
    assert operation.success_count is None


def test_finished_operation_lists_per_device_results_in_request_order():
    operation = Operation.from_json(
        {
            "name": "operations/apibatchoperation/123",
            "done": True,
            "metadata": {"processingStatus": "BATCH_PROCESS_PROCESSED", "progress": 100, "devicesCount": 2},
            "response": {
                "perDeviceStatus": [
                    {
                        "result": {"deviceId": "12", "status": "SINGLE_DEVICE_STATUS_SUCCESS"},
                        "claim": {
                            "deviceIdentifier": {"imei": "490154203237518"},
                            "customerId": "7",
                            "sectionType": "SECTION_TYPE_ZERO_TOUCH",
                        },
                    },
                    {
                        "result": {
                            "status": "SINGLE_DEVICE_STATUS_SECTION_NOT_YOURS",
                            "errorIdentifier": "SECTION_NOT_YOURS",
                            "errorMessage": "Claimed by another reseller.",
                        },
                        "claim": {
                            "deviceIdentifier": {"imei": "353918051234567"},
                            "customerId": "7",
                            "sectionType": "SECTION_TYPE_ZERO_TOUCH",
                        },
                    },
                ],
                "successCount": 1,
            },
        }
    )

    assert operation.done
    assert operation.success_count == 1
    first, second = operation.results
    assert first.succeeded and first.device_id == "12"
    assert first.claim.identifier.imei == "490154203237518"
    assert second.status == SingleDeviceStatus.SECTION_NOT_YOURS
    assert second.error_identifier == "SECTION_NOT_YOURS"
    assert second.error_message == "Claimed by another reseller."
    assert operation.failed_results == (second,)


def test_an_operation_is_polled_again_when_its_pace_says_it_will_be_done():
    def at(progress):
        return Operation(name="operations/1", metadata=OperationMetadata(progress=progress))

    bounds = {"minimum": 2.0, "maximum": 10.0}
    assert at(25).next_poll_in(2.0, **bounds) == 6.0  # 2 s for a quarter: 6 s for the rest
    assert at(50).next_poll_in(30.0, **bounds) == 10.0  # never longer than the maximum
    assert at(90).next_poll_in(9.0, **bounds) == 2.0  # nor shorter than the minimum
    assert at(100).next_poll_in(9.0, **bounds) == 2.0  # 100 % but not done yet


def test_an_operation_without_progress_or_submission_time_is_polled_after_the_minimum():
    bounds = {"minimum": 2.0, "maximum": 10.0}
    assert Operation(name="operations/1").next_poll_in(60.0, **bounds) == 2.0
    assert (
        Operation(name="operations/1", metadata=OperationMetadata(progress=0)).next_poll_in(60.0, **bounds)
        == 2.0
    )
    assert (
        Operation(name="operations/1", metadata=OperationMetadata(progress=40)).next_poll_in(None, **bounds)
        == 2.0
    )
