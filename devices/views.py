from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.csv import csv_download, export_refused
from core.htmx import HtmxHttpRequest
from core.paging import InvalidCursor
from core.roles import ALL_ROLES, CHANGE_ROLES, has_any_role, role_required
from customers.selectors import customer_for_value, customer_get, customer_search
from devices.claims import ClaimRequest
from devices.failures import METADATA_NEEDS_A_CLAIM
from devices.forms import (
    ClaimForm,
    DeviceChoiceForm,
    DeviceSearchForm,
    MetadataForm,
    SelectionForm,
    UnclaimForm,
)
from devices.identifiers import IdentifierKind, detect_identifier
from devices.models import Action, Device, SectionType
from devices.sections import device_section_claims
from devices.selection import SELECTION_LIMIT, Selection, selection_change, selection_of
from devices.selectors import (
    EXPORT_COLUMNS,
    DevicePage,
    device_export,
    device_get,
    device_history,
    device_search,
    manufacturer_models,
    sync_overview,
)
from devices.services import (
    DeviceActionFailed,
    DeviceChange,
    device_claim,
    device_lookup,
    device_refresh,
    device_sim_lock_state,
    device_unclaim,
    device_update_metadata,
    lookup_identifier,
)
from devices.sync import sync_customer_request


def _form_problems(form) -> str:
    return "Some search fields are not valid: " + "; ".join(
        f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()
    )


def _search_context(request: HtmxHttpRequest, form: DeviceSearchForm) -> dict:
    valid = form.is_valid()
    sort = form.cleaned_data.get("sort") if valid else ""
    customer_id = form.cleaned_data.get("customer") if valid else None
    text = form.cleaned_data.get("q", "") if valid else ""
    can_change = has_any_role(request.user, CHANGE_ROLES)
    return {
        **_selection_context(selection_of(request.session) if can_change else None),
        "search_query": _search_query(request),
        "form": form,
        "can_change": can_change,
        "customer": customer_get(customer_id),
        # Typed text that reads like a name rather than an identifier: offer the customers it names.
        "customer_matches": customer_search(text, limit=5)
        if len(text) >= 2 and any(c.isalpha() for c in text) and customer_id is None
        else [],
        # A column header sorts by its column, or reverses the sort when it already sorts by it.
        "next_sort": {
            column: f"-{column}" if sort == column else column for column in ("device_id", "model")
        },
    }


def _search_query(request: HtmxHttpRequest) -> str:
    """The page's search as a query string, without its paging and sort: what "all the devices
    matching this search" means when a batch is started from it."""
    query = request.GET.copy()
    for name in ("cursor", "before", "sort"):
        query.pop(name, None)
    return query.urlencode()


def _list_response(request: HtmxHttpRequest, context: dict, status: int = 200) -> HttpResponse:
    if request.htmx and request.htmx.target == "results":
        return render(request, "devices/list.html#results", context, status=status)
    context["manufacturer_models"] = manufacturer_models()
    return render(request, "devices/list.html", context, status=status)


@require_GET
@role_required(ALL_ROLES)
def device_list(request: HtmxHttpRequest) -> HttpResponse:
    form = DeviceSearchForm(request.GET)
    context = _search_context(request, form)
    if not form.is_valid():
        context["error"] = _form_problems(form)
        return _list_response(request, context, status=400)
    try:
        context["page"] = device_search(
            form.filters(),
            sort=form.cleaned_data["sort"] or "device_id",
            cursor=form.cleaned_data["cursor"],
            before=form.cleaned_data["before"],
        )
    except InvalidCursor as exc:
        context["error"] = str(exc)
        return _list_response(request, context, status=400)
    return _list_response(request, context)


@require_GET
@role_required(ALL_ROLES)
def device_export_view(request: HtmxHttpRequest) -> HttpResponse:
    """Every device the page's search finds, as CSV (formula-safe), streamed."""
    form = DeviceSearchForm(request.GET)
    if not form.is_valid():
        return export_refused("devices")
    return csv_download(EXPORT_COLUMNS, device_export(form.filters()), filename="devices.csv")


@require_GET
@role_required(ALL_ROLES)
def device_lookup_view(request: HtmxHttpRequest) -> HttpResponse:
    """Ask zero-touch itself for a device the cache does not have (``findByIdentifier``)."""
    form = DeviceSearchForm(request.GET)
    context = _search_context(request, form)
    status = 200
    guess = detect_identifier(form.cleaned_data["q"]) if form.is_valid() and form.cleaned_data["q"] else None
    if guess is None:
        context["error"] = (
            _form_problems(form)
            if form.errors
            else "Type an IMEI, MEID or serial number to look up in zero-touch."
        )
        status = 400
    elif guess.suggested_value or (guess.kind is IdentifierKind.IMEI and not guess.complete):
        # A wrong check digit or part of an IMEI: zero-touch would only refuse it, so say why instead.
        context["page"] = DevicePage(devices=[], next_cursor=None, guess=guess)
        context["not_looked_up"] = True
    else:
        identifier = lookup_identifier(
            guess, manufacturer=form.cleaned_data["manufacturer"], model=form.cleaned_data["model"]
        )
        try:
            context["page"] = DevicePage(
                devices=device_lookup(identifier=identifier), next_cursor=None, guess=guess
            )
            context["looked_up"] = True
        except DeviceActionFailed as exc:
            context["error"] = str(exc)
    if request.htmx:
        return render(request, "devices/list.html#results", context, status=status)
    context["manufacturer_models"] = manufacturer_models()
    return render(request, "devices/list.html", context, status=status)


def _device_or_404(device_id: int) -> Device:
    device = device_get(device_id)
    if device is None:
        raise Http404("No device with this id in the cache.")
    return device


def _detail_context(request: HtmxHttpRequest, device: Device, **extra) -> dict:
    return {
        "device": device,
        "history": device_history(device),
        "claims": device_section_claims(device),
        "can_change": has_any_role(request.user, CHANGE_ROLES),
        "metadata_needs_a_claim": METADATA_NEEDS_A_CLAIM,
        **extra,
    }


def _section(
    request: HtmxHttpRequest, section: str, device: Device, *, sim_lock_too: bool = False, **extra
) -> HttpResponse:
    """One section of the device page, plus its history out of band when something changed (and the
    SIM-lock card with ``sim_lock_too``: after a refresh, which reads both claims)."""
    context = _detail_context(request, device, **extra)
    html = render_to_string(f"devices/detail.html#{section}", context, request)
    if sim_lock_too and extra.get("changed"):
        html += render_to_string(
            "devices/detail.html#sim-lock-section", {**context, "sim_lock_oob": True}, request
        )
    if extra.get("changed"):
        html += render_to_string(
            "devices/detail.html#history-section", {**context, "history_oob": True}, request
        )
    return HttpResponse(html)


@require_GET
@role_required(ALL_ROLES)
def device_detail(request: HtmxHttpRequest, device_id: int) -> HttpResponse:
    return render(request, "devices/detail.html", _detail_context(request, _device_or_404(device_id)))


@require_POST
@role_required(CHANGE_ROLES)
def device_refresh_view(request: HtmxHttpRequest, device_id: int) -> HttpResponse:
    device = _device_or_404(device_id)
    try:
        device = device_refresh(device=device)
        result = {"changed": True, "claim_message": "Read again from zero-touch just now."}
    except DeviceActionFailed as exc:
        result = {"claim_error": str(exc)}
    if request.htmx:
        return _section(request, "claim-section", device, sim_lock_too=True, **result)
    messages.info(request, result.get("claim_message") or result["claim_error"])
    return redirect("devices:detail", device_id=device.device_id)


def _change_message(change: DeviceChange, done: str, nothing: str) -> str:
    return " ".join(filter(None, [done if change.changed else nothing, change.note]))


@dataclass(frozen=True)
class _Card:
    """A claim's card on the device page: its fragment, and the names of its message, its error and
    its unclaim form in the page's context."""

    fragment: str
    message: str
    error: str
    unclaim_form: str


_CARDS = {
    SectionType.ZERO_TOUCH: _Card("claim-section", "claim_message", "claim_error", "unclaim_form"),
    SectionType.SIM_LOCK: _Card(
        "sim-lock-section", "sim_lock_message", "sim_lock_error", "sim_lock_unclaim_form"
    ),
}


@require_http_methods(["GET", "POST"])
@role_required(CHANGE_ROLES)
def device_unclaim_view(request: HtmxHttpRequest, device_id: int) -> HttpResponse:
    """Unclaim the device's claim in one section (``?section=``, then the form's ``section_type``)."""
    device = _device_or_404(device_id)
    asked = request.POST.get("section_type") if request.method == "POST" else request.GET.get("section")
    section = asked if asked in SectionType.values else SectionType.ZERO_TOUCH
    card = _CARDS[section]
    form = UnclaimForm(request.POST if request.method == "POST" else None, initial={"section_type": section})
    result: dict = {card.unclaim_form: form}
    if request.method == "POST" and form.is_valid():
        try:
            change = device_unclaim(
                actor=request.user,
                device=device,
                section_type=section,
                vacation_mode_days=form.cleaned_data["vacation_mode_days"],
                vacation_mode_expire_time=form.cleaned_data["vacation_mode_until"],
            )
            device = change.device
            result = {
                "changed": True,
                card.message: _change_message(
                    change, _unclaim_message(device, section), _NOTHING_TO_UNCLAIM[section]
                ),
            }
        except DeviceActionFailed as exc:
            result[card.error], result["outcome_unknown"] = str(exc), exc.outcome_unknown
    if request.htmx:
        return _section(request, card.fragment, device, **result)
    if result.get("changed"):
        messages.success(request, result[card.message])
        return redirect("devices:detail", device_id=device.device_id)
    return render(request, "devices/detail.html", _detail_context(request, device, **result))


@require_POST
@role_required(ALL_ROLES)
def device_sim_lock_state_view(request: HtmxHttpRequest, device_id: int) -> HttpResponse:
    """Ask zero-touch for the device's SIM lock state (a read: any role may ask)."""
    device = _device_or_404(device_id)
    try:
        result = {"sim_lock_reading": device_sim_lock_state(device=device)}
    except DeviceActionFailed as exc:
        result = {"sim_lock_error": str(exc)}
    if request.htmx:
        return _section(request, "sim-lock-section", device, **result)
    if "sim_lock_reading" in result:
        messages.info(request, f"SIM lock state: {result['sim_lock_reading'].words}.")
    else:
        messages.error(request, result["sim_lock_error"])
    return redirect("devices:detail", device_id=device.device_id)


@require_http_methods(["GET", "POST"])
@role_required(CHANGE_ROLES)
def device_metadata_view(request: HtmxHttpRequest, device_id: int) -> HttpResponse:
    device = _device_or_404(device_id)
    initial = {"order_number": device.order_number, "phone_number": device.phone_number}
    form = MetadataForm(request.POST if request.method == "POST" else None, initial=initial)
    result: dict = {"metadata_form": form}
    if not device.is_claimed:  # zero-touch keeps a reseller's metadata only on devices it claimed
        result = {"metadata_error": METADATA_NEEDS_A_CLAIM}
    elif request.method == "POST" and form.is_valid():
        entries = form.entries(device.metadata)
        try:
            change = (
                device_update_metadata(actor=request.user, device=device, entries=entries)
                if entries
                else None
            )
            device = change.device if change else device
            result = {
                "changed": change is not None,
                "metadata_message": _change_message(change, "Metadata saved.", "Nothing changed.")
                if change
                else "Nothing changed.",
            }
        except DeviceActionFailed as exc:
            result["metadata_error"], result["outcome_unknown"] = str(exc), exc.outcome_unknown
    if request.htmx:
        return _section(request, "metadata-section", device, **result)
    if "metadata_message" in result:
        messages.success(request, result["metadata_message"])
        return redirect("devices:detail", device_id=device.device_id)
    return render(request, "devices/detail.html", _detail_context(request, device, **result))


@require_http_methods(["GET", "POST"])
@role_required(CHANGE_ROLES)
def device_claim_view(request: HtmxHttpRequest) -> HttpResponse:
    """Claim one device: the form, prefilled from a cached device (``?device=``) when given."""
    status = 200
    if request.method == "POST":
        form = ClaimForm(request.POST)
    else:
        choice = DeviceChoiceForm(request.GET)
        valid = choice.is_valid()
        device_id = choice.cleaned_data["device"] if valid else None
        initial = _claim_initial(device_get(device_id) if device_id else None)
        if valid and choice.cleaned_data["customer"]:
            initial["customer"] = choice.cleaned_data["customer"]
        if valid and choice.cleaned_data["section"]:
            initial["section_type"] = choice.cleaned_data["section"]
        form = ClaimForm(initial=initial)
        status = 200 if choice.is_valid() else 400
    chosen = customer_for_value(form["customer"].value())
    context: dict = {"form": form, "customer": chosen}
    if request.method == "POST" and form.is_valid():
        try:
            context["claimed"] = device_claim(actor=request.user, request=form.claim_request())
        except DeviceActionFailed as exc:
            if exc.field and exc.field in form.fields:
                form.add_error(exc.field, str(exc))
            else:
                context["claim_error"], context["outcome_unknown"] = str(exc), exc.outcome_unknown
    if context.get("claimed") and not request.htmx:
        change = context["claimed"]
        messages.success(request, _claim_message(change, form.claim_request()))
        return redirect("devices:detail", device_id=change.device.device_id)
    if context.get("claimed"):
        context["claim_message"] = _claim_message(context["claimed"], form.claim_request())
    template = "devices/claim.html#claim-form" if request.htmx else "devices/claim.html"
    return render(request, template, context, status=status)


def _claim_message(change: DeviceChange, request: ClaimRequest) -> str:
    device = change.device
    if request.section_type == SectionType.SIM_LOCK:
        customer = customer_get(request.customer_id)
        owner = customer.name if customer is not None else f"customer {request.customer_id}"
        done = (
            f"Claimed in SIM lock for {owner}, with SIM-lock profile {request.simlock_profile_id}."
            if change.changed
            else f"Already claimed in SIM lock for {owner}: nothing to change."
        )
        return " ".join(filter(None, [done, change.note]))
    owner = device.owner_name or "the Google Workspace customer"
    done = f"Claimed for {owner}." if change.changed else f"Already claimed for {owner}: nothing to change."
    customer = customer_get(device.owner_id)
    terms = customer.terms_sentence if customer is not None and customer.terms_need_attention else ""
    return " ".join(filter(None, [done, change.note, terms]))


# What an unclaim says when zero-touch shows the section unclaimed already.
_NOTHING_TO_UNCLAIM = {
    SectionType.ZERO_TOUCH: "Zero-touch shows it unclaimed already: nothing to change.",
    SectionType.SIM_LOCK: "Zero-touch shows no SIM-lock claim already: nothing to change.",
}


def _unclaim_message(device: Device, section: str = SectionType.ZERO_TOUCH) -> str:
    """What the API did: gone, or held in vacation mode."""
    if section == SectionType.SIM_LOCK:
        claim = device_section_claims(device).sim_lock
        if claim is not None and claim.vacation_mode_expire_time:
            until = timezone.localtime(claim.vacation_mode_expire_time)
            return f"SIM lock off in vacation mode until {until:%Y-%m-%d %H:%M}; it locks again after that."
        if claim is not None:
            return "Zero-touch still shows the SIM-lock claim; refresh the device in a moment."
        reseller = settings.PORTAL_RESELLER_NAME
        return f"SIM-lock claim removed: the device is no longer SIM-locked by {reseller}."
    if device.is_claimed and device.vacation_mode_expire_time:
        until = timezone.localtime(device.vacation_mode_expire_time)
        return f"Vacation mode until {until:%Y-%m-%d %H:%M}: the claim ends then."
    if device.is_claimed:
        return "Zero-touch still shows the device as claimed; refresh it in a moment."
    return "Unclaimed. The customer's zero-touch settings no longer apply."


def _claim_initial(device: Device | None) -> dict:
    if device is None:
        return {}
    return {
        "device_type": "chrome_os" if device.device_type == "DEVICE_TYPE_CHROME_OS" else "android",
        "imei": device.imei,
        "meid": device.meid,
        "serial_number": device.serial_number,
        "manufacturer": device.manufacturer,
        "model": device.model,
        "chrome_os_attested_device_id": device.chrome_os_attested_device_id,
        "order_number": device.order_number,
        "phone_number": device.phone_number,
    }


@require_GET
@role_required(ALL_ROLES)
def sync_page(request: HtmxHttpRequest) -> HttpResponse:
    """The sync under way (refreshed while it runs), the last one finished, and the latest runs."""
    context = {**sync_overview(), "can_change": has_any_role(request.user, CHANGE_ROLES)}
    if request.htmx and request.htmx.target == "sync-current":
        return render(request, "devices/sync.html#current", context)
    return render(request, "devices/sync.html", context)


@require_POST
@role_required(CHANGE_ROLES)
def sync_customer_view(request: HtmxHttpRequest, customer_id: int) -> HttpResponse:
    customer = customer_get(customer_id)
    if customer is None:
        raise Http404("No such customer in the cache.")
    if sync_customer_request(customer=customer, actor=request.user):
        messages.info(request, f"A sync of {customer.name}'s devices has started; reload in a minute.")
    else:
        messages.info(request, f"A full sync is under way: it reads {customer.name}'s devices too.")
    return redirect(f"{reverse('devices:list')}?customer={customer.pk}")


@require_POST
@role_required(CHANGE_ROLES)
def device_selection_view(request: HtmxHttpRequest) -> HttpResponse:
    """Tick or untick devices on the devices page (kept in the session across pages and searches):
    the selection bar again for htmx, the devices page otherwise."""
    form = SelectionForm(request.POST)
    if not form.is_valid():
        problem = _form_problems(form)
        if request.htmx:
            context = {**_selection_context(selection_of(request.session)), "selection_error": problem}
            return render(request, "devices/_selection.html", context, status=400)
        messages.error(request, problem)
        return redirect("devices:list")
    data = form.cleaned_data
    op, ids = data["op"], data["device"]
    if op == "toggle":
        op = "add" if data["selected"] else "remove"
    selection = selection_change(
        request.session,
        add=ids if op == "add" else (),
        remove=ids if op == "remove" else (),
        clear=op == "clear",
    )
    if request.htmx:
        ticks = {"add": "all", "remove": "none", "clear": "none"}[op] if data["op"] != "toggle" else ""
        return render(request, "devices/_selection.html", _selection_context(selection, ticks=ticks))
    if selection.refused:
        messages.error(request, _selection_full(selection))
    back = data["next"]
    return redirect(back if back.startswith("/devices/") and "//" not in back else reverse("devices:list"))


def _selection_context(selection: Selection | None, *, ticks: str = "") -> dict:
    """What the selection bar shows: the selection, the batch actions it can start, and whether the
    page's boxes are to be ticked ("all") or unticked ("none") after a whole-page change."""
    return {
        "selection": selection,
        "selected_ids": set(selection.ids) if selection else set(),
        "selection_limit": SELECTION_LIMIT,
        "actions": Action.choices,
        "ticks": ticks,
    }


def _selection_full(selection: Selection) -> str:
    return (
        f"{selection.refused:,} devices were not added: a selection holds at most {SELECTION_LIMIT:,}. "
        "Act on all the devices matching a search instead."
    )
