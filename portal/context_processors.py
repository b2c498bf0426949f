from portal.navigation import sections_for
from portal.roles import primary_role


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    match = getattr(request, "resolver_match", None)
    return {
        "nav_sections": sections_for(user),
        "nav_active": match.namespace if match else "",
        "user_role": primary_role(user),
    }
