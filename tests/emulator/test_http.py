"""The HTTP layer and the control endpoints, against a server on a free port."""

import http.client
import json
import threading
import time
import urllib.parse

import pytest

from emulator.testing import AUTH_HEADERS

from .conftest import PARTNER_ID, ZERO_TOUCH, make_imei, pixel

P = str(PARTNER_ID)


def connect(emulator) -> http.client.HTTPConnection:
    parts = urllib.parse.urlsplit(emulator.url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)


def call(conn, method, path, body=None, headers=AUTH_HEADERS):
    payload = body if isinstance(body, bytes | None) else json.dumps(body).encode()
    conn.request(method, path, body=payload, headers=dict(headers))
    response = conn.getresponse()
    raw = response.read()
    return response, (json.loads(raw) if raw else None)


@pytest.fixture
def conn(emulator):
    connection = connect(emulator)
    yield connection
    connection.close()


def first_customer(emulator) -> str:
    return emulator.seed_summary["customerIds"][0]


def test_requests_without_a_bearer_token_are_unauthenticated(emulator, conn):
    response, body = call(conn, "GET", f"/v1/partners/{P}/customers", headers={})
    assert response.status == 401
    assert body["error"]["status"] == "UNAUTHENTICATED"
    assert body["error"]["code"] == 401
    assert response.getheader("WWW-Authenticate").startswith("Bearer")
    response, _ = call(conn, "GET", f"/v1/partners/{P}/customers", headers={"Authorization": "Bearer "})
    assert response.status == 401
    response, _ = call(
        conn, "GET", f"/v1/partners/{P}/customers", headers={"Authorization": "Bearer anything"}
    )
    assert response.status == 200
    response, _ = call(conn, "GET", f"/v1/partners/{P}/customers?access_token=abc", headers={})
    assert response.status == 200


def test_errors_use_googles_json_shape(conn):
    response, body = call(conn, "GET", "/v1/partners/7654321/customers")
    assert response.status == 403
    assert response.getheader("Content-Type").startswith("application/json")
    error = body["error"]
    assert set(error) == {"code", "message", "status", "details"}
    assert (error["code"], error["status"]) == (403, "PERMISSION_DENIED")
    assert error["details"][0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert error["details"][0]["reason"] == "PARTNER_NOT_YOURS"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/partners/1234567/unknown", 404),
        ("DELETE", "/v1/partners/1234567/customers", 404),
        ("GET", "/v2/partners/1234567/customers", 404),
        ("GET", "/v1/partners/abc/customers", 400),
        ("GET", "/v1/partners/1234567/customers?alt=proto", 400),
        ("GET", "/v1/partners/1234567/devices/not-a-number", 400),
        ("GET", "/v1/partners/1234567/devices/1", 404),
        ("GET", "/v1/operations/apibatchoperation/1", 404),
    ],
)
def test_route_and_parameter_errors(conn, method, path, status):
    response, body = call(conn, method, path)
    assert response.status == status
    assert body["error"]["code"] == status


def test_bad_bodies_are_invalid_arguments(conn):
    path = f"/v1/partners/{P}/devices:claim"
    response, body = call(conn, "POST", path, b"{not json")
    assert response.status == 400
    assert body["error"]["details"][0]["reason"] == "INVALID_JSON_PAYLOAD"
    response, body = call(conn, "POST", path, {"customerId": "1", "deviceIdentifer": {}})
    assert response.status == 400
    assert 'Unknown name "deviceIdentifer"' in body["error"]["message"]


def test_alt_json_is_tolerated_and_int64_values_are_strings(emulator, conn):
    response, body = call(conn, "GET", f"/v1/partners/{P}/customers?alt=json&prettyPrint=false")
    assert response.status == 200
    assert all(isinstance(c["companyId"], str) for c in body["customers"])
    assert isinstance(body["totalSize"], int)


def test_keep_alive_serves_many_requests_on_one_connection(emulator, conn):
    call(conn, "GET", f"/v1/partners/{P}/vendors")
    sock = conn.sock
    for _ in range(20):
        response, _ = call(conn, "GET", f"/v1/partners/{P}/vendors")
        assert response.status == 200
        assert response.version == 11
    assert conn.sock is sock


def test_claim_then_get_then_find_over_http(emulator, conn):
    customer = first_customer(emulator)
    response, claimed = call(
        conn,
        "POST",
        f"/v1/partners/{P}/devices:claim",
        {"customerId": customer, "deviceIdentifier": pixel(1), "sectionType": ZERO_TOUCH},
    )
    assert response.status == 200
    device_id = claimed["deviceId"]
    response, device = call(conn, "GET", f"/v1/partners/{P}/devices/{device_id}")
    assert device["name"] == f"partners/{P}/devices/{device_id}"
    assert device["claims"] == [{"sectionType": ZERO_TOUCH, "resellerId": P, "ownerCompanyId": customer}]
    response, found = call(
        conn,
        "POST",
        f"/v1/partners/{P}/devices:findByIdentifier",
        {"deviceIdentifier": {"imei": make_imei(1)}, "limit": "10"},
    )
    assert [d["deviceId"] for d in found["devices"]] == [device_id]
    response, conflict = call(
        conn,
        "POST",
        f"/v1/partners/{P}/devices:claim",
        {
            "customerId": emulator.seed_summary["customerIds"][1],
            "deviceIdentifier": pixel(1),
            "sectionType": ZERO_TOUCH,
        },
    )
    assert response.status == 400
    assert conflict["error"]["status"] == "FAILED_PRECONDITION"
    assert "already claimed by another customer" in conflict["error"]["message"]


def test_operation_names_with_slashes_are_served(emulator, conn):
    customer = first_customer(emulator)
    emulator.set_operation_rate(0)
    response, operation = call(
        conn,
        "POST",
        f"/v1/partners/{P}/devices:claimAsync",
        {
            "claims": [
                {"customerId": customer, "deviceIdentifier": pixel(n), "sectionType": ZERO_TOUCH}
                for n in range(3)
            ]
        },
    )
    assert response.status == 200
    assert operation["done"] is False
    assert operation["name"].count("/") == 2
    response, polled = call(conn, "GET", f"/v1/{operation['name']}")
    assert polled["metadata"]["processingStatus"] == "BATCH_PROCESS_PENDING"
    assert emulator.complete_operations() == 1
    response, polled = call(conn, "GET", f"/v1/{operation['name']}?alt=json")
    assert polled["done"] is True
    assert polled["response"]["successCount"] == 3


# ---------------------------------------------------------------- faults


def test_error_faults_answer_with_the_chosen_statuses_and_change_nothing(emulator, conn):
    emulator.set_faults(error_rate=1.0, error_codes=[503], random_seed=1)
    customer = first_customer(emulator)
    body = {"customerId": customer, "deviceIdentifier": pixel(1), "sectionType": ZERO_TOUCH}
    response, error = call(conn, "POST", f"/v1/partners/{P}/devices:claim", body)
    assert response.status == 503
    assert error["error"]["status"] == "UNAVAILABLE"
    emulator.clear_faults()
    response, found = call(
        conn, "POST", f"/v1/partners/{P}/devices:findByIdentifier", {"deviceIdentifier": pixel(1), "limit": 1}
    )
    assert found == {}
    log = emulator.requests_log(method="partners.devices.claim")
    assert [(e["status"], e["outcome"]) for e in log] == [(503, "fault")]


def test_an_error_rate_hits_about_that_share_of_requests(emulator, conn):
    emulator.set_faults(error_rate=0.3, error_codes=[500, 503], random_seed=4)
    statuses = [call(conn, "GET", f"/v1/partners/{P}/vendors")[0].status for _ in range(200)]
    failures = [s for s in statuses if s != 200]
    assert set(failures) == {500, 503}
    assert 30 <= len(failures) <= 90
    counts = emulator.stats()["methods"]["partners.vendors.list"]
    assert counts["500"] + counts["503"] == len(failures)


def test_faults_can_target_some_methods(emulator, conn):
    emulator.set_faults(error_rate=1.0, error_codes=[500], methods=["partners.vendors.list"])
    assert call(conn, "GET", f"/v1/partners/{P}/vendors")[0].status == 500
    assert call(conn, "GET", f"/v1/partners/{P}/customers")[0].status == 200


def test_quota_answers_429_with_retry_after(emulator, conn):
    emulator.set_faults(quota_per_minute=5)
    statuses = [call(conn, "GET", f"/v1/partners/{P}/vendors")[0].status for _ in range(5)]
    assert statuses == [200] * 5
    response, body = call(conn, "GET", f"/v1/partners/{P}/vendors")
    assert response.status == 429
    assert body["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert 1 <= int(response.getheader("Retry-After")) <= 60
    assert emulator.health()["status"] == "ok"  # control endpoints are never limited
    emulator.set_faults(quota_per_minute=0)
    assert call(conn, "GET", f"/v1/partners/{P}/vendors")[0].status == 200


def test_latency_is_added(emulator, conn):
    emulator.set_faults(latency_ms=150)
    started = time.perf_counter()
    assert call(conn, "GET", f"/v1/partners/{P}/vendors")[0].status == 200
    assert time.perf_counter() - started >= 0.15


def test_a_dropped_connection_gets_no_response_and_changes_nothing(emulator, conn):
    emulator.set_faults(drop_rate=1.0)
    customer = first_customer(emulator)
    body = {"customerId": customer, "deviceIdentifier": pixel(1), "sectionType": ZERO_TOUCH}
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        call(conn, "POST", f"/v1/partners/{P}/devices:claim", body)
    conn.close()
    emulator.clear_faults()
    status, found = emulator.api(
        "POST", f"/v1/partners/{P}/devices:findByIdentifier", {"deviceIdentifier": pixel(1), "limit": 1}
    )
    assert (status, found) == (200, {})
    assert emulator.requests_log()[-1]["outcome"] == "dropped"
    assert emulator.stats()["methods"]["partners.devices.claim"] == {"dropped": 1}


def test_a_drop_after_processing_changes_the_state_without_answering(emulator, conn):
    emulator.set_faults(drop_after_rate=1.0)
    customer = first_customer(emulator)
    body = {"customerId": customer, "deviceIdentifier": pixel(1), "sectionType": ZERO_TOUCH}
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        call(conn, "POST", f"/v1/partners/{P}/devices:claim", body)
    emulator.clear_faults()
    _, found = emulator.api(
        "POST", f"/v1/partners/{P}/devices:findByIdentifier", {"deviceIdentifier": pixel(1), "limit": 1}
    )
    assert found["devices"][0]["claims"][0]["ownerCompanyId"] == customer
    entry = emulator.requests_log()[-1]
    assert entry["outcome"] == "dropped_after_processing"
    assert entry["response"]["deviceId"] == found["devices"][0]["deviceId"]


# ---------------------------------------------------------------- controls


def test_the_request_log_shows_each_submission_with_its_body(emulator):
    customer = first_customer(emulator)
    claims = [
        {"customerId": customer, "deviceIdentifier": pixel(n), "sectionType": ZERO_TOUCH} for n in range(2)
    ]
    status, operation = emulator.api("POST", f"/v1/partners/{P}/devices:claimAsync", {"claims": claims})
    assert status == 200
    emulator.api("GET", f"/v1/{operation['name']}")  # reads are not logged
    log = emulator.requests_log()
    assert len(log) == 1
    entry = log[0]
    assert entry["method"] == "partners.devices.claimAsync"
    assert entry["httpMethod"] == "POST"
    assert entry["path"] == f"/v1/partners/{P}/devices:claimAsync"
    assert entry["body"] == {"claims": claims}
    assert (entry["status"], entry["outcome"]) == (200, "ok")
    assert entry["response"]["name"] == operation["name"]
    submitted = [c["deviceIdentifier"]["imei"] for e in log for c in e["body"]["claims"]]
    assert submitted.count(make_imei(0)) == 1
    assert emulator.requests_log(since=entry["seq"]) == []
    assert emulator.requests_log(method="partners.devices.unclaim") == []
    emulator.clear_requests_log()
    assert emulator.requests_log() == []


def test_stats_count_requests_by_method_and_outcome(emulator, conn):
    emulator.clear_stats()
    call(conn, "GET", f"/v1/partners/{P}/vendors")
    call(conn, "GET", f"/v1/partners/{P}/vendors")
    call(conn, "GET", f"/v1/partners/{P}/devices/1")
    call(conn, "GET", f"/v1/partners/{P}/vendors", headers={})
    stats = emulator.stats()
    assert stats["methods"] == {
        "partners.vendors.list": {"200": 2, "401": 1},
        "partners.devices.get": {"404": 1},
    }
    assert stats["total"] == 4


def test_reset_empties_the_state_and_turns_faults_off(emulator):
    emulator.set_faults(latency_ms=1, error_rate=0.5)
    emulator.reset()
    assert emulator.faults()["error_rate"] == 0
    summary = emulator.summary()
    assert (summary["devices"], summary["customerIds"], summary["vendors"]) == (0, [], [])
    status, body = emulator.api("GET", f"/v1/partners/{P}/customers")
    assert (status, body) == (200, {})


def test_seed_control_replaces_the_state(emulator):
    summary = emulator.seed(customers=2, vendors=1, devices=40, random_seed=9)
    assert len(summary["customerIds"]) == 2
    assert emulator.summary()["devices"] == 40
    _, vendors = emulator.api("GET", f"/v1/partners/{P}/vendors")
    assert [v["companyId"] for v in vendors["vendors"]] == [summary["vendors"][0]["companyId"]]


def test_invalid_control_requests_are_400(emulator):
    status, _ = emulator.request("POST", "/_emulator/faults", {"error_rate": 2})
    assert status == 400
    status, _ = emulator.request("POST", "/_emulator/faults", {"colour": "red"})
    assert status == 400
    status, _ = emulator.request("POST", "/_emulator/seed", {"planets": 3})
    assert status == 400
    status, _ = emulator.request("GET", "/_emulator/nothing")
    assert status == 404
    status, _ = emulator.request("POST", "/_emulator/operation-rate", {"devices_per_second": -1})
    assert status == 400


def test_operation_rate_can_be_changed_at_run_time(emulator):
    emulator.set_operation_rate(25)
    assert emulator.request("GET", "/_emulator/operation-rate")[1] == {"devices_per_second": 25.0}
    assert emulator.health()["operationRate"] == 25.0


def test_a_reset_brings_back_the_operation_rate_the_emulator_started_with(emulator):
    started = emulator.health()["operationRate"]
    emulator.set_operation_rate(0)  # a test pauses every operation...
    emulator.reset()
    # ...and the next one, after a reset, finds operations moving again
    assert emulator.health()["operationRate"] == started != 0


def test_concurrent_claims_of_one_device_let_exactly_one_customer_win(emulator):
    first, second = emulator.seed_summary["customerIds"][:2]
    results: list[tuple[str, int]] = []

    def claim_many(customer: str) -> None:
        connection = connect(emulator)
        try:
            for n in range(20):
                body = {"customerId": customer, "deviceIdentifier": pixel(100 + n), "sectionType": ZERO_TOUCH}
                response, _ = call(connection, "POST", f"/v1/partners/{P}/devices:claim", body)
                results.append((customer, n, response.status))
        finally:
            connection.close()

    threads = [threading.Thread(target=claim_many, args=(c,)) for c in (first, second, first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 80
    for n in range(20):
        outcomes = {(customer, status) for customer, m, status in results if m == n}
        winners = {customer for customer, status in outcomes if status == 200}
        assert len(winners) == 1
        assert {status for _, status in outcomes} <= {200, 400}
        _, found = emulator.api(
            "POST",
            f"/v1/partners/{P}/devices:findByIdentifier",
            {"deviceIdentifier": pixel(100 + n), "limit": 5},
        )
        assert found["totalSize"] == 1
        assert found["devices"][0]["claims"][0]["ownerCompanyId"] in winners


def test_a_large_claim_async_over_http(emulator):
    emulator.set_operation_rate(float("inf"))
    customer = first_customer(emulator)
    claims = [
        {"customerId": customer, "deviceIdentifier": pixel(n), "sectionType": ZERO_TOUCH} for n in range(5000)
    ]
    status, operation = emulator.api("POST", f"/v1/partners/{P}/devices:claimAsync", {"claims": claims})
    assert status == 200
    deadline = time.monotonic() + 30
    while not (polled := emulator.api("GET", f"/v1/{operation['name']}")[1])["done"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert polled["response"]["successCount"] == 5000
    assert len(polled["response"]["perDeviceStatus"]) == 5000


def test_an_injected_429_is_resource_exhausted_and_asks_for_a_one_second_wait(emulator, conn):
    # As Google does, a 429 says when to come back; an injected one asks for one second.
    emulator.set_faults(error_rate=1.0, error_codes=[429])
    response, body = call(conn, "GET", f"/v1/partners/{P}/vendors")
    assert response.status == 429
    assert body["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert response.getheader("Retry-After") == "1"


def test_an_injected_501_reports_the_rpc_code_unimplemented(emulator, conn):
    emulator.set_faults(error_rate=1.0, error_codes=[501])
    response, body = call(conn, "GET", f"/v1/partners/{P}/vendors")
    assert (response.status, body["error"]["status"]) == (501, "UNIMPLEMENTED")


def test_the_in_process_emulator_restarts_with_its_state(emulator):
    customer = first_customer(emulator)
    status, claimed = emulator.api(
        "POST",
        f"/v1/partners/{P}/devices:claim",
        {"customerId": customer, "deviceIdentifier": pixel(1), "sectionType": ZERO_TOUCH},
    )
    url = emulator.url
    emulator.restart()
    assert emulator.url == url
    status, device = emulator.api("GET", f"/v1/partners/{P}/devices/{claimed['deviceId']}")
    assert status == 200
    assert device["claims"][0]["ownerCompanyId"] == customer
