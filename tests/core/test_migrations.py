"""The migration that gives the audit log the device history's spelling of outcomes."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("portal", "0004_cache_table")]
AFTER = [("portal", "0005_one_outcome_spelling")]


@pytest.fixture
def executor():
    """Migrations run by the test; the schema is put back to the newest state afterwards."""
    yield MigrationExecutor(connection)
    latest = MigrationExecutor(connection)
    latest.migrate(latest.loader.graph.leaf_nodes())


def outcomes(executor, state):
    audit = executor.loader.project_state(state).apps.get_model("portal", "AuditEvent")
    return dict(audit.objects.values_list("action", "outcome"))


@pytest.mark.django_db(transaction=True)
def test_stored_outcomes_are_respelled_and_spelled_back(executor):
    executor.migrate(BEFORE)
    audit = executor.loader.project_state(BEFORE).apps.get_model("portal", "AuditEvent")
    for action, outcome in [("a", "success"), ("b", "failure"), ("c", "unknown"), ("d", "noop")]:
        audit.objects.create(action=action, outcome=outcome)

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    assert outcomes(executor, AFTER) == {"a": "succeeded", "b": "failed", "c": "unknown", "d": "noop"}

    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    assert outcomes(executor, BEFORE) == {"a": "success", "b": "failure", "c": "unknown", "d": "noop"}
