"""Retries, deadlines and the rule that a state change is never sent twice when the server may have
acted. The emulator's statistics and request log count what really reached it."""

import logging
import time

import pytest

from zerotouch import (
    Client,
    ConnectionFailed,
    FailedPrecondition,
    InternalError,
    OutcomeUnknown,
    PartnerClaim,
    Priority,
    RateLimited,
    RetryPolicy,
    Timeout,
    Unavailable,
)
from zerotouch.auth import build_session

from .factories import PARTNER_ID, make_pixel


def attempts(emulator, api_method):
    return emulator.stats()["methods"].get(api_method, {})


def settled_log(emulator, api_method):
    """The request log once the emulator has written it: a dropped connection is logged just after the
    client sees it close."""
    log, deadline = [], time.monotonic() + 3.0
    while time.monotonic() < deadline:
        time.sleep(0.1)
        latest = emulator.requests_log(method=api_method)
        if latest and latest == log:
            return latest
        log = latest
    return log


def claims_for(emulator, customer, serial):
    return [PartnerClaim(identifier=make_pixel(serial), customer_id=customer)]


def test_reads_survive_injected_500_and_503(client, emulator, caplog):
    expected = sorted(c.company_id for c in client.customers_list())
    emulator.clear_stats()
    emulator.set_faults(error_rate=0.5, error_codes=[500, 503], random_seed=11)

    with caplog.at_level(logging.INFO, logger="zerotouch.client"):
        pages = [sorted(c.company_id for c in client.customers_list(page_size=1)) for _ in range(5)]

    assert pages == [expected] * 5
    outcomes = attempts(emulator, "partners.customers.list")
    assert outcomes.get("500", 0) + outcomes.get("503", 0) > 0
    retried = [r for r in caplog.records if r.retries > 0]
    assert retried and all(r.outcome == "ok" and r.attempts == r.retries + 1 for r in retried)


def test_a_batch_submission_is_retried_after_429_and_runs_once(client, emulator):
    customer = emulator.seed_summary["customerIds"][0]
    # With this seed the emulator's first roll refuses the submission (the later rolls vary).
    emulator.set_faults(
        error_rate=0.75, error_codes=[429], methods=["partners.devices.claimAsync"], random_seed=5
    )

    operation = client.devices_claim_async(claims=claims_for(emulator, customer, 30))

    log = settled_log(emulator, "partners.devices.claimAsync")
    statuses = [entry["status"] for entry in log]
    assert len(statuses) >= 2
    assert statuses == [429] * (len(statuses) - 1) + [200]
    assert log[-1]["response"]["name"] == operation.name


def test_a_batch_submission_answered_503_is_sent_again_and_runs_once(client, emulator):
    customer = emulator.seed_summary["customerIds"][0]
    emulator.set_faults(
        error_rate=0.6, error_codes=[503], methods=["partners.devices.claimAsync"], random_seed=3
    )

    operation = client.devices_claim_async(claims=claims_for(emulator, customer, 30))

    statuses = [entry["status"] for entry in settled_log(emulator, "partners.devices.claimAsync")]
    assert len(statuses) >= 2  # the seed answers 503 first
    assert statuses == [503] * (len(statuses) - 1) + [200]  # accepted once, after the refusals
    assert operation.name


@pytest.mark.parametrize("http_code", [500, 502, 504])
def test_a_batch_submission_answered_5xx_is_not_repeated(client, emulator, http_code):
    customer = emulator.seed_summary["customerIds"][0]
    emulator.set_faults(error_rate=1.0, error_codes=[http_code], methods=["partners.devices.claimAsync"])

    with pytest.raises(OutcomeUnknown) as caught:
        client.devices_claim_async(claims=claims_for(emulator, customer, 31))

    assert len(settled_log(emulator, "partners.devices.claimAsync")) == 1
    assert caught.value.attempts == 1
    assert caught.value.cause.code == http_code
    assert "outcome of partners.devices.claimAsync is unknown" in str(caught.value)


def test_a_new_customer_is_not_created_twice_when_the_answer_is_lost(client, emulator):
    emulator.set_faults(drop_after_rate=1.0, methods=["partners.customers.create"])

    with pytest.raises(OutcomeUnknown) as caught:
        client.customers_create(company_name="Lost Answer Ltd", owner_emails=["it@lost.example"])

    assert isinstance(caught.value.cause, ConnectionFailed)
    (entry,) = settled_log(emulator, "partners.customers.create")
    assert entry["outcome"] == "dropped_after_processing"
    emulator.clear_faults()
    names = [c.company_name for c in client.customers_list()]
    assert names.count("Lost Answer Ltd") == 1  # it was created: the caller reconciles by reading


def test_a_batch_submission_that_timed_out_is_not_repeated(make_client, emulator):
    client = make_client(read_timeout=0.2, deadline=5.0)
    customer = emulator.seed_summary["customerIds"][0]
    emulator.set_faults(latency_ms=500, methods=["partners.devices.claimAsync"])

    with pytest.raises(OutcomeUnknown) as caught:
        client.devices_claim_async(claims=claims_for(emulator, customer, 32))

    assert isinstance(caught.value.cause, Timeout)
    time.sleep(0.5)  # the emulator handles the request after its latency: it did act
    (entry,) = settled_log(emulator, "partners.devices.claimAsync")
    assert entry["outcome"] == "ok"


def test_a_dropped_connection_is_not_proof_that_nothing_happened(client, emulator):
    customer = emulator.seed_summary["customerIds"][0]
    emulator.set_faults(drop_rate=1.0, methods=["partners.devices.claimAsync"])

    with pytest.raises(OutcomeUnknown):
        client.devices_claim_async(claims=claims_for(emulator, customer, 33))

    (entry,) = settled_log(emulator, "partners.devices.claimAsync")
    assert entry["outcome"] == "dropped"


def test_an_idempotent_claim_is_retried_after_a_lost_answer(make_client, emulator):
    client = make_client(retry=RetryPolicy(initial_backoff=0.01, max_backoff=0.05, max_attempts=3))
    customer = emulator.seed_summary["customerIds"][0]
    emulator.set_faults(drop_after_rate=1.0, methods=["partners.devices.claim"])

    with pytest.raises(OutcomeUnknown) as caught:
        client.devices_claim(identifier=make_pixel(34), customer_id=customer)

    log = settled_log(emulator, "partners.devices.claim")
    assert [entry["outcome"] for entry in log] == ["dropped_after_processing"] * 3
    assert caught.value.attempts == 3
    emulator.clear_faults()
    (device,) = client.devices_find_by_identifier(identifier=make_pixel(34))
    assert device.claims[0].owner_company_id == customer


def test_an_unclaim_repeated_after_a_lost_success_reports_an_unknown_outcome(client, emulator):
    customer = emulator.seed_summary["customerIds"][0]
    device_id = client.devices_claim(identifier=make_pixel(35), customer_id=customer).device_id
    emulator.set_faults(drop_after_rate=1.0, methods=["partners.devices.unclaim"])

    with pytest.raises(OutcomeUnknown) as caught:
        client.devices_unclaim(device_id=device_id)

    # The first attempt unclaimed the device; the retry was refused because it no longer was claimed.
    assert isinstance(caught.value.cause, FailedPrecondition)
    outcomes = [entry["outcome"] for entry in settled_log(emulator, "partners.devices.unclaim")]
    assert outcomes == ["dropped_after_processing", "error"]
    emulator.clear_faults()
    assert client.devices_get(device_id=device_id).claims == ()


def test_an_idempotent_call_refused_outright_is_reported_as_such(client, emulator):
    with pytest.raises(FailedPrecondition):
        client.devices_unclaim(device_id=emulator.seed_summary["samples"]["unclaimed"][0])


class SteppedClock:
    """A clock that moves only when the client waits: how many retries fit in a deadline is then a
    matter of the backoff alone, whatever the machine's speed."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def test_the_deadline_stops_retrying(emulator):
    clock = SteppedClock()
    client = Client(
        build_session(),
        emulator.url,
        PARTNER_ID,
        retry=RetryPolicy(initial_backoff=0.05, max_backoff=0.05, max_attempts=1000),
        sleep=clock.sleep,
        clock=clock,
        random=lambda: 1.0,  # every backoff its full 0.05 s
    )
    emulator.set_faults(error_rate=1.0, error_codes=[503], methods=["partners.devices.get"])

    try:
        with pytest.raises(Unavailable):
            client.devices_get(device_id="1", deadline=0.6)
    finally:
        client.close()

    # Retried until the next wait would pass the deadline, and never past it: 0.6 s holds twelve waits
    # of 0.05 s, so thirteen attempts, and nothing waited or sent after the deadline.
    assert clock.waits == [0.05] * 12
    assert clock.now - 1000.0 <= 0.6 + 1e-9
    assert attempts(emulator, "partners.devices.get")["503"] == 13


def test_the_deadline_bounds_a_slow_server(make_client, emulator):
    client = make_client(read_timeout=20.0)
    emulator.set_faults(latency_ms=700, methods=["partners.devices.get"])

    started = time.monotonic()
    with pytest.raises(Timeout):
        client.devices_get(device_id="1", deadline=0.4)

    assert time.monotonic() - started < 0.7


def test_retry_after_longer_than_the_deadline_is_not_hammered(client, emulator):
    emulator.set_faults(quota_per_minute=3)
    for _ in range(3):
        list(client.customers_list())

    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        client.devices_get(device_id="1", deadline=3.0)

    assert time.monotonic() - started < 1.0
    assert caught.value.retry_after >= 50  # the emulator's window is a minute
    assert attempts(emulator, "partners.devices.get") == {"429": 1}


def test_the_client_quota_waits_within_the_deadline_then_refuses(make_client, emulator):
    client = make_client(quota_requests=20, quota_period=10.0, quota_burst=2, quota_reserve=0)

    client.devices_get(device_id=emulator.seed_summary["samples"]["unclaimed"][0])
    client.devices_get(device_id=emulator.seed_summary["samples"]["unclaimed"][0])
    started = time.monotonic()
    client.devices_get(device_id=emulator.seed_summary["samples"]["unclaimed"][0], deadline=2.0)
    waited = time.monotonic() - started
    with pytest.raises(RateLimited) as caught:
        client.devices_get(device_id="1", deadline=0.2)

    assert 0.2 <= waited < 1.5  # refill: 18 tokens per 10 s, so about 0.55 s for the third call
    assert "client's own quota" in str(caught.value)
    assert attempts(emulator, "partners.devices.get") == {"200": 3}


def test_one_structured_record_per_call_without_bodies(make_client, emulator, caplog):
    client = make_client()
    customer = emulator.seed_summary["customerIds"][0]
    emulator.set_faults(error_rate=1.0, error_codes=[500], methods=["partners.devices.get"])

    with caplog.at_level(logging.INFO, logger="zerotouch.client"):
        client.devices_claim(
            identifier=make_pixel(36), customer_id=customer, metadata={"phonenumber": "+1 555 0100"}
        )
        with pytest.raises(InternalError):
            client.devices_get(device_id="1")

    claim, get = [r for r in caplog.records if r.name == "zerotouch.client"]
    assert (claim.api_method, claim.http_status, claim.outcome, claim.attempts, claim.retries) == (
        "partners.devices.claim",
        200,
        "ok",
        1,
        0,
    )
    assert claim.levelno == logging.INFO and claim.duration_ms > 0
    assert (get.api_method, get.http_status, get.outcome, get.error_type) == (
        "partners.devices.get",
        500,
        "error",
        "InternalError",
    )
    assert get.levelno == logging.WARNING and get.attempts == get.retries + 1 > 1
    assert "+1 555 0100" not in caplog.text and make_pixel(36).imei not in caplog.text


def test_interactive_calls_keep_a_reserve_that_batch_calls_cannot_spend(make_client, emulator):
    device_id = emulator.seed_summary["samples"]["unclaimed"][0]
    batch = make_client(quota_requests=20, quota_period=100.0, quota_burst=3, quota_reserve=2)
    interactive = batch.with_options(priority=Priority.INTERACTIVE)

    batch.devices_get(device_id=device_id)
    with pytest.raises(RateLimited):
        batch.devices_get(device_id=device_id, deadline=0.2)
    interactive.devices_get(device_id=device_id, deadline=0.2)
    interactive.devices_get(device_id=device_id, deadline=0.2)

    assert attempts(emulator, "partners.devices.get") == {"200": 3}


def test_a_short_retry_after_is_waited_out_and_the_call_then_succeeds(client, emulator):
    import threading

    device_id = emulator.seed_summary["samples"]["unclaimed"][0]
    emulator.set_faults(error_rate=1.0, error_codes=[429], methods=["partners.devices.get"])
    threading.Timer(0.5, emulator.clear_faults).start()  # the API recovers before the asked wait ends

    started = time.monotonic()
    device = client.devices_get(device_id=device_id, deadline=5.0)

    assert device.device_id == str(device_id)
    assert time.monotonic() - started >= 1.0  # the injected 429 asked for Retry-After: 1
    assert attempts(emulator, "partners.devices.get") == {"429": 1, "200": 1}
