import pytest

from emulator.backend import Backend
from emulator.testing import EmulatorThread, fresh_imei

PARTNER_ID = 1234567
ZERO_TOUCH = "SECTION_TYPE_ZERO_TOUCH"
SIM_LOCK = "SECTION_TYPE_SIM_LOCK"


class FakeClock:
    """Seconds since the epoch that only move when a test says so."""

    def __init__(self, start: float = 1_750_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_imei(n: int) -> str:
    """A valid Pixel 8 IMEI numbered ``n`` that no seeded device has."""
    return fresh_imei(n)


def pixel(n: int) -> dict:
    return {"imei": make_imei(n), "manufacturer": "Google", "model": "Pixel 8"}


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def backend(tmp_path, clock):
    """An empty backend on a fresh state file, operations advanced by hand (no thread)."""
    instance = Backend(tmp_path / "state.sqlite3", PARTNER_ID, operation_rate=10.0, clock=clock)
    yield instance
    instance.close()


def make_customer(backend, name: str = "XYZ Corp", owners=("liz@example.com",)) -> str:
    company = backend.create_customer(
        f"partners/{backend.partner_id}", {"customer": {"companyName": name, "ownerEmails": list(owners)}}
    )
    return company["companyId"]


def claim_body(customer_id: str, identifier: dict, section: str = ZERO_TOUCH, **extra) -> dict:
    return {"customerId": customer_id, "deviceIdentifier": identifier, "sectionType": section, **extra}


@pytest.fixture
def emulator(tmp_path):
    """The emulator served from a thread on a free port, seeded with a little data."""
    with EmulatorThread(
        partner_id=PARTNER_ID,
        state_path=tmp_path / "emulator.sqlite3",
        customers=4,
        vendors=2,
        devices=300,
        random_seed=3,
        operation_rate=2000.0,
    ) as running:
        yield running
