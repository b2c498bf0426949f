"""Ticking devices on the devices page (devices.selection and its view): ticks are kept in the session
across pages and searches, only devices the cache knows are kept, at most SELECTION_LIMIT, and a bad
request is refused in words."""

import pytest

import devices.selection
from core.roles import Role
from devices.selection import SESSION_KEY
from devices.store import cache_store_devices
from tests.devices.factories import api_device, make_customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(db):
    make_customer(501, "Acme Ltd")
    cache_store_devices([api_device(i, owner=501) for i in range(1, 8)])


def tick(client, op, device="", selected=None, htmx=True):
    data = {"op": op, "device": device}
    if selected:
        data["selected"] = "on"
    return client.post("/devices/selection/", data, headers={"HX-Request": "true"} if htmx else {})


def ticked(client) -> list[int]:
    return client.session.get(SESSION_KEY, [])


def test_ticking_and_unticking_one_device_at_a_time(client_as, fleet):
    client = client_as(Role.SALES)

    first = tick(client, "toggle", "3", selected=True)
    tick(client, "toggle", "5", selected=True)
    tick(client, "toggle", "3")  # the box unticked: no "selected"

    assert first.status_code == 200 and "1 device selected" in first.text
    assert ticked(client) == [5]


def test_a_whole_page_is_ticked_and_the_bar_says_so(client_as, fleet):
    client = client_as(Role.SALES)

    response = tick(client, "add", "1,2,3")
    again = tick(client, "add", "2,3,4")

    assert 'data-selection-ticks="all"' in response.text
    assert "4 devices selected" in again.text
    assert ticked(client) == [1, 2, 3, 4]
    for action in ("claim", "unclaim", "metadata", "move"):
        assert f'href="/batches/new/?selection=1&amp;action={action}"' in again.text


def test_ticks_survive_another_search_and_show_on_its_page(client_as, fleet):
    client = client_as(Role.SALES)
    tick(client, "add", "2,6")

    page = client.get("/devices/", {"customer": 501}).text

    assert "2 devices selected" in page
    assert page.count('class="select-device"') == 7
    assert page.count(" checked hx-post") == 2
    assert 'aria-label="Select device 6" checked' in page


def test_devices_the_cache_does_not_know_are_not_ticked(client_as, fleet):
    client = client_as(Role.SALES)

    tick(client, "add", "2,999999")

    assert ticked(client) == [2]


def test_clearing_unticks_everything(client_as, fleet):
    client = client_as(Role.SALES)
    tick(client, "add", "1,2")

    response = tick(client, "clear")

    assert (
        'data-selection-ticks="none"' in response.text
        and "selected" not in response.text.split("</strong>")[0]
    )
    assert SESSION_KEY not in client.session


def test_a_full_selection_refuses_more_in_words(client_as, fleet, monkeypatch):
    monkeypatch.setattr(devices.selection, "SELECTION_LIMIT", 3)
    client = client_as(Role.SALES)

    response = tick(client, "add", "1,2,3,4,5")

    assert ticked(client) == [1, 2, 3]
    assert "2 not added: a selection holds at most" in response.text


def test_without_htmx_the_devices_page_comes_back(client_as, fleet):
    client = client_as(Role.SALES)

    response = tick(client, "add", "1", htmx=False)
    outside = client.post(
        "/devices/selection/", {"op": "add", "device": "2", "next": "https://evil.example/"}
    )

    assert response.status_code == 302 and response["Location"] == "/devices/"
    assert outside["Location"] == "/devices/"


@pytest.mark.parametrize("device", ["abc", "1;2", "-4", "99999999999999999999999", ",".join(["1"] * 201)])
def test_a_bad_device_list_is_refused_in_words(client_as, fleet, device):
    client = client_as(Role.SALES)

    response = tick(client, "add", device)

    assert response.status_code == 400
    assert "Not a device id." in response.text or "At most 200 devices at a time." in response.text
    assert ticked(client) == []


def test_only_people_who_change_devices_tick_them(client_as, fleet):
    manager = client_as(Role.MANAGERS)

    assert tick(manager, "add", "1").status_code == 403
    assert 'class="select-device"' not in manager.get("/devices/").text
