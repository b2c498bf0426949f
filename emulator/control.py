"""Control endpoints under ``/_emulator/``: for tests, chaos runs and demos, never for the portal.

They need no credentials and are exempt from quota and faults. Bodies and answers are plain JSON
(snake_case options, like the command line).

====== =============================== ==================================================================
verb   path                            what it does
====== =============================== ==================================================================
GET    /_emulator/health               ``{"status": "ok", "partnerId", "operationRate"}``
GET    /_emulator/faults               the fault settings
POST   /_emulator/faults               change some fault settings (others stay); 400 when invalid
DELETE /_emulator/faults               faults and quota off
POST   /_emulator/reset                empty state, faults off, the starting operation rate back,
                                       statistics and request log cleared
POST   /_emulator/seed                 replace the state with generated data; the summary
GET    /_emulator/summary              counts, customer ids, vendors and their customer ids
GET    /_emulator/stats                requests counted by API method and outcome
DELETE /_emulator/stats                clear the counts
GET    /_emulator/requests             the log of mutating requests (``?method=``, ``?since=seq``)
DELETE /_emulator/requests             clear the log
GET    /_emulator/operation-rate       ``{"devices_per_second": ...}``
POST   /_emulator/operation-rate       set it (0 pauses every operation)
POST   /_emulator/operations/complete  finish every running operation now
GET    /_emulator/auth                 OAuth on or off, token lifetime, the API switch, tokens counted
POST   /_emulator/auth                 change ``token_lifetime_seconds`` or ``api_enabled``
GET    /_emulator/auth/keys            the service-account keys held (their ids and emails)
POST   /_emulator/auth/keys            hold a key's public half (``public_key_pem``, or a key file)
DELETE /_emulator/auth/keys/<key id>   delete (revoke) a key and the tokens issued for it
DELETE /_emulator/auth/tokens          end every token issued, as their expiry would
====== =============================== ==================================================================
"""

from __future__ import annotations

import math

from .seeding import seed

SEED_OPTIONS = (
    "customers",
    "vendors",
    "devices",
    "random_seed",
    "customers_per_vendor",
    "unclaimed_fraction",
)


def _rate_json(rate: float):
    return "inf" if math.isinf(rate) else rate


def set_operation_rate(backend, rate) -> float:
    rate = float(rate)
    if rate < 0 or math.isnan(rate):
        raise ValueError("devices_per_second must be 0 or more")
    backend.operations.advance_all()
    backend.operation_rate = rate
    return rate


def handle_control(server, http_method: str, path: str, query: dict, data: dict) -> tuple[int, object]:
    """(HTTP status, JSON answer) for one control request."""
    backend = server.backend
    key = (http_method, path.rstrip("/"))
    try:
        match key:
            case ("GET", "/_emulator/health"):
                return 200, {
                    "status": "ok",
                    "partnerId": str(backend.partner_id),
                    "operationRate": _rate_json(backend.operation_rate),
                }
            case ("GET", "/_emulator/faults"):
                return 200, server.faults.settings()
            case ("POST", "/_emulator/faults"):
                if not isinstance(data, dict):
                    raise ValueError("the body must be a JSON object")
                return 200, server.faults.configure(**data)
            case ("DELETE", "/_emulator/faults"):
                return 200, server.faults.clear()
            case ("POST", "/_emulator/reset"):
                backend.reset()
                server.faults.clear()
                server.stats.clear()
                server.authority.reset()
                return 200, {"reset": True}
            case ("POST", "/_emulator/seed"):
                unknown = set(data) - set(SEED_OPTIONS)
                if unknown:
                    raise ValueError(f"unknown seed options: {', '.join(sorted(unknown))}")
                backend.operations.forget()
                summary = seed(backend.store, backend.partner_id, **data)
                backend.forget_cached_state()
                return 200, summary
            case ("GET", "/_emulator/summary"):
                return 200, backend.summary()
            case ("GET", "/_emulator/stats"):
                return 200, server.stats.snapshot()
            case ("DELETE", "/_emulator/stats"):
                server.stats.clear()
                return 200, server.stats.snapshot()
            case ("GET", "/_emulator/requests"):
                entries = server.request_log.entries(
                    method=query.get("method") or None,
                    since=int(query.get("since") or 0),
                    limit=int(query["limit"]) if query.get("limit") else None,
                )
                return 200, {"requests": entries}
            case ("DELETE", "/_emulator/requests"):
                server.request_log.clear()
                return 200, {"requests": []}
            case ("GET", "/_emulator/operation-rate"):
                return 200, {"devices_per_second": _rate_json(backend.operation_rate)}
            case ("POST", "/_emulator/operation-rate"):
                rate = set_operation_rate(backend, data.get("devices_per_second"))
                return 200, {"devices_per_second": _rate_json(rate)}
            case ("POST", "/_emulator/operations/complete"):
                return 200, {"completed": backend.operations.complete_all()}
            case ("GET", "/_emulator/auth"):
                return 200, server.authority.settings()
            case ("POST", "/_emulator/auth"):
                return 200, server.authority.configure(**data)
            case ("GET", "/_emulator/auth/keys"):
                return 200, {"keys": server.authority.keys()}
            case ("POST", "/_emulator/auth/keys"):
                return 200, server.authority.register_key(data).to_dict()
            case ("DELETE", "/_emulator/auth/tokens"):
                return 200, {"expired": server.authority.expire_tokens()}
            case ("DELETE", key_path) if key_path.startswith("/_emulator/auth/keys/"):
                key_id = key_path.removeprefix("/_emulator/auth/keys/")
                if not server.authority.revoke_key(key_id):
                    return 404, {"error": f"no key {key_id}"}
                return 200, {"revoked": key_id}
    except (TypeError, ValueError) as exc:
        return 400, {"error": str(exc)}
    return 404, {"error": f"no control endpoint {http_method} {path}"}
