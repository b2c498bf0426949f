"""The emulator as its own process: command line, crash and restart."""

import json
import sqlite3
import subprocess
import sys
import time

import pytest

from emulator.testing import PROJECT_ROOT, EmulatorProcess

from .conftest import PARTNER_ID, ZERO_TOUCH, pixel

P = str(PARTNER_ID)


def operation(emulator, name):
    status, body = emulator.api("GET", f"/v1/{name}")
    assert status == 200
    return body


def test_a_killed_emulator_comes_back_with_its_devices_and_operations(tmp_path):
    with EmulatorProcess(
        partner_id=PARTNER_ID,
        state_path=tmp_path / "state.sqlite3",
        customers=2,
        devices=20,
        operation_rate=20,
    ) as emulator:
        customer = emulator.seed_summary["customerIds"][0]
        status, claimed = emulator.api(
            "POST",
            f"/v1/partners/{P}/devices:claim",
            {"customerId": customer, "deviceIdentifier": pixel(1), "sectionType": ZERO_TOUCH},
        )
        assert status == 200
        claims = [
            {"customerId": customer, "deviceIdentifier": pixel(n), "sectionType": ZERO_TOUCH}
            for n in range(2, 62)
        ]
        status, started = emulator.api("POST", f"/v1/partners/{P}/devices:claimAsync", {"claims": claims})
        assert status == 200
        deadline = time.monotonic() + 10
        while operation(emulator, started["name"])["metadata"]["progress"] < 10:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        url = emulator.url

        emulator.kill()
        with pytest.raises(OSError):
            emulator.health()
        emulator.start()

        assert emulator.url == url
        status, device = emulator.api("GET", f"/v1/partners/{P}/devices/{claimed['deviceId']}")
        assert (status, device["claims"][0]["ownerCompanyId"]) == (200, customer)
        resumed = operation(emulator, started["name"])
        assert resumed["metadata"]["progress"] >= 10
        emulator.set_operation_rate(10_000)
        deadline = time.monotonic() + 10
        while not (finished := operation(emulator, started["name"]))["done"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert finished["response"]["successCount"] == 60
        assert emulator.requests_log(method="partners.devices.claimAsync")[0]["body"] == {"claims": claims}


def test_a_graceful_restart_keeps_the_state(tmp_path):
    with EmulatorProcess(state_path=tmp_path / "s.sqlite3", customers=1, vendors=1, devices=10) as emulator:
        before = emulator.summary()
        emulator.restart()
        assert emulator.summary() == before


def test_serve_flags_set_faults_and_quota(tmp_path):
    flags = [
        "--error-rate",
        "1",
        "--error-codes",
        "502",
        "--quota-per-minute",
        "2",
        "--latency-ms",
        "5",
        "--fault-methods",
        "partners.vendors.list",
        "--fault-seed",
        "3",
    ]
    with EmulatorProcess(state_path=tmp_path / "s.sqlite3", serve_args=flags) as emulator:
        faults = emulator.faults()
        assert faults["error_codes"] == [502]
        assert faults["quota_per_minute"] == 2
        assert faults["methods"] == ["partners.vendors.list"]
        assert emulator.api("GET", f"/v1/partners/{emulator.partner_id}/vendors")[0] == 502
        assert emulator.api("GET", f"/v1/partners/{emulator.partner_id}/customers")[0] == 200
        assert emulator.api("GET", f"/v1/partners/{emulator.partner_id}/customers")[0] == 429


def test_a_failing_start_reports_the_emulators_output(tmp_path):
    emulator = EmulatorProcess(state_path=tmp_path / "s.sqlite3", serve_args=["--operation-rate", "-3"])
    try:
        with pytest.raises(RuntimeError, match="did not start"):
            emulator.start()
    finally:
        emulator.close()


def test_seed_command_line_fills_a_state_file_deterministically(tmp_path):
    def seed(path):
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "emulator",
                "seed",
                "--state",
                str(path),
                "--partner-id",
                P,
                "--customers",
                "3",
                "--vendors",
                "1",
                "--devices",
                "250",
                "--random-seed",
                "11",
            ],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert "250 devices" in completed.stdout
        with sqlite3.connect(path) as conn:
            rows = conn.execute("SELECT * FROM devices ORDER BY device_id").fetchall()
            rows += conn.execute("SELECT * FROM claims ORDER BY device_id, section_type").fetchall()
            rows += conn.execute("SELECT * FROM customers ORDER BY customer_id").fetchall()
        conn.close()
        return rows

    first, second = seed(tmp_path / "a.sqlite3"), seed(tmp_path / "b.sqlite3")
    assert first == second
    assert len(first) > 250


def test_ready_file_names_the_url(tmp_path):
    ready = tmp_path / "ready.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulator",
            "serve",
            "--port",
            "0",
            "--state",
            str(tmp_path / "s.sqlite3"),
            "--partner-id",
            P,
            "--ready-file",
            str(ready),
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.02)
        announced = json.loads(ready.read_text())
        assert announced["pid"] == process.pid
        assert announced["url"].startswith("http://127.0.0.1:")
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
