"""Orders: the order number groups devices. Reads of ``Order`` and ``OrderLine`` (kept by
``reports.rollups``), plus what is still pending in unfinished batch jobs."""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Case, QuerySet, When

from batches.models import BatchItem, BatchJob
from devices.selectors import order_device_counts, order_numbers_carried
from reports.models import Order, OrderLine
from reports.selectors import Table, customer_names

PAGE_SIZE = 50
_ACTIVE_JOBS = (BatchJob.State.QUEUED, BatchJob.State.RUNNING)


def order_search(text: str = "", *, limit: int = PAGE_SIZE) -> list[Order]:
    """Orders whose number holds ``text`` anywhere, in any letter case ("0773100" finds
    SO-2023-0773100), those with failures first, then the most recently changed; then, when ``text``
    is given, the order numbers devices carry now without a claim through the portal (set in a
    sync, another tool or by the metadata form), found by their start or any part of them, as
    unsaved orders with nothing counted."""
    orders = Order.objects.all()
    text = text.strip()
    if text:
        orders = orders.filter(number__icontains=text)
    found = list(orders.order_by("-has_failures", "-last_at", "number")[:limit])
    if text and len(found) < limit:
        known = {order.number.casefold() for order in found}
        carried = [n for n in order_numbers_carried(text, limit=limit) if n.casefold() not in known]
        recorded = {
            number.casefold()
            for number in Order.objects.filter(number__in=carried).values_list("number", flat=True)
        }
        found += [
            Order(number=number, first_at=None, last_at=None)
            for number in carried
            if number.casefold() not in recorded
        ][: limit - len(found)]
    return found


def pending_counts(numbers: Sequence[str]) -> Counter:
    """Devices of these orders waiting in batch jobs that have not finished, by order number."""
    if not numbers:
        return Counter()
    items = BatchItem.objects.filter(
        job__state__in=_ACTIVE_JOBS, state=BatchItem.State.PENDING, metadata__ordernumber__in=list(numbers)
    )
    return Counter(items.values_list("metadata__ordernumber", flat=True))


@dataclass(frozen=True)
class OrderView:
    order: Order
    pending: int
    customer_name: str
    devices_now: int = 0  # devices that carry its number now


def orders_with_pending(orders: Sequence[Order]) -> list[OrderView]:
    """Orders with their devices still pending in batches and their customer's name."""
    orders = list(orders)
    pending = pending_counts([order.number for order in orders])
    names = customer_names({order.customer_id for order in orders})
    now = order_device_counts(order.number for order in orders)
    return [
        OrderView(order, pending.get(order.number, 0), names[order.customer_id], now[order.number])
        for order in orders
    ]


def order_lines(order: Order) -> QuerySet[OrderLine]:
    """The order's devices, failures first."""
    failures_first = Case(When(state=OrderLine.State.FAILED, then=0), default=1)
    return order.lines.order_by(failures_first, "device_key")


def order_pending_items(number: str, *, limit: int = 500) -> QuerySet[BatchItem]:
    return (
        BatchItem.objects.filter(
            job__state__in=_ACTIVE_JOBS, state=BatchItem.State.PENDING, metadata__ordernumber=number
        )
        .select_related("job")
        .order_by("job_id", "row_number")[:limit]
    )


def orders_table(views: Sequence[OrderView]) -> Table:
    """The orders as a report table (for the CSV export)."""
    table = Table(
        "orders",
        "Orders",
        [
            "Order number",
            "Customer",
            "Claimed",
            "Failed",
            "Pending",
            "Unclaimed again",
            "Devices now",
            "First",
            "Last",
        ],
    )
    for view in views:
        order = view.order
        table.rows.append(
            [
                order.number,
                view.customer_name,
                order.claimed,
                order.failed,
                view.pending,
                order.unclaimed,
                view.devices_now,
                order.first_at,
                order.last_at,
            ]
        )
    return table
