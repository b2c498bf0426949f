"""Running the emulator from tests: as a subprocess (:class:`EmulatorProcess`) or in a thread of the
test process (:class:`EmulatorThread`, faster to start). Standard library only.

Both share the same interface::

    with EmulatorProcess(partner_id=1234567, customers=5, vendors=1, devices=200) as emulator:
        emulator.url                      # "http://127.0.0.1:PORT", the API root (append /v1/...)
        emulator.partner_id               # 1234567
        emulator.state_path               # the temporary state file
        emulator.seed_summary             # what seeding made: customer ids, vendors, samples
        emulator.set_faults(error_rate=0.5, error_codes=[503])
        emulator.requests_log(method="partners.devices.claimAsync")
        emulator.restart()                # same port, same state file

Any API request needs an ``Authorization: Bearer <anything>`` header: :data:`AUTH_HEADERS`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .backend import Backend
from .faults import Faults
from .identifiers import luhn_check_digit
from .oauth import Authority
from .server import EmulatorServer

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PARTNER_ID = 1234567
TEST_TOKEN = "test-token"  # noqa: S105 - the emulator accepts any bearer token
AUTH_HEADERS = {"Authorization": f"Bearer {TEST_TOKEN}"}


def fresh_imei(n: int, tac: str = "35760622") -> str:
    """A valid IMEI (Luhn) that seeding never produces, numbered ``n`` (0-99999): a device new to
    the API. The default TAC is a Pixel 8's (manufacturer ``Google``, model ``Pixel 8``)."""
    body = f"{tac}9{n:05d}"
    return body + str(luhn_check_digit(body))


class EmulatorError(RuntimeError):
    """The emulator did not start, or a control request failed."""


class _Emulator:
    """What both variants share: options, the temporary folder, control helpers."""

    def __init__(
        self,
        *,
        partner_id: int | str = DEFAULT_PARTNER_ID,
        state_path: str | Path | None = None,
        customers: int = 0,
        vendors: int = 0,
        devices: int = 0,
        random_seed: int = 0,
        customers_per_vendor: int = 3,
        unclaimed_fraction: float = 0.1,
        operation_rate: float = 1000.0,
        faults: dict | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        oauth: bool = False,
    ):
        self.partner_id = int(partner_id)
        self.oauth = oauth
        self._own_dir = None
        if state_path is None:
            self._own_dir = Path(tempfile.mkdtemp(prefix="zt-emulator-"))
            state_path = self._own_dir / "state.sqlite3"
        self.state_path = Path(state_path)
        self.seed_options = {
            "customers": customers,
            "vendors": vendors,
            "devices": devices,
            "random_seed": random_seed,
            "customers_per_vendor": customers_per_vendor,
            "unclaimed_fraction": unclaimed_fraction,
        }
        self.operation_rate = operation_rate
        self.faults_at_start = dict(faults or {})
        self.host = host
        self.port = port
        self.url = ""
        self.seed_summary: dict | None = None
        self._started_once = False

    # -- life cycle (the variants implement _launch and stop)

    def start(self):
        """Start, wait until the emulator answers, seed on the first start when sizes were given."""
        self._launch()
        if not self._started_once:
            self._started_once = True
            if any(self.seed_options[k] for k in ("customers", "vendors", "devices")):
                try:
                    self.seed(**self.seed_options)
                except BaseException:
                    self.close()
                    raise
        return self

    def restart(self):
        """Stop and start again on the same port with the same state file."""
        self.stop()
        self._launch()
        return self

    def close(self) -> None:
        """Stop, and remove the temporary folder when the state file was made here."""
        self.stop()
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.close()

    def _launch(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- HTTP

    def request(self, method: str, path: str, body=None, *, headers: dict | None = None, timeout: float = 60):
        """(status, parsed JSON or None) of one request to the emulator; never raises for an HTTP error."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310 - http only
        request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - our own URL
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            with error:
                status, raw = error.code, error.read()
        return status, (json.loads(raw) if raw else None)

    def api(self, method: str, path: str, body=None, *, token: str | None = TEST_TOKEN):
        """(status, JSON) of an API request with a bearer token; ``path`` starts with ``/v1/``."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.request(method, path, body, headers=headers)

    def _control(self, method: str, path: str, body=None, query: dict | None = None):
        if query:
            path += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        status, payload = self.request(method, "/_emulator/" + path, body)
        if status != 200:
            raise EmulatorError(f"{method} /_emulator/{path} answered {status}: {payload}")
        return payload

    # -- controls

    def health(self) -> dict:
        return self._control("GET", "health")

    def faults(self) -> dict:
        return self._control("GET", "faults")

    def set_faults(self, **settings) -> dict:
        """Change fault settings: error_rate, error_codes, latency_ms, quota_per_minute, drop_rate,
        drop_after_rate, methods, random_seed. The others keep their value."""
        return self._control("POST", "faults", settings)

    def clear_faults(self) -> dict:
        return self._control("DELETE", "faults")

    def reset(self) -> None:
        """Empty the state; faults off; the operation rate it started with; statistics and request
        log cleared."""
        self._control("POST", "reset")
        self.seed_summary = None

    def seed(self, **options) -> dict:
        """Replace the state with generated data (customers, vendors, devices, random_seed,
        customers_per_vendor, unclaimed_fraction); the summary, also kept as ``seed_summary``."""
        self.seed_summary = self._control("POST", "seed", options)
        return self.seed_summary

    def summary(self) -> dict:
        return self._control("GET", "summary")

    def stats(self) -> dict:
        """``{"total": n, "methods": {"partners.devices.get": {"200": 3, "404": 1}, ...}}``."""
        return self._control("GET", "stats")

    def clear_stats(self) -> None:
        self._control("DELETE", "stats")

    def requests_log(self, method: str | None = None, since: int = 0) -> list[dict]:
        """Mutating requests received, oldest first: seq, time, method, httpMethod, path, body,
        status, outcome (ok/error/fault/dropped/dropped_after_processing), response summary."""
        return self._control("GET", "requests", query={"method": method, "since": since or None})["requests"]

    def clear_requests_log(self) -> None:
        self._control("DELETE", "requests")

    def zero_touch_claims(self) -> dict[int, int]:
        """{device id: owner company id} of every zero-touch claim the reseller can see, read page
        by page through the public API (``findByOwner`` for every customer and vendor's customer):
        the ground truth a copy of this state must reproduce."""
        summary = self.summary()
        owners = [*summary["customerIds"], *(c for v in summary["vendors"] for c in v["customerIds"])]
        claims: dict[int, int] = {}
        for owner in owners:
            token = None
            while True:
                body = {"customerId": [owner], "sectionType": "SECTION_TYPE_ZERO_TOUCH", "limit": 100}
                if token:
                    body["pageToken"] = token
                status, page = self.api("POST", f"/v1/partners/{self.partner_id}/devices:findByOwner", body)
                if status != 200:
                    raise EmulatorError(f"findByOwner answered {status}: {page}")
                claims.update({int(device["deviceId"]): int(owner) for device in page.get("devices", [])})
                token = page.get("nextPageToken")
                if not token:
                    break
        return claims

    def set_operation_rate(self, devices_per_second: float) -> None:
        self._control("POST", "operation-rate", {"devices_per_second": devices_per_second})

    def complete_operations(self) -> int:
        """Finish every running operation now; how many there were."""
        return self._control("POST", "operations/complete")["completed"]

    # -- the OAuth side (with ``oauth=True``; see emulator/oauth.py)

    @property
    def token_uri(self) -> str:
        return self.url + "/token"

    def auth_settings(self, **changes) -> dict:
        """OAuth and the API switch: ``token_lifetime_seconds``, ``api_enabled``; plus token counts."""
        return self._control("POST" if changes else "GET", "auth", changes or None)

    def register_key(self, service_account: dict) -> dict:
        """Hold a key's public half: a key file's JSON (the public half is derived from it), or
        ``{"client_email", "private_key_id", "public_key_pem"}``."""
        return self._control("POST", "auth/keys", service_account)

    def revoke_key(self, key_id: str) -> None:
        self._control("DELETE", f"auth/keys/{urllib.parse.quote(key_id, safe='')}")

    def expire_tokens(self) -> int:
        return self._control("DELETE", "auth/tokens")["expired"]

    def _wait_until_answering(self, deadline: float, alive=lambda: True) -> None:
        while True:
            try:
                self.health()
                return
            except (OSError, EmulatorError):
                if time.monotonic() > deadline or not alive():
                    raise
                time.sleep(0.02)


class EmulatorProcess(_Emulator):
    """The emulator as its own process (``python -m emulator serve``), as the portal runs it.

    ``serve_args`` adds command-line flags (``["--quota-per-minute", "100"]``). ``kill()`` ends the
    process abruptly (SIGKILL) to test crash recovery; ``log_text()`` is its output.
    """

    def __init__(
        self, *, python: str = sys.executable, startup_timeout: float = 30.0, serve_args=(), **options
    ):
        super().__init__(**options)
        self.python = python
        self.serve_args = [str(arg) for arg in serve_args]
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self._log_file = None
        self._run_dir = Path(tempfile.mkdtemp(prefix="zt-emulator-run-"))
        self.log_path = self._run_dir / "emulator.log"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def _command(self, ready_file: Path) -> list[str]:
        options = {
            "--host": self.host,
            "--port": self.port,
            "--state": self.state_path,
            "--partner-id": self.partner_id,
            "--operation-rate": self.operation_rate,
            "--ready-file": ready_file,
        }
        command = [self.python, "-m", "emulator", "serve"]
        for flag, value in options.items():
            command += [flag, str(value)]
        if self.oauth:
            command.append("--oauth")
        return command + self.serve_args

    def _launch(self) -> None:
        if self.process is not None:
            return
        ready_file = self._run_dir / "ready.json"
        ready_file.unlink(missing_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        self._log_file = open(self.log_path, "ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            self._command(ready_file),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(PROJECT_ROOT),
        )
        deadline = time.monotonic() + self.startup_timeout
        while not ready_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise EmulatorError(f"the emulator did not start:\n{self.log_text()}")
            time.sleep(0.02)
        self.url = json.loads(ready_file.read_text())["url"]
        self.port = int(self.url.rsplit(":", 1)[1])
        self._wait_until_answering(deadline, alive=lambda: self.process.poll() is None)
        if self.faults_at_start:
            self.set_faults(**self.faults_at_start)

    def stop(self) -> None:
        """Stop the process gracefully (SIGTERM, then SIGKILL after 10 s)."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """End the process at once (SIGKILL), as a crash would."""
        self._end(signal.SIGKILL)

    def _end(self, signum: int) -> None:
        process, self.process = self.process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signum)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def close(self) -> None:
        super().close()
        shutil.rmtree(self._run_dir, ignore_errors=True)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


class EmulatorThread(_Emulator):
    """The emulator inside the test process, serving from a thread: starts in milliseconds.

    ``backend`` is the live :class:`emulator.backend.Backend` for direct inspection.
    """

    def __init__(self, **options):
        super().__init__(**options)
        self.backend = None
        self.server = None
        self._thread: threading.Thread | None = None

    def _launch(self) -> None:
        if self.server is not None:
            return
        self.backend = Backend(self.state_path, self.partner_id, operation_rate=self.operation_rate)
        faults = Faults()
        if self.faults_at_start:
            faults.configure(**self.faults_at_start)
        self.server = EmulatorServer(
            (self.host, self.port), self.backend, faults, Authority(enabled=self.oauth)
        )
        self.url = self.server.url
        self.port = self.server.server_address[1]
        self.backend.operations.start()
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="emulator-http",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        server, self.server = self.server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        self._thread.join()
        self.backend.close()


def service_account_key(
    token_uri: str,
    *,
    client_email: str = "portal@reseller-project.iam.gserviceaccount.com",
    key_id: str | None = None,
) -> dict:
    """A new service-account key file's content (a fresh 2048-bit RSA key), as Google's console
    hands one out, with ``token_uri`` pointing at the emulator. Needs ``cryptography`` (installed
    with google-auth); imported here only, so the rest of this module stays standard library."""
    import secrets

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return {
        "type": "service_account",
        "project_id": "reseller-project",
        "private_key_id": key_id or secrets.token_hex(20),
        "private_key": pem,
        "client_email": client_email,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "public_key_pem": public,  # not in Google's files: what the emulator is given to hold
    }
