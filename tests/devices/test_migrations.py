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
