from django.core.management.base import BaseCommand

from bench.reports import bench_reports


class Command(BaseCommand):
    help = "Benchmark the report sections on a million devices' worth of history (a scratch database)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--devices", type=int, default=1_000_000)
        parser.add_argument("--events", type=int, default=3_000_000)
        parser.add_argument("--customers", type=int, default=300)
        parser.add_argument("--repeat", type=int, default=30, help="timed calls per section and filter")
        parser.add_argument("--seed", type=int, default=14)
        parser.add_argument("--rebuild", action="store_true", help="recount the rollups of a reused history")

    def handle(
        self, *args, devices: int, events: int, customers: int, repeat: int, seed: int, **options
    ) -> None:
        bench_reports(
            self.stdout,
            devices=devices,
            events=events,
            customers=customers,
            repeat=repeat,
            seed=seed,
            rebuild=options["rebuild"],
        )
