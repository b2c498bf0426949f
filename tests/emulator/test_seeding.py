import json
import sqlite3

import pytest

from emulator import catalog, identifiers
from emulator.backend import Backend
from emulator.seeding import seed
from emulator.store import Store

from .conftest import PARTNER_ID

P = str(PARTNER_ID)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    path = tmp_path_factory.mktemp("seed") / "state.sqlite3"
    store = Store(path)
    summary = seed(store, PARTNER_ID, customers=6, vendors=2, devices=5000, random_seed=21)
    store.close()
    conn = sqlite3.connect(path)
    yield summary, conn
    conn.close()


def test_the_same_random_seed_gives_the_same_data(tmp_path):
    def make(name):
        store = Store(tmp_path / name)
        try:
            summary = seed(store, PARTNER_ID, customers=3, vendors=1, devices=300, random_seed=5)
            with store.read() as conn:
                rows = conn.execute("SELECT * FROM devices ORDER BY device_id").fetchall()
            return summary, rows
        finally:
            store.close()

    assert make("a.sqlite3") == make("b.sqlite3")
    store = Store(tmp_path / "c.sqlite3")
    try:
        other = seed(store, PARTNER_ID, customers=3, vendors=1, devices=300, random_seed=6)
    finally:
        store.close()
    assert other["customerIds"] != make("a.sqlite3")[0]["customerIds"]


def test_every_seeded_identifier_obeys_the_identifier_rules(seeded):
    _, conn = seeded
    fields = identifiers.FIELDS
    rows = conn.execute(
        "SELECT imei, imei2, meid, meid2, serial_number, manufacturer, model, device_type, attested_id"
        " FROM devices"
    ).fetchall()
    assert len(rows) == 5000
    for row in rows:
        identifier = {field: value for field, value in zip(fields, row, strict=True) if value is not None}
        assert identifiers.validate(identifier) == identifier
    imeis = [row[0] for row in rows if row[0]] + [row[1] for row in rows if row[1]]
    assert len(imeis) == len(set(imeis))
    # The range emulator.testing.fresh_imei draws from stays free for tests.
    assert not [imei for imei in imeis if imei[8] == "9"]


def test_seeded_devices_cover_the_kinds_of_devices_resellers_sell(seeded):
    _, conn = seeded

    def count(where):
        return conn.execute(f"SELECT COUNT(*) FROM devices WHERE {where}").fetchone()[0]  # noqa: S608

    assert count("imei2 IS NOT NULL") > 100  # dual SIM
    assert count("meid IS NOT NULL") > 50
    assert count("device_type = 'DEVICE_TYPE_CHROME_OS' AND attested_id IS NOT NULL") > 100
    assert count("imei IS NULL AND meid IS NULL AND device_type IS NULL") > 50  # Wi-Fi only, by serial
    makers = {row[0] for row in conn.execute("SELECT DISTINCT manufacturer FROM devices")}
    assert {"Google", "samsung", "motorola"} <= makers <= catalog.MANUFACTURERS
    assert catalog.is_known_model("Pixel 8", "Google")


def test_claims_spread_over_customers_and_vendors_with_order_metadata(seeded):
    summary, conn = seeded
    by_reseller = dict(
        conn.execute("SELECT reseller_id, COUNT(*) FROM claims GROUP BY reseller_id").fetchall()
    )
    vendor_ids = {int(v["companyId"]) for v in summary["vendors"]}
    assert by_reseller[PARTNER_ID] > 2000
    assert sum(by_reseller.get(v, 0) for v in vendor_ids) > 200
    others = set(by_reseller) - vendor_ids - {PARTNER_ID}
    assert len(others) == 1  # a reseller the partner can't see
    owners = {
        row[0]
        for row in conn.execute("SELECT owner_company_id FROM claims WHERE reseller_id = ?", (PARTNER_ID,))
    }
    assert owners <= {int(c) for c in summary["customerIds"]}
    assert len(owners) >= 4
    unclaimed = conn.execute(
        "SELECT COUNT(*) FROM devices d"
        " WHERE NOT EXISTS (SELECT 1 FROM claims c WHERE c.device_id = d.device_id)"
    ).fetchone()[0]
    assert 300 < unclaimed < 800
    metadata = [
        json.loads(m) for (m,) in conn.execute("SELECT metadata FROM devices WHERE metadata IS NOT NULL")
    ]
    assert all(m["ordernumber"].startswith("SO-") for m in metadata)
    assert sum("phonenumber" in m for m in metadata) > 1000


def test_seeded_customers_look_like_companies(seeded):
    summary, conn = seeded
    rows = conn.execute("SELECT company_name, owner_emails, terms_status FROM customers").fetchall()
    assert len(rows) == 6 + 2 * 3
    for name, owners, terms in rows:
        assert name and json.loads(owners)
        assert all("@" in email and not email.endswith("gmail.com") for email in json.loads(owners))
        assert terms.startswith("TERMS_STATUS_")
    assert len(summary["samples"]["unclaimed"]) == 5


def test_seeded_documents_are_the_ones_the_backend_would_store(tmp_path):
    backend = Backend(tmp_path / "state.sqlite3", PARTNER_ID)
    try:
        seed(backend.store, PARTNER_ID, customers=3, vendors=1, devices=400, random_seed=8)
        with backend.store.write() as conn:
            before = conn.execute("SELECT * FROM devices ORDER BY device_id").fetchall()
            for (device_id,) in conn.execute("SELECT device_id FROM devices").fetchall():
                backend._refresh_document(conn, device_id)
                backend._refresh_claims(conn, device_id)
            after = conn.execute("SELECT * FROM devices ORDER BY device_id").fetchall()
            conn.rollback()
        assert before == after
    finally:
        backend.close()
