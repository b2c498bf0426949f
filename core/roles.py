"""The three roles of the portal and what each may do.

A role is a Django auth group. Pages are gated by role (``role_required``); model permissions are
granted to the groups as well, so Django admin and ``user.has_perm`` agree with the pages. A role is
found by its group's name, here and in admin's role field, so admin keeps the three groups' names
fixed (``core.admin.AuditedGroupAdmin``).
"""

from collections.abc import Callable, Iterable
from enum import StrEnum
from functools import wraps

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group, Permission
from django.core.exceptions import PermissionDenied


class Role(StrEnum):
    SALES = "Sales"
    MANAGERS = "Managers"
    ADMINS = "Admins"


ALL_ROLES = frozenset(Role)
CHANGE_ROLES = frozenset({Role.SALES, Role.ADMINS})  # may change devices, customers and batches
REPORT_ROLES = frozenset({Role.MANAGERS, Role.ADMINS})

# Model permissions per role, as "app_label.codename". Permissions of models that do not exist yet
# are skipped and granted by the migrate that creates them.
_VIEW_ALL = [
    "customers.view_customer",
    "customers.view_vendor",
    "devices.view_device",
    "devices.view_deviceevent",
    "batches.view_batchjob",
    "batches.view_batchitem",
    "devices.view_syncrun",
]
ROLE_PERMISSIONS: dict[Role, list[str]] = {
    Role.SALES: [
        *_VIEW_ALL,
        "customers.add_customer",
        "customers.change_customer",
        "devices.change_device",
        "batches.add_batchjob",
        "batches.change_batchjob",
    ],
    Role.MANAGERS: [*_VIEW_ALL, "portal.view_auditevent"],
    Role.ADMINS: [],  # every permission; see grant_role_permissions
}


def ensure_role_groups() -> None:
    for role in Role:
        Group.objects.get_or_create(name=role.value)


def grant_role_permissions(**kwargs) -> None:
    """Create the role groups and give each the permissions of ROLE_PERMISSIONS that exist."""
    ensure_role_groups()
    permissions = {
        f"{p.content_type.app_label}.{p.codename}": p
        for p in Permission.objects.select_related("content_type")
    }
    for role, names in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role.value)
        if role is Role.ADMINS:
            group.permissions.set(permissions.values())
        else:
            group.permissions.set([permissions[name] for name in names if name in permissions])


def user_roles(user: AbstractBaseUser | AnonymousUser) -> frozenset[Role]:
    """The roles of a user; a superuser counts as an admin. Cached on the user object per request."""
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_portal_roles", None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        cached = frozenset(role for role in Role if role.value in names)
        if user.is_superuser:
            cached |= {Role.ADMINS}
        user._portal_roles = cached
    return cached


def primary_role(user: AbstractBaseUser | AnonymousUser) -> Role | None:
    """The role shown next to the user's name: the most powerful one they hold."""
    roles = user_roles(user)
    for role in (Role.ADMINS, Role.MANAGERS, Role.SALES):
        if role in roles:
            return role
    return None


def has_any_role(user: AbstractBaseUser | AnonymousUser, roles: Iterable[Role]) -> bool:
    return bool(user_roles(user) & frozenset(roles))


def role_required(roles: Iterable[Role]) -> Callable:
    """Answer 403 unless the signed-in user holds one of ``roles`` (login itself is enforced globally)."""
    allowed = frozenset(roles)

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not has_any_role(request.user, allowed):
                raise PermissionDenied("Your role does not give access to this page.")
            return view(request, *args, **kwargs)

        wrapper.allowed_roles = allowed
        return wrapper

    return decorator


def person_name(user) -> str:
    """A person as the portal names people everywhere: their full name, else their user name ('' for
    no one)."""
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()
