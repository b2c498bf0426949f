"""The main navigation: which sections exist, where they live and which roles see them.

Views gate themselves with the same role sets (core.roles), so a link is shown exactly when the
page behind it answers 200.
"""

from dataclasses import dataclass

from django.urls import reverse

from core.roles import ALL_ROLES, REPORT_ROLES, Role, user_roles


@dataclass(frozen=True)
class Section:
    label: str
    url_name: str
    namespace: str
    roles: frozenset[Role]


SECTIONS = [
    Section("Devices", "devices:list", "devices", ALL_ROLES),
    Section("Customers", "customers:list", "customers", ALL_ROLES),
    Section("Batches", "batches:list", "batches", ALL_ROLES),  # managers read jobs; sales and admins run them
    Section("Orders", "orders:list", "orders", ALL_ROLES),
    Section("Reports", "reports:index", "reports", REPORT_ROLES),
    Section("Admin", "admin:index", "admin", frozenset({Role.ADMINS})),
]


def sections_for(user) -> list[dict]:
    roles = user_roles(user)
    return [
        {"label": s.label, "url": reverse(s.url_name), "namespace": s.namespace}
        for s in SECTIONS
        if roles & s.roles
    ]
