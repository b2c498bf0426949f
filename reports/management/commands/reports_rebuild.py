import time

from django.core.management.base import BaseCommand

from devices.history import events_fill_models
from reports.rollups import rollups_rebuild


class Command(BaseCommand):
    help = "Recount the reports' daily rollups and orders from the whole device history."

    def handle(self, *args, **options) -> None:
        started = time.perf_counter()
        filled = 0
        while done := events_fill_models():
            filled += done
        if filled:
            self.stdout.write(f"{filled:,} events took their device's make and model from the cache.")
        counts = rollups_rebuild()
        took = time.perf_counter() - started
        self.stdout.write(
            f"Rebuilt in {took:.1f} s: {counts.activity_rows:,} daily rows, "
            f"{counts.model_rows:,} rows by model, "
            f"{counts.orders:,} orders with {counts.order_lines:,} devices."
        )
