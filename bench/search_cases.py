"""The device-search cases of the throughput benchmark (``bench.throughput``): 16 kinds of search a
person makes on the device pages, each query with the device its answer must show (picked from the
database beforehand), the check of an answer, and the lean browser that asks them (one keep-alive
``http.client`` connection and the session's cookies, signed in through the sign-in form)."""

from __future__ import annotations

import http.client
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import urlencode

from django.db.models import Count

from bench.load import EMULATOR_DEVICE_IDS, HTMX_RESULTS
from core.paging import encode_cursor
from devices.forms import DeviceSearchForm
from devices.models import Device
from devices.selectors import DEFAULT_PAGE_SIZE, device_search

REQUEST_TIMEOUT = 30  # seconds: a slower answer is an error
CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


# -- the cases ------------------------------------------------------------------------------------

CASES = (
    "exact IMEI",
    "exact serial",
    "IMEI prefix (8)",
    "IMEI prefix (4)",
    "serial prefix (3)",
    "order prefix",
    "order part",
    "customer",
    "customer + model",
    "customer page N",
    "unclaimed",
    "vendors' devices",
    "manufacturer",
    "model",
    "claimed, by model",
    "device page",
)


@dataclass(frozen=True)
class Query:
    """One request of a case: the page's path and query string, and the device its answer must show."""

    case: str
    path: str
    params: tuple[tuple[str, str], ...]
    device_id: int

    @property
    def has_fragment(self) -> bool:
        """The device list answers an HTMX request with its results fragment; a device page does not."""
        return self.path == "/devices/"

    def target(self) -> str:
        return f"{self.path}?{urlencode(self.params)}" if self.params else self.path


def first_shown(params: Iterable[tuple[str, str]]) -> int | None:
    """The first device of the page the device list shows for ``params``, through the view's own
    form and selector (None: the search finds nothing, or the query is not one the page accepts)."""
    form = DeviceSearchForm(dict(params))
    if not form.is_valid():
        return None
    page = device_search(
        form.filters(),
        sort=form.cleaned_data["sort"] or "device_id",
        cursor=form.cleaned_data["cursor"],
        before=form.cleaned_data["before"],
    )
    return page.devices[0].device_id if page.devices else None


def pick_queries(rng: random.Random, *, variants: int = 20) -> dict[str, list[Query]]:
    """Up to ``variants`` queries for each case, made from devices picked at random, each with the
    device its answer must show: the picked device itself (exact IMEI, exact serial, a device page),
    the device that opens page N of a customer's devices (counted in the device table), or, for the
    other cases, the first device of the page, found beforehand through the view's form and selector.
    A case the data cannot give (no unclaimed device, no order numbers) is left out."""
    queries: dict[str, list[Query]] = {}

    def add(case: str, params: list[tuple[str, str]], device_id: int | None = None, path: str = "/devices/"):
        found = queries.setdefault(case, [])
        if len(found) >= variants or any((q.path, q.params) == (path, tuple(params)) for q in found):
            return
        shown = device_id if device_id is not None else first_shown(params)
        if shown is not None:
            found.append(Query(case, path, tuple(params), shown))

    for device in _sample_devices(rng, 3 * variants):
        device_id, imei, serial = device["device_id"], device["imei"], device["serial_number"]
        owner, make, model = device["owner_id"], device["manufacturer"], device["model"]
        order = str((device["metadata"] or {}).get("ordernumber") or "")
        if imei:
            add("exact IMEI", [("q", imei)], device_id)
            add("IMEI prefix (8)", [("q", imei[:8])])
            add("IMEI prefix (4)", [("q", imei[:4])])
        if serial:
            add("exact serial", [("q", serial)], device_id)
            add("serial prefix (3)", [("q", serial[:3])])
        if order:
            add("order prefix", [("q", order[: max(3, len(order) - 3)])])
            part = re.split(r"[^0-9A-Za-z]", order)[-1]
            if part != order:
                add("order part", [("q", part)])
        if owner is not None:
            add("customer", [("customer", str(owner))])
            if model:
                add("customer + model", [("customer", str(owner)), ("model", model)])
        if make:
            add("manufacturer", [("manufacturer", make)])
        if model:
            add("model", [("model", model)])
        add("device page", [], device_id, path=f"/devices/{device_id}/")
    add("unclaimed", [("state", "unclaimed")])
    add("vendors' devices", [("seller", "vendor")])
    add("claimed, by model", [("state", "claimed"), ("sort", "model")])
    for params, device_id in _customer_pages(rng, variants):
        add("customer page N", params, device_id)
    return {case: queries[case] for case in CASES if queries.get(case)}


def _sample_devices(rng: random.Random, size: int) -> list[dict]:
    """About ``size`` devices picked at random among those a cache builder made."""
    built = Device.objects.filter(device_id__lt=EMULATOR_DEVICE_IDS)
    first = built.order_by("device_id").values_list("device_id", flat=True).first()
    last = built.order_by("-device_id").values_list("device_id", flat=True).first()
    if first is None:
        return []
    wanted = {rng.randrange(first, last + 1) for _ in range(size * 2)}
    fields = ("device_id", "imei", "serial_number", "owner_id", "manufacturer", "model", "metadata")
    found = list(built.filter(device_id__in=wanted).values(*fields))
    rng.shuffle(found)
    return found[:size]


def _customer_pages(rng: random.Random, variants: int) -> list[tuple[list[tuple[str, str]], int]]:
    """Page N (2 to 1,000) of the devices of the customer who has most, as its "next page" link asks
    for it (the cursor of page N - 1's last device), with the device that opens that page."""
    biggest = (
        Device.objects.exclude(owner=None)
        .values("owner_id")
        .annotate(devices=Count("device_id"))
        .order_by("-devices")
        .first()
    )
    if biggest is None or biggest["devices"] <= DEFAULT_PAGE_SIZE:
        return []
    owner = biggest["owner_id"]
    pages = min(1000, (biggest["devices"] - 1) // DEFAULT_PAGE_SIZE + 1)
    owned = Device.objects.filter(owner_id=owner).order_by("device_id").values_list("device_id", flat=True)
    found = []
    for page in sorted({rng.randint(2, pages) for _ in range(variants)}):
        start = (page - 1) * DEFAULT_PAGE_SIZE
        last_before, opening = owned[start - 1 : start + 1]
        params = [("customer", str(owner)), ("cursor", encode_cursor(last_before, last_before))]
        found.append((params, opening))
    return found


def answer_problem(query: Query, *, fragment: bool, status: int, body: bytes) -> str:
    """What is wrong with an answer to ``query`` ("" when nothing is): it must be a 200 showing the
    query's device (its id as the text of a link or a cell), a whole page when a page was asked for
    and the results fragment alone when htmx asked for it."""
    if status != 200:
        return f"HTTP {status}"
    if f">{query.device_id}<".encode() not in body:
        return f"device {query.device_id} not shown"
    whole = b"</html>" in body
    if fragment and whole:
        return "a whole page where htmx asked for the results fragment"
    if not fragment and not whole:
        return "a fragment where a whole page was asked for"
    return ""


# -- one client -----------------------------------------------------------------------------------


class Browser:
    """One member of staff's browser: one HTTP/1.1 keep-alive connection and the session's cookies.

    gunicorn's sync workers close the connection after every answer ("Connection: close");
    ``http.client`` then opens the next one itself, as a browser does."""

    def __init__(self, host: str, port: int, cookies: dict[str, str] | None = None):
        self.host, self.port = host, port
        self.origin = f"http://{host}:{port}"
        self.connection = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT)
        self.cookies: dict[str, str] = dict(cookies or {})

    def request(
        self, method: str, path: str, *, body: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        try:
            self.connection.request(method, path, body=body, headers=sent)
            response = self.connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            raise
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response.status, payload

    def get(self, query: Query, *, fragment: bool = False) -> tuple[int, bytes]:
        return self.request("GET", query.target(), headers=HTMX_RESULTS if fragment else None)

    def sign_in(self, username: str, password: str) -> str:
        """Sign in through the sign-in form, as a person does; "" or what went wrong."""
        status, page = self.request("GET", "/accounts/login/")
        token = CSRF_INPUT.search(page)
        if status != 200 or token is None:
            return f"the sign-in page answered {status}" + ("" if token else " without a CSRF token")
        form = {"username": username, "password": password, "csrfmiddlewaretoken": token.group(1).decode()}
        status, _ = self.request(
            "POST",
            "/accounts/login/",
            body=urlencode(form),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": self.origin,
                "Referer": f"{self.origin}/accounts/login/",
            },
        )
        if status != 302 or "sessionid" not in self.cookies:
            return f"signing {username} in answered {status}"
        return ""

    def close(self) -> None:
        self.connection.close()
