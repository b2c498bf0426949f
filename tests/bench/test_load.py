"""The load script's own logic (``bench.load``): a few staff for a few seconds against the test
server, and the refusal of any address but this machine's."""

import pytest

from bench.load import MIX, Catalogue, LoadResult, Sample, Staff, TargetRefused, local_target, run_load
from core.roles import Role
from customers.models import Customer
from devices.models import Device
from devices.sync import sync_full
from tests.conftest import make_user

# Sales staff who claim and unclaim often, so a five-second run surely posts both forms.
BUSY_MIX = {
    "sales": {
        "claim": 4,
        "unclaim": 4,
        "search IMEI": 2,
        "search prefix": 1,
        "device page": 1,
        "customer page": 1,
    },
    "manager": MIX["manager"],
}


@pytest.fixture
def team(emulator, transactional_db):
    emulator.seed(customers=2, vendors=0, devices=30, random_seed=5)
    sync_full()
    staff = [
        Staff("load-sales-01", "pw-1", "sales"),
        Staff("load-sales-02", "pw-2", "sales"),
        Staff("load-manager-01", "pw-3", "manager"),
    ]
    for person in staff:
        make_user(Role.SALES if person.role == "sales" else Role.MANAGERS, person.username, person.password)
    devices = list(Device.objects.exclude(imei="").values_list("device_id", "imei", "model"))
    customers = list(Customer.objects.values_list("company_id", "name"))
    catalogue = Catalogue(
        device_ids=[device_id for device_id, _, _ in devices],
        imeis=[imei for _, imei, _ in devices],
        customer_ids=[company_id for company_id, _ in customers],
        customer_queries=[name[:4] for _, name in customers],
        models=sorted({model for _, _, model in devices}),
        claim_customer_ids=[company_id for company_id, _ in customers],
    )
    return staff, catalogue


def test_staff_work_the_pages_and_every_page_answers(team, live_server, emulator):
    staff, catalogue = team
    started = []

    result = run_load(
        live_server.url,
        staff,
        catalogue,
        duration=5,
        max_requests=400,
        think=(0.02, 0.1),
        seed=3,
        on_start=lambda: started.append(True),
        mix=BUSY_MIX,
    )

    kinds = {sample.kind for sample in result.samples}
    assert started == [True]
    assert [sample.error for sample in result.sign_in] == ["", "", ""]
    assert len(result.samples) >= 20
    assert [sample.error for sample in result.samples if sample.error] == []
    assert {"claim form", "claim", "unclaim form", "unclaim", "reports"} <= kinds
    # Each timed claim really claimed a device in zero-touch, and each unclaim really unclaimed one.
    claims = sum(1 for sample in result.samples if sample.kind == "claim")
    unclaims = sum(1 for sample in result.samples if sample.kind == "unclaim")
    assert len(emulator.requests_log(method="partners.devices.claim")) == claims
    assert len(emulator.requests_log(method="partners.devices.unclaim")) == unclaims
    assert result.met(target_ms=30_000)


def test_the_run_stops_at_its_request_bound(team, live_server):
    staff, catalogue = team

    result = run_load(live_server.url, staff, catalogue, duration=30, max_requests=12, think=(0, 0.01))

    assert 12 <= len(result.samples) <= 12 + 3  # a claim or unclaim takes two requests for one turn
    assert result.seconds < 30


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "https://10.0.0.8:8000",
        "http://127.0.0.1.example.com:8000",
        "http://localhost@example.com/",
        "ftp://127.0.0.1",
        "http://127.0.0.1:8000/devices/",
    ],
)
def test_any_target_but_this_machine_is_refused(url):
    with pytest.raises(TargetRefused):
        local_target(url)
    with pytest.raises(TargetRefused):
        run_load(
            url, [Staff("x", "y", "sales")], Catalogue([], [], [], [], [], []), duration=1, max_requests=1
        )


def test_this_machine_is_accepted():
    assert local_target("http://127.0.0.1:8000/") == "http://127.0.0.1:8000"
    assert local_target("http://localhost:9000") == "http://localhost:9000"


def test_one_error_or_a_slow_p95_misses_the_target():
    fast = [Sample("device page", 0.0, 50.0) for _ in range(19)]

    assert LoadResult([*fast, Sample("device page", 0.0, 60.0)], seconds=1).met(300)
    assert not LoadResult([*fast, Sample("device page", 0.0, 60.0, "HTTP 500")], seconds=1).met(300)
    slow = [Sample("reports", 0.0, 900.0) for _ in range(10)]
    assert not LoadResult([*fast[:10], *slow], seconds=1).met(300)
    assert not LoadResult([], seconds=1).met(300)
