"""What the customer pages show of the customers' devices: each customer's latest claim (the list
and its CSV), and on a customer's page its claims per week, its first devices and recent history.

Devices and their history belong to the devices app, which sits above customers in the layers (a
device belongs to a customer: devices' models, sync and claim rules read customers), so customers
does not import it. The devices app hands these reads over when Django starts
(``DevicesConfig.ready`` calls ``device_reads_provide`` with selectors of ``devices.selectors``), and
the customer pages call them through ``device_reads()``: the same selectors, the same queries.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Subquery


@dataclass(frozen=True)
class DeviceReads:
    # When a device was last claimed for the customer OuterRef("pk"): an annotation of customers.
    last_claim: Callable[[], Subquery]
    # A customer's successful claims per week over the last year (by customer id), oldest week first.
    claims_per_week: Callable[[int], list[Any]]
    # The first page of a customer's devices (by customer id).
    devices: Callable[[int], Any]
    # What happened lately to a customer's devices (by customer id), newest first.
    history: Callable[[int], list[Any]]


_provided: list[DeviceReads] = []


def device_reads_provide(reads: DeviceReads) -> None:
    _provided[:] = [reads]


def device_reads() -> DeviceReads:
    if not _provided:
        raise ImproperlyConfigured("The customer pages read devices through the devices app: install it.")
    return _provided[0]
