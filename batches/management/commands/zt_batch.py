"""Run a batch from the command line, through the same checks and the same workers as the pages.

    python manage.py zt_batch claim devices.csv --customer 1234 --user sam --yes --wait --json
    python manage.py zt_batch move devices.csv --customer 1234 --from 5678 --yes --wait

Without --yes it only prints the pre-flight (the job stays checked, to be sent from its page). A file's
``sectiontype`` and ``simlockprofileid`` columns make its claims and unclaims act in SIM lock, as on
the pages.
Exit status: 0 once the job is sent (and, with --wait, has ended, whatever its rows' outcomes);
1 when the file is refused, nothing is ready to send, or --wait gives up.

Whatever it prints from a file (cells, the file's name, a refusal quoting them) goes through
``printable``: an escape sequence in a cell must not retitle, clear or recolour the operator's terminal.
"""

import json
import sys
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from batches.drafts import job_from_input
from batches.jobs import BatchRefused, job_confirm
from batches.models import BatchItem, BatchJob
from batches.parsing import FileRefused, printable
from batches.selectors import job_customers, sim_lock_rows
from customers.models import Customer


class Command(BaseCommand):
    help = (
        "Check a CSV file of devices and (with --yes) claim, unclaim, move to another customer or set "
        "their metadata in zero-touch."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=BatchJob.Action.values)
        parser.add_argument(
            "file", type=Path, help="A CSV file: Google's reseller format or the portal's own."
        )
        parser.add_argument(
            "--customer",
            type=int,
            help="Claim: the customer to claim for. Unclaim: the customer to unclaim from; without it, "
            "each device is unclaimed from whichever customer holds it. Move: the customer the devices "
            "go to. Not needed when rows name one.",
        )
        parser.add_argument(
            "--from",
            dest="from_customer",
            type=int,
            help="Move: move only devices this customer holds (others are refused); without it, each "
            "device moves from whichever customer holds it.",
        )
        parser.add_argument("--user", help="The portal user the job is recorded for.")
        parser.add_argument("--yes", action="store_true", help="Send the ready rows (otherwise only check).")
        parser.add_argument("--wait", action="store_true", help="Wait until the job has ended.")
        parser.add_argument("--timeout", type=float, default=3600.0, help="How long --wait waits (seconds).")
        parser.add_argument("--json", action="store_true", help="Print one JSON object, nothing else.")

    def handle(self, *args, **options) -> None:
        actor = self._user(options["user"])
        customer = self._customer(options["customer"])
        if options["from_customer"] is not None and options["action"] != BatchJob.Action.MOVE:
            raise CommandError("--from is for moves only.")
        from_customer = self._customer(options["from_customer"])
        path: Path = options["file"]
        if not path.is_file():
            raise _refusal(f"No file at {path}.")
        try:
            with path.open("rb") as stream:
                job = job_from_input(
                    action=options["action"],
                    mode="file",
                    customer=customer,
                    any_owner=options["action"] == BatchJob.Action.UNCLAIM and customer is None,
                    from_customer=from_customer,
                    actor=actor,
                    upload=stream,
                    upload_name=path.name,
                )
        except FileRefused as exc:
            raise _refusal(f"{path.name}: {exc}") from exc
        if not options["json"]:
            self._print_preflight(job)
        if not options["yes"]:
            self._finish(job, options, sent=False)
            return
        try:
            job = job_confirm(job=job, actor=actor)
        except BatchRefused as exc:
            self._finish(job, options, sent=False)
            raise _refusal(str(exc)) from exc
        if not options["json"]:
            self._say(f"Sent: batch {job.pk}.")
        if options["wait"]:
            job = self._wait(job, options)
        self._finish(job, options, sent=True)

    def _customer(self, company_id: int | None) -> Customer | None:
        if company_id is None:
            return None
        customer = Customer.objects.filter(pk=company_id).first()
        if customer is None:
            raise CommandError(f"No customer {company_id} in the portal's cache (has it synced?).")
        return customer

    def _user(self, username: str | None):
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise _refusal(f"No portal user named {username!r}.")
        return user

    def _say(self, line: str) -> None:
        """One line to the operator's terminal, its control characters made visible."""
        self.stdout.write(printable(line))

    def _print_preflight(self, job: BatchJob) -> None:
        self._say(
            f"Batch {job.pk} ({job.get_action_display().lower()}): {job.rows} rows, {job.ready} ready, "
            f"{job.invalid} with errors, {job.skipped} with nothing to do."
        )
        if in_sim_lock := sim_lock_rows(job):
            self._say(f"  In SIM lock: {in_sim_lock} of the rows to send (the others in zero-touch).")
        if job.any_owner:
            self._say("  Unclaimed from whichever customer holds each device:")
        if job.action == BatchJob.Action.MOVE:
            source = job.from_customer
            held = f"{source.name} ({source.pk}) only" if source else "whichever customer holds each device"
            self._say(f"  Moved from {held}:")
        for customer in job_customers(job):
            held = {BatchJob.Action.CLAIM: "for", BatchJob.Action.MOVE: "to"}.get(job.action, "held by")
            self._say(f"  {job.action} {customer.rows} {held} {customer.name} ({customer.company_id})")
        for item in job.items.filter(state=BatchItem.State.INVALID).order_by("row_number").iterator():
            self._say(f"  row {item.row_number} {item.label}: {item.message}")

    def _wait(self, job: BatchJob, options: dict) -> BatchJob:
        deadline = time.monotonic() + options["timeout"]
        last = None
        while not job.finished:
            if time.monotonic() > deadline:
                self._finish(job, options, sent=True)
                raise CommandError(
                    f"Batch {job.pk} has not ended after {options['timeout']:.0f} s; it goes on."
                )
            time.sleep(1.0)
            job.refresh_from_db()
            if not options["json"] and job.percent_done != last:
                last = job.percent_done
                self._say(f"  {last}% ({job.succeeded} done, {job.failed} failed, {job.pending} waiting)")
        return job

    def _finish(self, job: BatchJob, options: dict, *, sent: bool) -> None:
        job.refresh_from_db()
        summary = {
            "job": job.pk,
            "state": job.state,
            "rows": job.rows,
            "ready": job.ready,
            "invalid": job.invalid,
            "succeeded": job.succeeded,
            "failed": job.failed,
            "skipped": job.skipped,
        }
        if options["json"]:
            self.stdout.write(json.dumps(summary))  # no text of the file; json escapes controls (\u001b)
        elif job.finished:
            state = job.get_state_display().lower()
            self._say(f"Batch {job.pk} {state}: {job.succeeded} done, {job.failed} failed.")
            if job.half_done:
                self._say(
                    f"  {job.half_done} of the failed are half done: unclaimed, their claim failed. Claim "
                    f"them back or retry the claim from the job's page (batch {job.pk})."
                )
        elif not sent:
            self._say("Checked only: nothing was sent (add --yes to send the ready rows).")
        sys.stdout.flush()


def _refusal(message: str) -> CommandError:
    """The command's refusal, printed on stderr: it may name the file or quote its cells."""
    return CommandError(printable(message))
