"""A separate process for the shared-quota test: calls ``devices.get`` as fast as its client allows
until a given moment and prints the monotonic times of its successful calls as JSON.

``python -m tests.zerotouch.quota_worker URL PARTNER_ID DEVICE_ID REDIS_URL PREFIX REQUESTS PERIOD
START STOP`` (START and STOP are ``time.monotonic()`` values, which every process on the machine shares).
"""

import json
import sys
import time

from zerotouch import build_client


def main(argv: list[str]) -> None:
    url, partner_id, device_id, redis_url, prefix, requests, period, start, stop = argv
    client = build_client(
        api_url=url,
        partner_id=partner_id,
        quota_requests=int(requests),
        quota_period=float(period),
        redis_url=redis_url,
        redis_key_prefix=prefix,
        deadline=5.0,
    )
    done: list[float] = []
    try:
        time.sleep(max(0.0, float(start) - time.monotonic()))
        while time.monotonic() < float(stop):
            client.devices_get(device_id=device_id)
            done.append(time.monotonic())
    finally:
        client.close()
    print(json.dumps(done))


if __name__ == "__main__":
    main(sys.argv[1:])
