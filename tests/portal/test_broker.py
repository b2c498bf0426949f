"""The embedded default's broker: a message is never seen half written, and a bad one never stops a
worker (portal.broker)."""

import os

import pytest
from django.conf import settings
from kombu import Connection

from portal.celery import app


@pytest.fixture
def channel(tmp_path):
    folders = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    with Connection(
        "filesystem://", transport="portal.broker:Transport", transport_options=folders
    ) as connection:
        yield connection.default_channel


def test_the_portal_uses_this_transport_for_the_filesystem_broker():
    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        pytest.skip("this run's broker is Redis")
    with app.connection_for_write() as connection:
        assert type(connection.transport).__module__ == "portal.broker"


def test_a_message_appears_only_whole_and_under_its_final_name(channel, tmp_path):
    channel._put("jobs", {"body": "x" * 100_000})

    [name] = os.listdir(tmp_path)
    assert name.endswith(".jobs.msg") and not name.startswith(".")
    assert channel._get("jobs") == {"body": "x" * 100_000}
    assert os.listdir(tmp_path) == []


def test_a_file_still_being_written_is_not_taken(channel, tmp_path):
    (tmp_path / ".1_abc.jobs.msg.partial").write_bytes(b'{"bo')  # a writer at work, or one killed

    channel._put("jobs", {"n": 1})

    assert channel._get("jobs") == {"n": 1}
    assert os.listdir(tmp_path) == [".1_abc.jobs.msg.partial"]


def test_an_empty_or_cut_message_is_dropped_and_the_next_one_delivered(channel, tmp_path, caplog):
    (tmp_path / "0000_empty.jobs.msg").write_bytes(b"")  # what kombu's own writer can leave
    (tmp_path / "0001_cut.jobs.msg").write_bytes(b'{"body": "hal')
    channel._put("jobs", {"n": 2})

    assert channel._get("jobs") == {"n": 2}
    assert caplog.text.count("Dropped an unreadable message from the jobs queue") == 2
