"""Keeping the reports' counts: daily rollups and orders, from device history events.

``orders_add`` and ``daily_add`` run inside the transaction that appends events
(``devices.history.events_record``, through the ``EventCounter`` ``reports.apps`` registers);
``rollups_rebuild`` recomputes everything from the history, through the same key and state functions,
so that the two agree (tests/reports/test_rollups.py proves it on a known history).

Counts are added with one ``INSERT … ON CONFLICT … DO UPDATE SET count = count + excluded.count``
per table, the same statement on SQLite and PostgreSQL, with the keys sorted: two transactions that
add to the same rows lock them in the same order and cannot deadlock.

The orders are counted first, the daily rows last (between them the device history counts the
customers' devices: the order of ``devices.history``). An order is shared only by the writers of the
same order number, but today's daily rows by every writer of the day: a salesperson's one claim adds
to the same "claimed today, no model known" total as every chunk of a batch. Whatever a transaction
holds it holds until it commits, so a chunk of a thousand events takes the daily rows at its very end,
after its thousand order lines, and a claim made meanwhile waits milliseconds for them, not seconds.
"""

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from django.db import connection, models, transaction
from django.db.models import Count, F
from django.db.models.functions import TruncDate
from django.utils import timezone

from devices.models import DeviceEvent
from reports.models import NONE, DailyActivity, DailyModelActivity, DailyModelTotal, Order, OrderLine

ACTIVITY_KEY = ("day", "customer_id", "user_id", "kind", "source", "outcome", "failure_kind")
MODEL_KEY = ("day", "customer_id", "user_id", "manufacturer", "model", "kind", "outcome")
MODEL_TOTAL_KEY = ("day", "manufacturer", "model", "kind", "outcome")
_CHANGED = (DeviceEvent.Outcome.SUCCEEDED, DeviceEvent.Outcome.NO_OP)


def _day(moment: datetime) -> date:
    return timezone.localdate(moment) if timezone.is_aware(moment) else moment.date()


def activity_key(event: DeviceEvent) -> tuple:
    return (
        _day(event.created_at),
        event.customer_id or NONE,
        event.actor_id or NONE,
        event.kind,
        event.source,
        event.outcome,
        event.failure_kind,
    )


def model_key(event: DeviceEvent, *, make: tuple[str, str] | None = None) -> tuple:
    """The event's key in the model rollups; ``make``: as if it were of that (manufacturer, model)."""
    manufacturer, model = make if make is not None else (event.manufacturer, event.model)
    return (
        _day(event.created_at),
        event.customer_id or NONE,
        event.actor_id or NONE,
        manufacturer,
        model,
        event.kind,
        event.outcome,
    )


def model_total_key(event: DeviceEvent, *, make: tuple[str, str] | None = None) -> tuple:
    manufacturer, model = make if make is not None else (event.manufacturer, event.model)
    return (_day(event.created_at), manufacturer, model, event.kind, event.outcome)


def _add_counts(model: type[models.Model], key: Sequence[str], counts: Counter) -> None:
    """Add ``counts`` (key tuple → number) to ``model``'s rows, creating the missing ones."""
    if not counts:
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = [*key, "count"]
    day_index = key.index("day")
    rows = []
    for values, number in sorted(counts.items()):
        values = list(values)
        values[day_index] = connection.ops.adapt_datefield_value(values[day_index])
        rows.append([*values, number])
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    head = f"INSERT INTO {table} ({', '.join(quote(c) for c in columns)}) VALUES "  # noqa: S608 - names are ours
    tail = (
        f" ON CONFLICT ({', '.join(quote(c) for c in key)})"
        f" DO UPDATE SET {quote('count')} = {table}.{quote('count')} + excluded.{quote('count')}"
    )
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 500):
            part = rows[start : start + 500]
            cursor.execute(
                head + ", ".join([placeholders] * len(part)) + tail,
                [value for row in part for value in row],
            )


def daily_add(events: Sequence[DeviceEvent]) -> None:
    """Count newly appended events into the daily rollups (the caller's transaction, after
    ``orders_add``: these rows every writer of the day adds to are locked last)."""
    _add_counts(DailyActivity, ACTIVITY_KEY, Counter(activity_key(e) for e in events))
    _add_counts(DailyModelActivity, MODEL_KEY, Counter(model_key(e) for e in events))
    _add_counts(DailyModelTotal, MODEL_TOTAL_KEY, Counter(model_total_key(e) for e in events))


# --- Orders -----------------------------------------------------------------------------------------


def line_state(kind: str, outcome: str) -> str | None:
    """The state an event leaves its order line in (None: the event does not move it). A move ends
    claimed, for the customer it went to; a failed move left the device where it was."""
    if kind == DeviceEvent.Kind.MOVED:
        return OrderLine.State.CLAIMED if outcome in _CHANGED else None
    if kind == DeviceEvent.Kind.CLAIMED:
        return OrderLine.State.CLAIMED if outcome in _CHANGED else OrderLine.State.FAILED
    if kind in (DeviceEvent.Kind.UNCLAIMED, DeviceEvent.Kind.DRIFT_UNCLAIMED) and outcome in _CHANGED:
        return OrderLine.State.UNCLAIMED
    return None


def device_key(event: DeviceEvent) -> str:
    """One line per device: named by its identifier, which a device keeps before and after the cache
    holds it (its id only when it has no identifier)."""
    return event.identifier or f"#{event.device_id}"


_COUNTERS = {
    OrderLine.State.CLAIMED: "claimed",
    OrderLine.State.FAILED: "failed",
    OrderLine.State.UNCLAIMED: "unclaimed",
}


def _apply(order: Order, lines: dict[str, OrderLine], event: DeviceEvent, state: str) -> OrderLine | None:
    """Move one device of ``order`` to ``state`` as ``event`` says, keeping the order's counts. A failed
    attempt does not undo a claim that stands. Returns the line when it changed."""
    key = device_key(event)
    line = lines.get(key)
    if line is not None and line.state == OrderLine.State.CLAIMED and state == OrderLine.State.FAILED:
        return None
    if line is None:
        line = OrderLine(order=order, device_key=key)
        lines[key] = line
    else:
        setattr(order, _COUNTERS[line.state], getattr(order, _COUNTERS[line.state]) - 1)
    setattr(order, _COUNTERS[state], getattr(order, _COUNTERS[state]) + 1)
    order.has_failures = order.failed > 0
    line.state = state
    line.failure_kind = event.failure_kind if state == OrderLine.State.FAILED else ""
    line.device_id = event.device_id if event.device_id is not None else line.device_id
    line.identifier = event.identifier
    line.updated_at = event.created_at
    if event.kind in (DeviceEvent.Kind.CLAIMED, DeviceEvent.Kind.MOVED) and event.customer_id:
        line.customer_id = order.customer_id = event.customer_id
    order.first_at = min(order.first_at, event.created_at) if order.first_at else event.created_at
    order.last_at = max(order.last_at, event.created_at) if order.last_at else event.created_at
    return line


def _order_events(events: Iterable[DeviceEvent]) -> list[tuple[DeviceEvent, str]]:
    moved = []
    for event in events:
        state = line_state(event.kind, event.outcome) if event.order_number else None
        if state is not None:
            moved.append((event, state))
    return moved


_LINE_FIELDS = ["device_id", "identifier", "customer_id", "state", "failure_kind", "updated_at"]
_ORDER_FIELDS = ["customer_id", "claimed", "failed", "unclaimed", "has_failures", "first_at", "last_at"]


def orders_add(events: Sequence[DeviceEvent]) -> None:
    """Move the order lines these events concern, under the orders' row locks."""
    moved = _order_events(events)
    if not moved:
        return
    numbers = sorted({event.order_number for event, _ in moved})
    first = min(event.created_at for event, _ in moved)
    Order.objects.bulk_create(
        [Order(number=number, first_at=first, last_at=first) for number in numbers], ignore_conflicts=True
    )
    # In number order (not the model's ordering, which changes with the counts): two writers of the
    # same orders lock them in the same order.
    locked = Order.objects.select_for_update().filter(number__in=numbers).order_by("number")
    orders = {order.number: order for order in locked}
    keys = {device_key(event) for event, _ in moved}
    lines: dict[int, dict[str, OrderLine]] = {order.pk: {} for order in orders.values()}
    for line in OrderLine.objects.filter(order__in=orders.values(), device_key__in=keys):
        lines[line.order_id][line.device_key] = line
    changed: dict[int, OrderLine] = {}
    for event, state in moved:
        order = orders[event.order_number]
        if order.claimed + order.failed + order.unclaimed == 0:  # made just now: its first event
            order.first_at = order.last_at = event.created_at
        line = _apply(order, lines[order.pk], event, state)
        if line is not None:
            changed[id(line)] = line
    _upsert(OrderLine, changed.values(), unique=("order", "device_key"), fields=_LINE_FIELDS)
    _upsert(Order, orders.values(), unique=("number",), fields=_ORDER_FIELDS)


def _upsert(
    model: type[models.Model],
    objects: Iterable[models.Model],
    *,
    unique: Sequence[str],
    fields: Sequence[str],
) -> None:
    """Write ``objects`` (rows locked above, or new ones) with one ``INSERT … ON CONFLICT (unique) DO
    UPDATE`` of ``fields``. ``bulk_update`` would build a ``CASE`` of one branch per row for every
    column: a second and more of CPU for a chunk of a thousand orders, in the worker that shares
    the machine with the web processes."""
    names = [model._meta.get_field(name).attname for name in (*unique, *fields)]
    rows = [model(**{name: getattr(obj, name) for name in names}) for obj in objects]
    model.objects.bulk_create(rows, update_conflicts=True, unique_fields=unique, update_fields=fields)


# --- Both ---------------------------------------------------------------------------------------------


def rollups_move_models(events: Sequence[DeviceEvent], makes: Sequence[tuple[str, str]]) -> None:
    """Move counted events from the make and model they were counted under (the ones they carry) to
    ``makes`` (one pair per event, in order): a device claimed by its IMEI alone is counted under its
    model once the cache knows it. The events are left as they are; their writer sets the new make
    and model (``devices.history.events_fill_models``). Rows left at zero are removed (the caller's
    transaction)."""
    activity, totals = Counter(), Counter()
    for event, make in zip(events, makes, strict=True):
        activity[model_key(event)] -= 1
        totals[model_total_key(event)] -= 1
        activity[model_key(event, make=make)] += 1
        totals[model_total_key(event, make=make)] += 1
    for model, key, counts in (
        (DailyModelActivity, MODEL_KEY, activity),
        (DailyModelTotal, MODEL_TOTAL_KEY, totals),
    ):
        _add_counts(model, key, Counter({values: n for values, n in counts.items() if n > 0}))
        for values, n in counts.items():
            if n < 0:  # the rows they were counted in exist: take them out there
                row = model.objects.filter(**dict(zip(key, values, strict=True)))
                row.update(count=F("count") + n)
                row.filter(count=0).delete()


@dataclass(frozen=True)
class RebuildCounts:
    activity_rows: int
    model_rows: int
    orders: int
    order_lines: int


_REBUILD_BATCH = 5000


def _grouped(key: Sequence[str]) -> Iterator[Counter]:
    """The whole history counted by ``key`` in the database (one GROUP BY), keyed like the rollups, in
    batches of at most ``_REBUILD_BATCH`` groups read from a server-side cursor: memory stays flat
    however long the history. Two groups of the database may become one key (an empty customer and
    the NONE customer): ``_add_counts`` adds a batch to what the table holds, so that is counted
    right across batches too."""
    columns = {"day": TruncDate("created_at"), "user_id": models.F("actor_id")}
    rows = (
        DeviceEvent.objects.order_by()
        .annotate(**{name: expression for name, expression in columns.items() if name in key})
        .values(*key)
        .annotate(number=Count("pk"))
        .values_list(*key, "number")
    )
    counts: Counter = Counter()
    for *values, number in rows.iterator(chunk_size=_REBUILD_BATCH):
        keyed = dict(zip(key, values, strict=True))
        if "customer_id" in keyed:
            keyed["customer_id"] = keyed["customer_id"] or NONE
            keyed["user_id"] = keyed["user_id"] or NONE
        counts[tuple(keyed[name] for name in key)] += number
        if len(counts) >= _REBUILD_BATCH:
            yield counts
            counts = Counter()
    if counts:
        yield counts


def _count_into(model: type[models.Model], key: Sequence[str]) -> int:
    """Fill ``model`` from the whole history, a batch at a time: how many groups were written."""
    written = 0
    for counts in _grouped(key):
        _add_counts(model, key, counts)
        written += len(counts)
    return written


_REPLAYED = [
    DeviceEvent.Kind.CLAIMED,
    DeviceEvent.Kind.MOVED,
    DeviceEvent.Kind.UNCLAIMED,
    DeviceEvent.Kind.DRIFT_UNCLAIMED,
]


def _orders_replayed() -> Iterator[tuple[Order, list[OrderLine]]]:
    """Every order rebuilt by replaying its history's claims and unclaims in the order written, one
    order at a time: the events come sorted by order number (the database sorts them), so only one
    order's lines are held at once."""
    events = (
        DeviceEvent.objects.exclude(order_number="")
        .filter(kind__in=_REPLAYED)
        .order_by("order_number", "id")
        .only(
            "id",
            "device_id",
            "identifier",
            "created_at",
            "kind",
            "outcome",
            "failure_kind",
            "customer_id",
            "order_number",
        )
    )
    order: Order | None = None
    lines: dict[str, OrderLine] = {}
    for event, state in _order_events(events.iterator(chunk_size=_REBUILD_BATCH)):
        if order is None or order.number != event.order_number:
            if order is not None:
                yield order, list(lines.values())
            order = Order(number=event.order_number, first_at=event.created_at, last_at=event.created_at)
            lines = {}
        _apply(order, lines, event, state)
    if order is not None:
        yield order, list(lines.values())


def _write_orders(replayed: Iterable[tuple[Order, list[OrderLine]]]) -> tuple[int, int]:
    """Insert replayed orders and their lines in batches: (orders, lines) written."""
    orders: list[Order] = []
    lines: list[OrderLine] = []
    counted = [0, 0]

    def flush() -> None:
        Order.objects.bulk_create(orders, batch_size=2000)
        for line in lines:
            line.order_id = line.order.pk
        OrderLine.objects.bulk_create(lines, batch_size=2000)
        counted[0] += len(orders)
        counted[1] += len(lines)
        orders.clear()
        lines.clear()

    for order, its_lines in replayed:
        orders.append(order)
        lines.extend(its_lines)
        if len(lines) >= _REBUILD_BATCH or len(orders) >= _REBUILD_BATCH:
            flush()
    flush()
    return counted[0], counted[1]


ROLLUP_MODELS = (OrderLine, Order, DailyModelTotal, DailyModelActivity, DailyActivity)


def rollups_rebuild() -> RebuildCounts:
    """Throw the rollups and orders away and count them again from the whole history, in one
    transaction (the reports show the old numbers until it commits), streaming: the history is read
    in batches and written as it is read, so memory does not grow with it. The tables' planner
    statistics are refreshed afterwards: straight after a rebuild they would still describe the
    tables as they were (empty, on a new install), and a report's plan would sort on disk."""
    with transaction.atomic():
        for model in ROLLUP_MODELS:
            model.objects.all().delete()
        activity = _count_into(DailyActivity, ACTIVITY_KEY)
        by_model = _count_into(DailyModelActivity, MODEL_KEY)
        _count_into(DailyModelTotal, MODEL_TOTAL_KEY)
        orders, lines = _write_orders(_orders_replayed())
    statistics_refresh(ROLLUP_MODELS)
    return RebuildCounts(activity, by_model, orders, lines)


def statistics_refresh(tables: Iterable[type[models.Model]]) -> None:
    """Have the database read these tables' statistics again (``ANALYZE``)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model in tables:
            cursor.execute(f"ANALYZE {quote(model._meta.db_table)}")
