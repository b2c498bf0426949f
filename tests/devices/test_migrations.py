"""The migration that rebuilds the search-key table keeps every device findable."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("devices", "0001_initial")]
AFTER = [("devices", "0002_lighter_sync_writes")]


@pytest.fixture
def executor():
    """Migrations run by the test; the schema is put back to the newest state afterwards."""
    yield MigrationExecutor(connection)
    latest = MigrationExecutor(connection)
    latest.migrate(latest.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_search_keys_are_rebuilt_from_the_devices_when_the_table_is_made_again(executor):
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    device_model = old.get_model("devices", "Device")
    device_model.objects.create(
        device_id=1, imei="490154203237518", serial_number="SN-1", metadata={"ordernumber": "SO-1" * 40}
    )
    device_model.objects.create(device_id=2, meid="A0000012345678", metadata={"phonenumber": ""})
    old.get_model("devices", "SearchKey").objects.create(device_id=1, kind="imei", value="stale")

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    keys = set(new.get_model("devices", "SearchKey").objects.values_list("device_id", "kind", "value"))

    assert keys == {
        (1, "imei", "490154203237518"),
        (1, "serial", "SN-1"),
        (1, "ordernumber", ("SO-1" * 40)[:128]),
        (2, "meid", "A0000012345678"),
    }


@pytest.mark.django_db(transaction=True)
def test_devices_stored_before_order_parts_are_found_by_their_parts_after_the_migration(executor):
    before, after = [("devices", "0007_event_models_to_fill")], [("devices", "0008_order_part_keys")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    old.get_model("devices", "Device").objects.create(
        device_id=1, imei="490154203237518", metadata={"ordernumber": "SO-2023-0773100"}
    )
    old.get_model("devices", "Device").objects.create(device_id=2, imei="356938035643809")
    old_keys = old.get_model("devices", "SearchKey").objects
    old_keys.create(device_id=1, kind="imei", value="490154203237518")
    old_keys.create(device_id=1, kind="ordernumber", value="SO-2023-0773100")
    old_keys.create(device_id=2, kind="imei", value="356938035643809")

    executor = MigrationExecutor(connection)
    executor.migrate(after)
    keys = executor.loader.project_state(after).apps.get_model("devices", "SearchKey").objects

    assert set(keys.values_list("device_id", "kind", "value")) == {
        (1, "imei", "490154203237518"),
        (1, "ordernumber", "SO-2023-0773100"),
        (1, "orderpart", "2023-0773100"),
        (1, "orderpart", "0773100"),
        (2, "imei", "356938035643809"),
    }

    executor = MigrationExecutor(connection)
    executor.migrate(before)
    keys = executor.loader.project_state(before).apps.get_model("devices", "SearchKey").objects
    assert not keys.filter(kind="orderpart").exists()
    assert keys.count() == 3
