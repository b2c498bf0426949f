from functools import partial

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from batches.drafts import CustomerNeeded, TooManyDevices, devices_rows_text, job_from_input, scan_check
from batches.forms import BatchForm, ConfirmForm, JobFilterForm, JobListForm, ScanForm
from batches.jobs import (
    BatchRefused,
    job_cancel,
    job_claim_back,
    job_confirm,
    job_discard,
    job_retry_claims,
    job_retry_failed,
)
from batches.models import BatchItem, BatchJob
from batches.parsing import GOOGLE_TEMPLATE, SIM_LOCK_TEMPLATE, TEMPLATES, FileRefused
from batches.results import results_csv
from batches.selectors import (
    describe_rows,
    failure_kinds,
    half_done_rows,
    job_customers,
    job_items_page,
    job_pasted_text,
    job_progress,
    job_users,
    jobs_page,
    retry_plan,
    sim_lock_rows,
    time_left,
)
from batches.uploads import UploadLimit
from core.htmx import HtmxHttpRequest
from core.roles import ALL_ROLES, CHANGE_ROLES, Role, has_any_role, role_required
from core.text import storable
from customers.selectors import customer_for_value, customer_get
from devices.forms import DeviceSearchForm
from devices.selection import selection_change, selection_of
from devices.selectors import DeviceFilters, device_search


@require_GET
@role_required(ALL_ROLES)
def batch_list(request: HtmxHttpRequest) -> HttpResponse:
    form = JobListForm(request.GET)
    valid = form.is_valid()
    user_name = ""
    if valid:
        user_name = request.user.get_username() if form.cleaned_data["mine"] else form.cleaned_data["user"]
    context = {
        "form": form,
        "page": jobs_page(
            user_name=user_name,
            customer_id=form.cleaned_data["customer"] if valid else None,
            file_name=form.cleaned_data["file"] if valid else "",
            state=form.cleaned_data["state"] if valid else "",
            before=form.cleaned_data["before"] if valid else None,
        ),
        "customer": customer_get(form.cleaned_data["customer"]) if valid else None,
        "users": (users := job_users()),
        "user_name": user_name,
        "user_label": dict(users).get(user_name, user_name),
        "can_change": has_any_role(request.user, CHANGE_ROLES),
    }
    return render(request, "batches/list.html", context, status=200 if valid else 400)


@csrf_exempt  # csrf_protect below checks the token, once the upload limit is in: the check reads the body
@require_http_methods(["GET", "POST"])
@role_required(CHANGE_ROLES)
def batch_new(request: HtmxHttpRequest) -> HttpResponse:
    upload_limit = UploadLimit(request, max_bytes=settings.ZT_BATCH_MAX_BYTES)
    request.upload_handlers.insert(0, upload_limit)  # before anything reads the body
    return _batch_new(request, upload_limit)


@csrf_protect
def _batch_new(request: HtmxHttpRequest, upload_limit: UploadLimit) -> HttpResponse:
    max_bytes = upload_limit.max_bytes
    if request.method == "POST":
        form = BatchForm(request.POST, upload_limit.files(request.FILES), max_bytes=max_bytes)
    else:
        preset, preset_problem = _preset(request)
        form = BatchForm(initial=preset, max_bytes=max_bytes)
    if request.method == "POST" and form.is_valid():
        try:
            job = job_from_input(actor=request.user, **_input(form))
        except CustomerNeeded as exc:
            form.add_error("customer", str(exc))
        except (FileRefused, TooManyDevices) as exc:
            field = {"file": "file", "paste": "pasted", "scan": "scanned"}[form.cleaned_data["mode"]]
            form.add_error(None if form.cleaned_data["search"] else field, str(exc))
        else:
            if form.cleaned_data["selection"]:
                selection_change(request.session, clear=True)  # sent: the ticks have done their work
            return redirect("batches:detail", job_id=job.pk)
    context = {
        "form": form,
        "customer": customer_for_value(form["customer"].value()),
        "from_customer": customer_for_value(form["from_customer"].value()),
        "max_rows": settings.ZT_BATCH_MAX_ROWS,
        "max_megabytes": max_bytes // 1_048_576,
        **_search_context(form["search"].value() or ""),
        "preset_problem": preset_problem if request.method == "GET" else "",
    }
    return render(request, "batches/new.html", context, status=400 if form.errors else 200)


def _search_filters(search: str) -> DeviceFilters | None:
    """The devices page's filters from its query string (None when it does not read as one)."""
    form = DeviceSearchForm(QueryDict(search))
    return form.filters() if form.is_valid() else None


def _search_context(search: str) -> dict:
    """What the form says about "all the devices matching this search": what the search is, and how
    many devices match it now."""
    filters = _search_filters(search) if search else None
    if filters is None:
        return {"search_count": None}
    page = device_search(filters, page_size=1)
    return {"search_count": page.count, "search_capped": page.count_capped, "search_summary": _said(filters)}


def _said(filters: DeviceFilters) -> str:
    """A devices-page search in words: "“SO-2024”, customer Acme Ltd, claimed"."""
    customer = customer_get(filters.customer_id) if filters.customer_id is not None else None
    parts = [
        f"“{filters.text.strip()}”" if filters.text.strip() else "",
        f"order {filters.order_number}" if filters.order_number else "",
        f"customer {customer.name if customer else filters.customer_id}" if filters.customer_id else "",
        f"manufacturer {filters.manufacturer}" if filters.manufacturer else "",
        f"model {filters.model}" if filters.model else "",
        {True: "claimed", False: "unclaimed", None: ""}[filters.claimed],
        {True: "vendors' customers", False: "own customers", None: ""}[filters.vendor_devices],
    ]
    return ", ".join(part for part in parts if part) or "every device"


def _preset(request: HtmxHttpRequest) -> tuple[dict, str]:
    """What a new job starts from, and why part of it could not be used (in words, or empty): a
    customer's page (``?customer=``), an action (``?action=``), an order's devices (``?order=``) or
    the devices ticked on the devices page (``?selection=1``), both as pasted lines, every device a
    devices-page search finds (``?search=``: read again when the form is sent), or a job just
    discarded (``?from=``): its action, customer and pasted text come back to the form."""
    initial = _from_discarded(request)
    if initial:
        return initial, ""
    if request.GET.get("action") in BatchJob.Action.values:
        initial["action"] = request.GET["action"]
    customer = request.GET.get("customer", "")
    if customer.isascii() and customer.isdigit() and len(customer) < 19:
        initial["customer"] = int(customer)
    search = request.GET.get("search", "")
    if search:
        if len(search) > 2_000 or _search_filters(search) is None:
            return initial, "This search link is not valid: search again on the devices page."
        initial["search"] = search
        return initial, ""
    order = request.GET.get("order", "").strip()
    if order and len(order) <= 128 and storable(order):
        filters = DeviceFilters(order_number=order)
    elif request.GET.get("selection"):
        ticked = selection_of(request.session).ids
        if not ticked:
            return initial, "No device is ticked on the devices page any more: tick them again or paste them."
        filters, initial["selection"] = DeviceFilters(device_ids=ticked), True
    else:
        return initial, ""
    initial["mode"] = BatchForm.Mode.PASTE
    try:
        initial["pasted"] = devices_rows_text(filters, limit=settings.ZT_BATCH_MAX_ROWS)
    except TooManyDevices as exc:
        return initial, str(exc)
    return initial, ""


def _from_discarded(request: HtmxHttpRequest) -> dict:
    given = request.GET.get("from", "")
    if not (given.isascii() and given.isdigit() and len(given) < 19):
        return {}
    job = BatchJob.objects.filter(pk=int(given), state=BatchJob.State.DISCARDED).first()
    if job is None or (
        job.created_by_id != request.user.pk and not has_any_role(request.user, {Role.ADMINS})
    ):
        return {}
    text = job_pasted_text(job)
    return {
        "action": job.action,
        "customer": job.customer_id,
        "from_customer": job.from_customer_id,
        "any_owner": job.any_owner,
        "vacation_mode_days": job.vacation_mode_days,
        "mode": BatchForm.Mode.PASTE if text else BatchForm.Mode.FILE,
        "pasted": text,
    }


def _input(form: BatchForm) -> dict:
    data = form.cleaned_data
    customer = customer_get(data["customer"] or None)
    upload = data.get("file")
    return {
        "action": data["action"],
        "mode": data["mode"],
        "customer": customer,
        "from_customer": customer_get(data["from_customer"] or None),
        "any_owner": data["any_owner"],
        "vacation_mode_days": data["vacation_mode_days"],
        "vacation_mode_until": form.vacation_mode_end,
        "upload": upload.file if upload is not None and data["mode"] == BatchForm.Mode.FILE else None,
        "upload_name": upload.name if upload is not None else "",
        "text": _search_text(data["search"])
        if data["search"]
        else data["pasted"]
        if data["mode"] == BatchForm.Mode.PASTE
        else data["scanned"],
    }


def _search_text(search: str) -> str:
    """The devices a search finds now, as pasted lines (``FileRefused`` or ``TooManyDevices`` in words
    when it cannot be a batch)."""
    filters = _search_filters(search)
    if filters is None:
        raise FileRefused("This search link is not valid: search again on the devices page.")
    text = devices_rows_text(filters, limit=settings.ZT_BATCH_MAX_ROWS)
    if text.count("\n") < 2:  # the header line only
        raise FileRefused("This search finds no device now: search again on the devices page.")
    return text


@require_POST
@role_required(CHANGE_ROLES)
def batch_scan(request: HtmxHttpRequest) -> HttpResponse:
    """Check one scanned code (a serial number with its manufacturer and model) at once: a row for the
    scan list, with its status."""
    form = ScanForm(request.POST)
    if not form.is_valid():
        problems = " ".join(error for errors in form.errors.values() for error in errors)
        given = {name: request.POST.get(name, "")[:128] for name in ("code", "manufacturer", "model")}
        return render(request, "batches/_scan_row.html", {**given, "problem": problems})
    data = form.cleaned_data
    check = scan_check(
        code=data["code"],
        manufacturer=data["manufacturer"],
        model=data["model"],
        action=data["action"],
        customer=customer_get(data["customer"] or None),
        any_owner=data["any_owner"],
        from_customer=customer_get(data["from_customer"] or None),
    )
    kept = {"manufacturer": check.manufacturer, "model": check.model}  # a serial number's only
    return render(request, "batches/_scan_row.html", {"code": data["code"], "check": check, **kept})


def _job_or_404(job_id: int) -> BatchJob:
    return get_object_or_404(
        BatchJob.objects.select_related("customer", "from_customer", "retry_of"), pk=job_id
    )


@require_GET
@role_required(ALL_ROLES)
def batch_detail(request: HtmxHttpRequest, job_id: int) -> HttpResponse:
    job = _job_or_404(job_id)
    if job.state == BatchJob.State.DISCARDED:
        raise Http404("This job was discarded before it was sent.")
    target = request.htmx.target if request.htmx else None
    if target == "progress" and job.finished and request.GET.get("was") == "running":
        return HttpResponseClientRefresh()  # the results are in: show the finished page
    filters = JobFilterForm(request.GET)
    valid = filters.is_valid()
    state = filters.cleaned_data.get("state", "") if valid else ""
    if job.state == BatchJob.State.DRAFT and "state" not in request.GET:
        state = BatchItem.State.INVALID if job.invalid else ""
    page = job_items_page(
        job,
        state=state,
        kind=filters.cleaned_data.get("kind", "") if valid else "",
        after=filters.cleaned_data.get("after") if valid else None,
    )
    context = {
        "job": job,
        "filters": filters,
        "state": state,
        "kind": filters.cleaned_data.get("kind", "") if valid else "",
        "page": page,
        "rows": describe_rows(job, page.rows),
        "customers": job_customers(job) if target is None else [],  # the full page only
        "sim_lock_rows": sim_lock_rows(job) if target is None else 0,
        "progress": job_progress(job),
        "retry": retry_plan(job) if job.finished and job.failed else None,
        "half_done": half_done_rows(job),
        "kinds": failure_kinds(job) if job.failed else [],
        "time_left": time_left(job),
        "took": job.finished_at - job.submitted_at if job.finished_at and job.submitted_at else None,
        "can_change": has_any_role(request.user, CHANGE_ROLES),
    }
    if target in ("progress", "rows"):
        return render(request, f"batches/job.html#{target}", context)
    return render(request, "batches/job.html", context, status=200 if valid else 400)


def _act(request: HtmxHttpRequest, job_id: int, action, done: str) -> HttpResponse:
    job = _job_or_404(job_id)
    try:
        result = action(job=job, actor=request.user)
    except BatchRefused as exc:
        messages.error(request, str(exc))
        return redirect("batches:detail", job_id=job.pk)
    if isinstance(result, BatchJob) and result.pk != job.pk:
        messages.success(request, done)
        return redirect("batches:detail", job_id=result.pk)
    messages.success(request, done)
    return redirect("batches:detail", job_id=job.pk)


@require_POST
@role_required(CHANGE_ROLES)
def batch_confirm(request: HtmxHttpRequest, job_id: int) -> HttpResponse:
    form = ConfirmForm(request.POST)
    email = form.is_valid() and form.cleaned_data["email_when_done"]
    done = "Sent to zero-touch. Progress shows below as results come in; when the job ends, a notice says so "
    done += "on whatever page you are on" + (", and you get an email." if email else ".")
    return _act(request, job_id, partial(job_confirm, email_when_done=email), done)


@require_POST
@role_required(CHANGE_ROLES)
def batch_discard(request: HtmxHttpRequest, job_id: int) -> HttpResponse:
    job = _job_or_404(job_id)
    try:
        job_discard(job=job, actor=request.user)
    except BatchRefused as exc:
        messages.error(request, str(exc))
        return redirect("batches:detail", job_id=job.pk)
    if job.source in (BatchJob.Source.PASTE, BatchJob.Source.SCAN):
        messages.info(request, "Discarded: nothing was sent. Your lines are back in the form to change.")
    else:
        messages.info(request, "Discarded: nothing was sent. Choose the corrected file to check it again.")
    return redirect(f"{reverse('batches:new')}?from={job.pk}")


@require_POST
@role_required(CHANGE_ROLES)
def batch_cancel(request: HtmxHttpRequest, job_id: int) -> HttpResponse:
    job = _job_or_404(job_id)
    try:
        cancellation = job_cancel(job=job, actor=request.user)
    except BatchRefused as exc:
        messages.error(request, str(exc))
    else:
        (messages.success if cancellation.cancelled else messages.info)(request, cancellation.sentence)
    return redirect("batches:detail", job_id=job.pk)


@require_POST
@role_required(CHANGE_ROLES)
def batch_retry(request: HtmxHttpRequest, job_id: int) -> HttpResponse:
    left_out = retry_plan(_job_or_404(job_id)).left_out_sentence
    return _act(
        request,
        job_id,
        job_retry_failed,
        " ".join(
            [
                "A new job with the failed rows a retry can change, checked again: confirm to send it.",
                left_out,
            ]
        ).strip(),
    )


@require_POST
@role_required(CHANGE_ROLES)
def batch_claim_back(request: HtmxHttpRequest, job_id: int) -> HttpResponse:
    """A move's half-done devices, claimed back for the customers they left: a new job, checked."""
    done = "A new job claiming the half-done devices back for their customers, checked: confirm to send it."
    return _act(request, job_id, job_claim_back, done)


@require_POST
@role_required(CHANGE_ROLES)
def batch_retry_claims(request: HtmxHttpRequest, job_id: int) -> HttpResponse:
    """A move's half-done devices, claimed again for the customer they were moving to: a new job."""
    done = "A new job trying the half-done devices' claims again, checked: confirm to send it."
    return _act(request, job_id, job_retry_claims, done)


@require_GET
@role_required(ALL_ROLES)
def batch_results(request: HtmxHttpRequest, job_id: int) -> StreamingHttpResponse:
    """The job's rows with their outcome as CSV (``?rows=errors`` for the rows to fix and upload again)."""
    job = _job_or_404(job_id)
    if job.state == BatchJob.State.DISCARDED:
        raise Http404("This job was discarded before it was sent.")
    which = request.GET.get("rows", "")
    states = {"errors": [BatchItem.State.INVALID], "failed": [BatchItem.State.FAILED]}.get(which)
    name = f"batch-{job.pk}-{which if states else 'results'}.csv"
    response = StreamingHttpResponse(results_csv(job, states=states), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_GET
@role_required(ALL_ROLES)
def batch_template(request: HtmxHttpRequest, name: str) -> HttpResponse:
    """A CSV template to fill in: one per action, Google's portal format for claims, and one of
    claims or unclaims in SIM lock."""
    text = {"google": GOOGLE_TEMPLATE["claim"], "sim-lock": SIM_LOCK_TEMPLATE}.get(name) or TEMPLATES.get(
        name
    )
    if text is None:
        raise Http404("No such template.")
    response = HttpResponse("\ufeff" + text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="zero-touch-{name}-template.csv"'
    return response
