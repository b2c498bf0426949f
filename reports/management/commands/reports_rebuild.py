import time

from django.core.management.base import BaseCommand

from reports.rollups import rollups_rebuild


class Command(BaseCommand):
    help = "Recount the reports' daily rollups and orders from the whole device history."

    def handle(self, *args, **options) -> None:
        started = time.perf_counter()
        counts = rollups_rebuild()
        took = time.perf_counter() - started
        self.stdout.write(
            f"Rebuilt in {took:.1f} s: {counts.activity_rows:,} daily rows, "
            f"{counts.model_rows:,} rows by model, "
            f"{counts.orders:,} orders with {counts.order_lines:,} devices."
        )
