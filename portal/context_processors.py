from django.conf import settings

from core.roles import primary_role
from portal.navigation import sections_for
from portal.notices import LayoutNotices


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"reseller_name": settings.PORTAL_RESELLER_NAME}  # the sign-in page names the company
    match = getattr(request, "resolver_match", None)
    return {
        "nav_sections": sections_for(user),
        "nav_active": match.namespace if match else "",
        "user_role": primary_role(user),
        "reseller_name": settings.PORTAL_RESELLER_NAME,
    }


def notices(request) -> dict:
    """The signed-in person's notices, read only if the template shows them (the layout does; an htmx
    fragment does not). Nothing at all for anyone not signed in."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"layout_notices": LayoutNotices(user_id=user.pk, path=request.path)}
