"""``python -m emulator serve|seed|bench``: see emulator/README.md."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path

from .backend import Backend
from .faults import Faults
from .oauth import Authority
from .seeding import seed
from .server import EmulatorServer
from .store import OutdatedState, Store


def _rate(value: str) -> float:
    rate = float(value)
    if rate < 0 or math.isnan(rate):
        raise argparse.ArgumentTypeError("the operation rate is 0 (paused) or more devices per second")
    return rate


def _codes(value: str) -> list[int]:
    return [int(code) for code in value.split(",") if code.strip()]


def add_seed_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--customers", type=int, default=10, help="the reseller's customers (default 10)")
    parser.add_argument("--vendors", type=int, default=2, help="vendors of the reseller (default 2)")
    parser.add_argument("--devices", type=int, default=1000, help="devices in all (default 1000)")
    parser.add_argument("--random-seed", type=int, default=0, help="same seed, same data (default 0)")
    parser.add_argument(
        "--customers-per-vendor", type=int, default=3, help="customers of each vendor (default 3)"
    )
    parser.add_argument(
        "--unclaimed-fraction", type=float, default=0.1, help="share of devices left unclaimed (default 0.1)"
    )


def seed_options(args: argparse.Namespace) -> dict:
    return {
        "customers": args.customers,
        "vendors": args.vendors,
        "devices": args.devices,
        "random_seed": args.random_seed,
        "customers_per_vendor": args.customers_per_vendor,
        "unclaimed_fraction": args.unclaimed_fraction,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m emulator", description="A local fake of Google's zero-touch reseller API (v1)."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API on a port")
    serve.add_argument("--port", type=int, default=8800, help="TCP port; 0 picks a free one (default 8800)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument(
        "--state", required=True, type=Path, help="the state file (SQLite), created if missing"
    )
    serve.add_argument("--partner-id", required=True, type=int, help="the reseller partner id served")
    serve.add_argument(
        "--operation-rate",
        type=_rate,
        default=1000.0,
        help="devices per second an operation processes; 0 pauses, inf is immediate (default 1000)",
    )
    serve.add_argument(
        "--error-rate", type=float, default=0.0, help="share of API requests answered with an error"
    )
    serve.add_argument(
        "--error-codes", type=_codes, default=[500, 503], help="HTTP statuses of those errors (500,503)"
    )
    serve.add_argument("--latency-ms", type=float, default=0.0, help="latency added to every API request")
    serve.add_argument(
        "--quota-per-minute", type=int, default=0, help="requests per minute before 429 (0: no quota)"
    )
    serve.add_argument(
        "--drop-rate", type=float, default=0.0, help="share of requests whose connection is dropped"
    )
    serve.add_argument(
        "--drop-after-rate",
        type=float,
        default=0.0,
        help="share of requests handled and then dropped without a response",
    )
    serve.add_argument(
        "--fault-methods", default="", help="comma-separated API methods faults apply to (default all)"
    )
    serve.add_argument("--fault-seed", type=int, default=None, help="seed of the fault dice (default random)")
    serve.add_argument(
        "--ready-file", type=Path, help="write {url, pid} as JSON here once the server answers"
    )
    serve.add_argument(
        "--oauth",
        action="store_true",
        help="play Google's OAuth token endpoint (POST /token) and accept only the access tokens it issued",
    )
    serve.add_argument(
        "--oauth-key",
        type=Path,
        action="append",
        default=[],
        help="a service-account key file (JSON) whose public key --oauth accepts; repeatable",
    )
    serve.add_argument(
        "--token-lifetime", type=float, default=3600.0, help="seconds an access token lives (default 3600)"
    )

    seed_cmd = commands.add_parser("seed", help="replace a state file's content with generated data")
    seed_cmd.add_argument("--state", required=True, type=Path, help="the state file (SQLite)")
    seed_cmd.add_argument("--partner-id", required=True, type=int, help="the reseller partner id")
    add_seed_arguments(seed_cmd)

    bench = commands.add_parser("bench", help="measure the emulator's speed on a large state")
    bench.add_argument("--devices", type=int, default=1_000_000, help="devices to seed (default 1,000,000)")
    bench.add_argument("--state", type=Path, help="state file to use (default: a temporary one)")
    bench.add_argument("--reuse-state", action="store_true", help="don't seed when --state is already seeded")
    bench.add_argument("--seconds", type=float, default=5.0, help="length of each measurement (default 5)")
    bench.add_argument("--connections", type=int, default=2, help="client keep-alive connections (default 2)")
    return parser


def serve(args: argparse.Namespace) -> int:
    faults = Faults(random_seed=args.fault_seed)
    try:
        faults.configure(
            error_rate=args.error_rate,
            error_codes=args.error_codes,
            latency_ms=args.latency_ms,
            quota_per_minute=args.quota_per_minute,
            drop_rate=args.drop_rate,
            drop_after_rate=args.drop_after_rate,
            methods=[m.strip() for m in args.fault_methods.split(",") if m.strip()],
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        backend = Backend(args.state, args.partner_id, operation_rate=args.operation_rate)
    except OutdatedState as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    seeded = backend.store.get_meta("seed")
    if seeded and json.loads(seeded).get("partnerId") not in (None, args.partner_id):
        print(
            f"warning: {args.state} was seeded for partner {json.loads(seeded)['partnerId']}, "
            f"not {args.partner_id}",
            file=sys.stderr,
        )
    try:
        authority = Authority(enabled=args.oauth, token_lifetime=args.token_lifetime)
        for key_file in args.oauth_key:
            authority.register_key(json.loads(key_file.read_text()))
    except (OSError, ValueError, RuntimeError) as exc:
        backend.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    server = EmulatorServer((args.host, args.port), backend, faults, authority)
    backend.operations.start()

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.ready_file:
        temporary = args.ready_file.with_name(args.ready_file.name + ".tmp")
        temporary.write_text(json.dumps({"url": server.url, "pid": os.getpid()}))
        temporary.replace(args.ready_file)
    print(
        f"Zero-touch API emulator for partner {args.partner_id} on {server.url} (state {args.state})"
        + (f"; OAuth token endpoint {server.url}/token" if args.oauth else ""),
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.close_connections()
        server.server_close()
        backend.close()
    return 0


def seed_command(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    store = Store(args.state, replace_outdated=True)
    try:
        summary = seed(store, args.partner_id, **seed_options(args))
    finally:
        store.close()
    elapsed = time.perf_counter() - started
    print(
        f"Seeded {args.state} for partner {args.partner_id}: {len(summary['customerIds'])} customers, "
        f"{len(summary['vendors'])} vendors, {summary['devices']} devices, {summary['claims']} claims "
        f"in {elapsed:.1f} s"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "seed":
        return seed_command(args)
    from .bench import run_bench

    return run_bench(args)
