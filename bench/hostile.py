"""Hostile batch uploads through the whole request path: how fast each is refused and how much memory
the web process takes for it (``zt_bench hostile``; issue targets: a 400 within 2 s, under 100 MB).

Each body is built before it is timed, and posted as a signed-in salesperson through Django's full
middleware stack and the batch form's upload limit, in this process. The figures: the answer's status
and time, the Python memory traced during the request (tracemalloc's peak, the request's own
allocations) and the growth of the process's peak resident memory (ru_maxrss), which counts whatever
the interpreter and C libraries took as well.
"""

import resource
import time
import tracemalloc

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.client import BOUNDARY, encode_multipart

from core.roles import Role, ensure_role_groups

MB = 1024 * 1024
IMEI = "490154203237518"
HEADER_9 = "imei,meid,serial,manufacturer,model,customer_id,ordernumber,phonenumber,notes\r\n"


def _hostile_files() -> list[tuple[str, bytes]]:
    wide_row = ",".join([IMEI, *["x"] * 32_000]) + "\r\n"
    return [
        ("310 rows x 32,001 cells (19.8 MB)", (HEADER_9 + wide_row * 310).encode()),
        ("a 25 MB file (over the 20 MB limit)", b"imei\r\n" + (IMEI.encode() + b"\r\n") * (25 * MB // 17)),
        ("2,000,000 blank lines", b"imei\r\n" + b"\r\n" * 2_000_000),
    ]


def _sales_client() -> Client:
    ensure_role_groups()
    user, _ = get_user_model().objects.get_or_create(username="bench-hostile")
    user.groups.add(Group.objects.get(name=Role.SALES.value))
    client = Client()
    client.force_login(user)
    return client


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def bench_hostile(out) -> bool:
    """Post each hostile file once and print the figures; False when a target is missed."""
    client = _sales_client()
    met = True
    out.write(f"{'upload':40} {'status':>6} {'time':>8} {'traced':>9} {'peak RSS +':>11}")
    for label, content in _hostile_files():
        upload = SimpleUploadedFile("devices.csv", content, content_type="text/csv")
        body = encode_multipart(BOUNDARY, {"action": "claim", "mode": "file", "file": upload})
        del upload, content
        before = _rss_mb()
        tracemalloc.start()
        started = time.perf_counter()
        response = client.post(
            "/batches/new/", body, content_type=f"multipart/form-data; boundary={BOUNDARY}"
        )
        took = time.perf_counter() - started
        traced = tracemalloc.get_traced_memory()[1] / MB
        tracemalloc.stop()
        grown = _rss_mb() - before
        out.write(f"{label:40} {response.status_code:>6} {took:>7.2f}s {traced:>7.1f}MB {grown:>9.1f}MB")
        met &= response.status_code == 400 and took < 2.0 and grown < 100
    out.write("targets (400, < 2 s, < 100 MB more): " + ("met" if met else "MISSED"))
    return met
