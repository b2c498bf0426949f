from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings

from bench.demo import demo_history
from core.api import reset_zerotouch_client
from core.roles import Role, ensure_role_groups
from devices.sync import sync_full

DEMO_PASSWORD = "demo"  # noqa: S105 - the documented demo login, created only with DEBUG on
DEMO_USERS = [
    ("sales", Role.SALES, "Sam", "Seller"),
    ("manager", Role.MANAGERS, "Morgan", "Manager"),
    ("admin", Role.ADMINS, "Alex", "Admin"),
]


class Command(BaseCommand):
    help = (
        "Create the demo users sales, manager and admin (password 'demo') in an empty development database; "
        "with --emulator-state, also fill the cache from that emulator state and invent a year of history."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--emulator-state",
            type=Path,
            help="The emulator's demo state file: synced once, then a year of demo history is written.",
        )

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("Demo users are only created in development (DEBUG=1), never in production.")
        user_model = get_user_model()
        if user_model.objects.exists():
            self.stdout.write("Users exist already; demo users left as they are.")
            return
        ensure_role_groups()
        for username, role, first, last in DEMO_USERS:
            user = user_model.objects.create_user(
                username=username,
                password=DEMO_PASSWORD,
                first_name=first,
                last_name=last,
                email=f"{username}@reseller.example",
                is_staff=role is Role.ADMINS,
                is_superuser=role is Role.ADMINS,
            )
            user.groups.add(Group.objects.get(name=role.value))
        self.stdout.write(self.style.SUCCESS("Demo users created: sales, manager, admin (password: demo)."))
        state = options["emulator_state"]
        if state is not None:
            if not state.exists():
                raise CommandError(f"No emulator state at {state}: run `python -m emulator seed` first.")
            self._history(
                state, people=[user_model.objects.get(username=name) for name in ("sales", "admin")]
            )

    def _history(self, state: Path, *, people: list) -> None:
        """The cache from the demo state (an emulator of its own, stopped afterwards), then the history."""
        # Imported here: the emulator is a development tool, never loaded by the running portal.
        from emulator.testing import EmulatorProcess

        with (
            EmulatorProcess(partner_id=int(settings.ZT_PARTNER_ID), state_path=state) as emulator,
            override_settings(ZT_API_URL=emulator.url, ZT_CREDENTIALS_FILE=""),
        ):
            reset_zerotouch_client()
            try:
                run = sync_full(trigger="demo")
            finally:
                reset_zerotouch_client()
        events = demo_history(people=people)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo cache: {run.devices_fetched:,} devices; demo history: {events:,} events."
            )
        )
