from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from portal.roles import Role, ensure_role_groups

DEMO_PASSWORD = "demo"  # noqa: S105 - the documented demo login, created only with DEBUG on
DEMO_USERS = [
    ("sales", Role.SALES, "Sam", "Seller"),
    ("manager", Role.MANAGERS, "Morgan", "Manager"),
    ("admin", Role.ADMINS, "Alex", "Admin"),
]


class Command(BaseCommand):
    help = (
        "Create the demo users sales, manager and admin (password 'demo') in an empty development database."
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
