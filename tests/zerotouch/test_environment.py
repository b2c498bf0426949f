"""Proxy settings from the environment: read once when the client is built, then obeyed on every call.

A proxy on a closed local port stands in for a corporate proxy: requests sent through it fail, so a
failure proves the proxy is used and a success proves it is bypassed."""

import socket

import pytest

from zerotouch import ConnectionFailed, RetryPolicy

ONE_ATTEMPT = RetryPolicy(max_attempts=1)
PROXY_SETTINGS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def clear_proxy_settings(monkeypatch) -> None:
    for name in PROXY_SETTINGS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def dead_proxy(monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for name in (
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    return f"http://127.0.0.1:{port}"


def test_a_proxy_in_the_environment_carries_every_call(make_client, dead_proxy):
    client = make_client(retry=ONE_ATTEMPT, deadline=5.0)

    assert client._session.proxies["http"] == dead_proxy
    with pytest.raises(ConnectionFailed):
        list(client.customers_list())


def test_no_proxy_for_the_api_host_is_obeyed(make_client, dead_proxy, monkeypatch, emulator):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    client = make_client(retry=ONE_ATTEMPT)

    assert {c.company_id for c in client.customers_list()} == set(emulator.seed_summary["customerIds"])


def test_the_environment_is_read_when_the_client_is_built_not_on_each_call(
    make_client, monkeypatch, emulator
):
    for name in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    client = make_client(retry=ONE_ATTEMPT)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # set after the build: not seen

    assert client._session.trust_env is False
    assert len(list(client.customers_list())) == len(emulator.seed_summary["customerIds"])
