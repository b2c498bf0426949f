from django.conf import settings

from core.roles import primary_role
from portal.navigation import sections_for


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    match = getattr(request, "resolver_match", None)
    return {
        "nav_sections": sections_for(user),
        "nav_active": match.namespace if match else "",
        "user_role": primary_role(user),
        "reseller_name": settings.PORTAL_RESELLER_NAME,
    }
