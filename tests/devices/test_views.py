import csv
import io
import re

import pytest

from core.roles import Role
from devices.store import cache_store_devices
from tests.devices.factories import api_device, make_customer, make_imei


@pytest.fixture
def fleet(db):
    make_customer(501, "Acme Ltd")
    make_customer(502, "Globex")
    cache_store_devices(
        [
            api_device(1, owner=501, serial="R58N1", metadata={"ordernumber": "SO-1001"}),
            api_device(2, owner=502, model="Pixel 7a"),
            api_device(3),
        ]
    )


def test_the_full_page_has_the_search_box_filters_and_results(client_as, fleet):
    response = client_as(Role.SALES).get("/devices/", {"q": make_imei(1)})

    assert response.status_code == 200
    html = response.text
    assert 'name="q"' in html and "autofocus" in html
    assert 'name="manufacturer"' in html and "Pixel 7a (Google)" in html
    assert "<table" in html and "Acme Ltd" in html and "/devices/1/" in html
    assert "/devices/2/" not in html


def test_an_htmx_search_returns_only_the_results_fragment(client_as, fleet):
    response = client_as(Role.SALES).get(
        "/devices/", {"q": "R58N"}, headers={"HX-Request": "true", "HX-Target": "results"}
    )

    assert response.status_code == 200
    assert "<html" not in response.text and 'name="q"' not in response.text
    assert "/devices/1/" in response.text
    assert response["Vary"] == "HX-Request, Cookie" or "HX-Request" in response["Vary"]


def test_a_row_found_by_its_serial_or_phone_number_shows_it(client_as, fleet):
    cache_store_devices([api_device(4, serial="QX77", metadata={"phonenumber": "+447700900555"})])
    client = client_as(Role.SALES)

    by_serial = client.get("/devices/", {"q": "r58n"}).text
    by_phone = client.get("/devices/", {"q": "+4477009005"}).text
    by_imei = client.get("/devices/", {"q": make_imei(1)}).text

    assert "Serial R58N1" in by_serial and make_imei(1) in by_serial
    assert "Phone +447700900555" in by_phone
    assert "Serial R58N1" not in by_imei  # the IMEI it matched is shown already


def test_typing_the_number_part_of_an_order_finds_its_devices(client_as, fleet):
    cache_store_devices([api_device(5, owner=502, metadata={"ordernumber": "SO-2023-0773100"})])

    html = client_as(Role.SALES).get("/devices/", {"q": "0773100"}).text

    assert "/devices/5/" in html and "SO-2023-0773100" in html
    assert "/devices/1/" not in html
    assert "1 device" in html
    assert "a part of an order number" in html


def test_filters_and_the_next_page_link(client_as, fleet):
    client = client_as(Role.MANAGERS)

    claimed = client.get("/devices/", {"state": "claimed"}).text
    unclaimed = client.get("/devices/", {"state": "unclaimed"}).text
    by_customer = client.get("/devices/", {"customer": 502}).text

    assert "/devices/1/" in claimed and "/devices/3/" not in claimed
    assert "/devices/3/" in unclaimed and "Unclaimed" in unclaimed
    assert "/devices/2/" in by_customer and "/devices/1/" not in by_customer
    assert 'value="Globex"' in by_customer  # the picker shows the chosen customer


def test_a_wrong_imei_check_digit_is_pointed_out(client_as, fleet):
    typo = make_imei(1)[:-1] + str((int(make_imei(1)[-1]) + 1) % 10)

    response = client_as(Role.SALES).get(
        "/devices/", {"q": typo}, headers={"HX-Request": "true", "HX-Target": "results"}
    )

    assert f"did you mean {make_imei(1)}?" in response.text


def test_bad_query_parameters_get_a_message_not_an_error_page(client_as, fleet):
    client = client_as(Role.SALES)

    assert "start the search again" in client.get("/devices/", {"cursor": "garbage"}).text
    assert "not valid" in client.get("/devices/", {"customer": "abc"}).text


def test_the_detail_page_shows_identifiers_claim_metadata_and_history(client_as, fleet):
    from devices.models import DeviceEvent

    DeviceEvent.objects.create(device_id=1, kind="drift_claimed", source="sync", details={"owner": 501})

    response = client_as(Role.MANAGERS).get("/devices/1/")

    assert response.status_code == 200
    for text in [make_imei(1), "R58N1", "Acme Ltd", "SO-1001", "Found claimed outside the portal"]:
        assert text in response.text


def test_an_unknown_device_is_404(client_as, fleet):
    assert client_as(Role.SALES).get("/devices/999/").status_code == 404


def test_the_customer_picker_lists_matching_customers(client_as, fleet):
    response = client_as(Role.SALES).get("/customers/picker/", {"q": "acm"})

    assert 'data-id="501"' in response.text and "Acme Ltd" in response.text
    assert "Globex" not in response.text
    assert "No customer matches" in client_as(Role.SALES).get("/customers/picker/", {"q": "zzz"}).text


def test_every_rejected_field_says_why(client_as, fleet):
    sales = client_as(Role.SALES)
    headers = {"HX-Request": "true"}

    too_long = sales.post(
        "/devices/1/metadata/", {"order_number": "x" * 129, "phone_number": ""}, headers=headers
    )
    nul = sales.post("/devices/1/metadata/", {"order_number": "SO\x001", "phone_number": ""}, headers=headers)
    ios = sales.post(
        "/devices/claim/", {"device_type": "ios", "imei": make_imei(5), "customer": 501}, headers=headers
    )

    assert "Ensure this value has at most 128 characters (it has 129)." in too_long.text
    assert "Null characters are not allowed." in nul.text
    assert "Select a valid choice. ios is not one of the available choices." in ios.text
    for response in (too_long, nul, ios):
        assert 'class="field-error"' in response.text


def export(client, **query):
    response = client.get("/devices/export.csv", query)
    assert response.status_code == 200 and response.streaming
    assert response["Content-Disposition"] == 'attachment; filename="devices.csv"'
    text = b"".join(response.streaming_content).decode()
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_a_search_downloads_as_csv_every_device_it_finds(client_as, fleet):
    cache_store_devices([api_device(4, owner=501, metadata={"ordernumber": "=HYPERLINK(1)"})])
    client = client_as(Role.SALES)

    everything = export(client)
    acme = export(client, customer=501)
    by_text = export(client, q="R58N")

    assert everything[0][:3] == ["device_id", "imei", "imei2"] and "ordernumber" in everything[0]
    assert [row[0] for row in everything[1:]] == ["1", "2", "3", "4"]
    assert [row[0] for row in acme[1:]] == ["1", "4"]
    first = dict(zip(acme[0], acme[1], strict=True))
    assert (first["imei"], first["serial"], first["customer"], first["customer name"]) == (
        make_imei(1),
        "R58N1",
        "501",
        "Acme Ltd",
    )
    assert first["ordernumber"] == "SO-1001"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", first["changed"])  # a spreadsheet's date
    assert dict(zip(acme[0], acme[2], strict=True))["ordernumber"] == "'=HYPERLINK(1)"  # never a formula
    assert [row[0] for row in by_text[1:]] == ["1"]
    assert "/devices/export.csv?customer=501" in client.get("/customers/501/").text
    assert "Download as CSV" in client.get("/devices/", {"customer": 501}).text


def test_an_export_with_a_broken_search_is_refused_in_words(client_as, fleet):
    response = client_as(Role.SALES).get("/devices/export.csv", {"customer": "abc"})

    assert response.status_code == 400 and "start from the devices page again" in response.text
