"""Fixtures of the client's tests: one real emulator process for the run, re-seeded for each test that
talks to it, and clients built the way the portal builds them."""

import time
import uuid

import pytest
import redis

from emulator.testing import EmulatorProcess
from zerotouch import build_client

from .factories import FAST_RETRIES, PARTNER_ID, REDIS_URL

SEED = {"customers": 4, "vendors": 2, "devices": 300, "random_seed": 3, "customers_per_vendor": 3}


@pytest.fixture(scope="session")
def emulator_process():
    with EmulatorProcess(partner_id=PARTNER_ID) as running:
        yield running


@pytest.fixture
def emulator(emulator_process):
    """The emulator with fresh seeded state, no faults, empty statistics and request log."""
    emulator_process.reset()
    emulator_process.seed(**SEED)
    yield emulator_process
    latency_ms = emulator_process.faults()["latency_ms"]
    emulator_process.clear_faults()
    # A request the client gave up on may still be sleeping in the emulator: let it finish here rather
    # than be counted in the next test's statistics.
    time.sleep(latency_ms / 1000)


@pytest.fixture
def make_client(emulator):
    """``make_client(**build_client options)``: clients closed after the test."""
    clients = []

    def make(**options):
        settings = {
            "api_url": emulator.url,
            "partner_id": PARTNER_ID,
            "quota_requests": 100_000,
            "quota_period": 1.0,
            "retry": FAST_RETRIES,
            "deadline": 10.0,
        }
        settings.update(options)
        client = build_client(**settings)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client):
    return make_client()


@pytest.fixture
def redis_prefix():
    """A Redis key prefix of this test's own, deleted afterwards (the Redis server is shared)."""
    prefix = f"test:zerotouch:{uuid.uuid4().hex}"
    yield prefix
    connection = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(connection.scan_iter(match=f"{prefix}:*"))
        if keys:
            connection.delete(*keys)
    finally:
        connection.close()
