"""A separate process for the lane tests: takes tokens as fast as its lane allows, without calling
the API, until a given moment, and prints the wall-clock times of its grants as JSON.

``python -m tests.zerotouch.lane_worker file:PATH|redis:PREFIX PRIORITY START STOP`` (START and STOP
are ``time.time()`` values, which every process on the machine shares).
"""

import json
import sys
import time

from zerotouch import FileTokenBucket, Priority, Quota, RedisTokenBucket

from .factories import REDIS_URL

QUOTA = Quota(requests=100, period=2.0, burst=4, reserve=1)


def main(argv: list[str]) -> None:
    limiter, priority, start, stop = argv
    kind, _, where = limiter.partition(":")
    bucket = (
        FileTokenBucket(where, QUOTA)
        if kind == "file"
        else RedisTokenBucket(REDIS_URL, QUOTA, key_prefix=where)
    )
    lane = Priority(priority)
    granted: list[float] = []
    try:
        time.sleep(max(0.0, float(start) - time.time()))
        while time.time() < float(stop):
            wait = bucket.try_acquire("1000001", lane)
            if wait == 0.0:
                granted.append(time.time())
            else:
                time.sleep(wait)
    finally:
        bucket.close()
    print(json.dumps(granted))


if __name__ == "__main__":
    main(sys.argv[1:])
