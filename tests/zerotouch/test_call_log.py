"""Each call's log record says how long the quota held it back (``limiter_wait_ms``): the portal's
health page and metrics count the limiter's waits from it."""

import logging

from zerotouch import Client, Priority
from zerotouch.auth import build_session

from .factories import FAST_RETRIES, PARTNER_ID


class OneWaitLimiter:
    """Asks the first caller of each call to wait ``wait`` seconds once, then lets it through."""

    def __init__(self, wait: float) -> None:
        self.wait = wait
        self.asked = 0

    def try_acquire(self, key: str, priority: Priority) -> float:
        self.asked += 1
        return self.wait if self.asked % 2 == 1 else 0.0


def test_the_call_record_carries_the_limiter_wait(emulator, caplog):
    slept: list[float] = []
    client = Client(
        build_session(),
        emulator.url,
        PARTNER_ID,
        limiter=OneWaitLimiter(0.25),
        retry=FAST_RETRIES,
        sleep=slept.append,
    )
    try:
        with caplog.at_level(logging.INFO, logger="zerotouch.client"):
            list(client.vendors_list())
    finally:
        client.close()

    [record] = [r for r in caplog.records if getattr(r, "api_method", None) == "partners.vendors.list"]
    assert slept == [0.25]
    assert record.limiter_wait_ms == 250.0
    assert record.priority == "batch"
