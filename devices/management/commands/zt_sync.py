from django.core.management.base import BaseCommand, CommandError

from devices.sync import SyncAlreadyRunning, sync_full


class Command(BaseCommand):
    help = "Run a full sync of customers, vendors and devices from the zero-touch API and print its counts."

    def handle(self, *args, **options) -> None:
        try:
            run = sync_full(trigger="command")
        except SyncAlreadyRunning as exc:
            raise CommandError(str(exc)) from exc
        seconds = (run.finished_at - run.started_at).total_seconds()
        self.stdout.write(
            f"Sync {run.get_status_display().lower()} in {seconds:.1f} s: "
            f"{run.customers_fetched} customers, {run.devices_fetched} devices fetched, "
            f"{run.devices_created} created, {run.devices_updated} updated, {run.devices_drifted} drifted."
        )
        for error in run.errors:
            self.stderr.write(f"  error: {error}")
        if run.status == run.Status.FAILED:
            raise CommandError("The sync failed.")
